// Tree jobs against real servers (ftpkit, pyftpdlib, vsftpd): get -r / put -r, globs, sync both
// ways with --delete and --dry-run. Every file ends verified (or, without HASH, size-checked).
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, removeDir, runFtpkit, startFtpkitServer, startPyftpd, tempDir } from "../helpers/peers.ts";
import { chownTo, startVsftpd, vsftpdAvailable } from "../helpers/system-ftpd.ts";
import { makeTree, snapshot } from "../helpers/trees.ts";

setDefaultTimeout(120_000);

interface Server {
  name: string;
  /** Where URL paths relative to the login directory land on disk. */
  home: string;
  url(path: string): string;
  /** Files the test writes straight into the server's tree must belong to the server's user. */
  own(path: string): void;
  stop(): Promise<void>;
}

const servers: { name: string; available?: () => boolean; start(): Promise<Server> }[] = [
  {
    name: "ftpkit",
    async start() {
      const p = await startFtpkitServer();
      return { name: "ftpkit", home: p.home, url: (x) => p.url(x), own() {}, stop: () => p.stop() };
    },
  },
  {
    name: "pyftpdlib",
    async start() {
      const p = await startPyftpd();
      return { name: "pyftpdlib", home: p.root, url: (x) => p.url(x), own() {}, stop: async () => (await p.stop(), removeDir(p.root)) };
    },
  },
  {
    name: "vsftpd",
    available: vsftpdAvailable,
    async start() {
      const p = await startVsftpd();
      return { name: "vsftpd", home: p.home, url: (x) => p.url(x), own: (path) => chownTo(path, p.user), stop: () => p.stop() };
    },
  },
];

for (const kind of servers) {
  describe.skipIf(kind.available?.() === false)(`tree jobs against ${kind.name}`, () => {
    let s: Server;
    let work: string;
    beforeAll(async () => {
      s = await kind.start();
      work = tempDir(`ftpkit-tree-${kind.name}-`);
    });
    afterAll(async () => {
      await s.stop();
      removeDir(work);
    });

    test("sync --delete up removes a remote link to a directory the source lacks, the link itself: nothing in the directory it names", async () => {
      mkdirSync(join(s.home, "lnk", "dest"), { recursive: true });
      mkdirSync(join(s.home, "lnk", "important"));
      writeFileSync(join(s.home, "lnk", "important", "precious.txt"), "keep\n");
      symlinkSync("../important", join(s.home, "lnk", "dest", "ln"));
      s.own(join(s.home, "lnk"));
      const src = join(work, "lnk-src");
      mkdirSync(src);
      writeFileSync(join(src, "a.txt"), "a\n");
      const r = await runFtpkit(["sync", "--delete", src, s.url("/lnk/dest")], { cwd: work });
      // Before, from pyftpdlib (whose MLSD lists the link as the directory it names): precious.txt deleted.
      expect(readFileSync(join(s.home, "lnk", "important", "precious.txt"), "utf8")).toBe("keep\n");
      expect(r.code).toBe(0);
      expect(lstatSync(join(s.home, "lnk", "dest", "ln"), { throwIfNoEntry: false })).toBeUndefined();
      expect(readFileSync(join(s.home, "lnk", "dest", "a.txt"), "utf8")).toBe("a\n");
    });

    test("put -r then get -r round-trip nested and empty directories, UTF-8 and space names", async () => {
      const src = join(work, "src");
      makeTree(src);
      const up = await runFtpkit(["put", "-r", src, s.url("/t1")], { cwd: work });
      expect(up.stderr).toMatch(/put -r \S*t1: 6 files/);
      expect(up.code).toBe(0);
      expect(snapshot(join(s.home, "t1"))).toEqual(snapshot(src));
      const down = await runFtpkit(["get", "-r", s.url("/t1"), "back", "--json"], { cwd: work });
      expect(down.code).toBe(0);
      expect(snapshot(join(work, "back"))).toEqual(snapshot(src));
      const report = JSON.parse(down.stdout) as { copied: number; failed: number; files: { path: string; result: string; digest?: string }[] };
      expect(report).toMatchObject({ copied: 6, failed: 0 });
      const top = report.files.find((f) => f.path === "top.bin")!;
      // ftpkit answers HASH; the others are checked by size, and no digest is computed for them.
      expect(top.digest).toBe(kind.name === "ftpkit" ? `sha256:${digest(readFileSync(join(src, "top.bin")))}` : undefined);
      expect(top.result).toBe(kind.name === "ftpkit" ? "verified by HASH" : "size verified only");
    });

    test("put -r and get -r keep executables executable (SITE CHMOD up, the listing's mode down); other files get the default mode", async () => {
      const src = join(work, "modes");
      mkdirSync(join(src, "bin"), { recursive: true });
      writeFileSync(join(src, "bin", "run.sh"), "#!/bin/sh\necho hi\n");
      chmodSync(join(src, "bin", "run.sh"), 0o750);
      writeFileSync(join(src, "notes.txt"), "notes");
      chmodSync(join(src, "notes.txt"), 0o640);
      const up = await runFtpkit(["put", "-r", src, s.url("/modes")], { cwd: work });
      expect(up.code).toBe(0);
      expect(up.stderr).not.toContain("SITE CHMOD");
      expect(statSync(join(s.home, "modes", "bin", "run.sh")).mode & 0o777).toBe(0o750);
      // Not executable: left as the server creates files (nothing is sent for it).
      expect(statSync(join(s.home, "modes", "notes.txt")).mode & 0o111).toBe(0);
      const down = await runFtpkit(["get", "-r", s.url("/modes"), "modes-back"], { cwd: work });
      expect(down.code).toBe(0);
      const umask = process.umask();
      // The execute bits come from the source; read and write follow the umask, as for any new file.
      expect(statSync(join(work, "modes-back", "bin", "run.sh")).mode & 0o777).toBe((0o666 | 0o110) & ~umask);
      expect(statSync(join(work, "modes-back", "notes.txt")).mode & 0o777).toBe(0o666 & ~umask);
    });

    test("files of falling sizes on one connection arrive byte for byte, both ways (buffers reused from file to file)", async () => {
      const src = join(work, "falling");
      mkdirSync(src, { recursive: true });
      const random = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n)));
      const big = Buffer.concat([random(65_536), random(65_536)]);
      // Bigger than one 1 MiB read, then smaller ones: a reused buffer must never lend its old tail.
      const sizes = [3 * 1024 * 1024 + 7, 300_000, 10, 0, 1024 * 1024 + 1, 1];
      sizes.forEach((n, i) => writeFileSync(join(src, `${i}.bin`), n <= big.length ? big.subarray(0, n) : Buffer.concat(Array.from({ length: Math.ceil(n / big.length) }, () => random(big.length))).subarray(0, n)));
      const up = await runFtpkit(["put", "-r", src, s.url("/falling"), "--parallel", "1"], { cwd: work });
      expect(up.stderr).toMatch(/6 copied .* 0 failed/);
      expect(up.code).toBe(0);
      expect(snapshot(join(s.home, "falling"))).toEqual(snapshot(src));
      const down = await runFtpkit(["get", "-r", s.url("/falling"), "falling-back", "--parallel", "1"], { cwd: work });
      expect(down.code).toBe(0);
      expect(snapshot(join(work, "falling-back"))).toEqual(snapshot(src));
    });

    // vsftpd has no MLSD, so no unique fact to tell a link back by.
    test.skipIf(kind.name === "vsftpd")("get -r does not enter a link back to an ancestor (MLSD's unique fact); a link to a sibling is copied (pyftpdlib) or skipped as a link (ftpkit)", async () => {
      mkdirSync(join(s.home, "remote-loop", "sub"), { recursive: true });
      writeFileSync(join(s.home, "remote-loop", "top.txt"), "top\n");
      writeFileSync(join(s.home, "remote-loop", "sub", "inner.txt"), "inner\n");
      symlinkSync("..", join(s.home, "remote-loop", "sub", "back"));
      symlinkSync("sub", join(s.home, "remote-loop", "alias")); // listed before sub: still no cycle
      const r = await runFtpkit(["get", "-r", s.url("/remote-loop"), "remote-loop-out"], { cwd: work });
      expect(r.code).toBe(0);
      // pyftpdlib lists the link back (its unique fact tells the client); ftpkit's listing leaves it
      // out, and lists a link to a directory as a link (as vsftpd and ProFTPD do): not followed.
      if (kind.name === "pyftpdlib") {
        expect(r.stderr).toContain("sub/back: skipped (a link back to a directory it is in)");
        expect(r.stderr).toContain("alias/back: skipped (a link back to a directory it is in)");
        expect(r.stderr).toMatch(/3 copied .* 0 failed/);
        expect(readdirSync(join(work, "remote-loop-out"), { recursive: true }).map(String).sort()).toEqual(["alias", "alias/inner.txt", "sub", "sub/inner.txt", "top.txt"]);
      } else {
        expect(r.stderr).not.toContain("back");
        expect(r.stderr).toContain("alias: skipped (a symbolic link to a directory or to nothing (the server does not size it as a file): not followed)");
        expect(r.stderr).toMatch(/2 copied .* 1 skipped, 0 deleted, 0 failed/);
        expect(readdirSync(join(work, "remote-loop-out"), { recursive: true }).map(String).sort()).toEqual(["sub", "sub/inner.txt", "top.txt"]);
      }
    });

    // LIST shows a link as a link ("l…") with its own size and time: SIZE and MDTM, which follow it,
    // tell a link to a file (fetched as that file) from one to a directory or to nothing (left out).
    test.skipIf(kind.name !== "vsftpd")("over LIST a link to a file is fetched as that file and a second sync moves nothing; a link to a directory or to nothing is left out, and sync --delete keeps what stands in its place", async () => {
      mkdirSync(join(s.home, "linked", "sub"), { recursive: true });
      writeFileSync(join(s.home, "linked", "top.txt"), "the top file\n");
      writeFileSync(join(s.home, "linked", "sub", "inner.txt"), "inner\n");
      symlinkSync("top.txt", join(s.home, "linked", "current.txt"));
      symlinkSync("sub", join(s.home, "linked", "latest"));
      symlinkSync("nothing-here", join(s.home, "linked", "dangling"));
      s.own(join(s.home, "linked"));
      const r = await runFtpkit(["get", "-r", s.url("/linked"), "linked-out"], { cwd: work });
      expect(r.stderr).toContain("latest: skipped (a symbolic link to a directory or to nothing (the server does not size it as a file): not followed)");
      expect(r.stderr).toContain("dangling: skipped (a symbolic link to a directory or to nothing");
      expect(r.code).toBe(0);
      expect(readFileSync(join(work, "linked-out", "current.txt"), "utf8")).toBe("the top file\n");
      expect(statSync(join(work, "linked-out", "current.txt")).mode & 0o111).toBe(0);
      expect(readdirSync(join(work, "linked-out"), { recursive: true }).map(String).sort()).toEqual(["current.txt", "sub", "sub/inner.txt", "top.txt"]);
      // The link to a file is compared by its target's size and time: nothing to copy again.
      const again = await runFtpkit(["sync", s.url("/linked"), "linked-out", "--dry-run"], { cwd: work });
      expect(again.stdout).toMatch(/^dry run: 0 to copy, 0 directories to create, 0 to delete, 3 unchanged/m);
      // A local directory where the server has a link to a directory is not the sync's to remove.
      mkdirSync(join(work, "linked-out", "latest"));
      writeFileSync(join(work, "linked-out", "latest", "mine.txt"), "mine\n");
      const sync = await runFtpkit(["sync", s.url("/linked"), "linked-out", "--delete"], { cwd: work });
      expect(sync.code).toBe(0);
      expect(sync.stderr).toMatch(/; 0 copied .*, 0 deleted, 0 failed/);
      expect(readFileSync(join(work, "linked-out", "latest", "mine.txt"), "utf8")).toBe("mine\n");
    });

    // LIST shows a time to the minute (an older file: to the day); vsftpd's MDTM gives the second.
    test.skipIf(kind.name !== "vsftpd")("sync over LIST: a same-size edit within the listing's minute (or day) is seen by MDTM, and a sync down sets the time to the second", async () => {
      const when = new Date("2025-01-01T10:20:30Z");
      mkdirSync(join(s.home, "times"), { recursive: true });
      writeFileSync(join(s.home, "times", "r.txt"), "remote\n");
      utimesSync(join(s.home, "times", "r.txt"), when, when);
      s.own(join(s.home, "times"));
      const down = await runFtpkit(["sync", s.url("/times"), "times-down"], { cwd: work });
      expect(down.code).toBe(0);
      expect(statSync(join(work, "times-down", "r.txt")).mtime.getTime()).toBe(when.getTime());
      // Up: the server's copy dates from 10:20:30; the local file, same size, from 10:20:40.
      mkdirSync(join(work, "times-up"));
      writeFileSync(join(work, "times-up", "r.txt"), "edited\n");
      utimesSync(join(work, "times-up", "r.txt"), new Date(when.getTime() + 10_000), new Date(when.getTime() + 10_000));
      const plan = await runFtpkit(["sync", "times-up", s.url("/times"), "--dry-run"], { cwd: work });
      expect(plan.stdout).toContain("copy r.txt (newer locally)");
      expect((await runFtpkit(["sync", "times-up", s.url("/times")], { cwd: work })).code).toBe(0);
      expect(readFileSync(join(s.home, "times", "r.txt"), "utf8")).toBe("edited\n");
    });

    test.skipIf(kind.name !== "vsftpd")("sync down over LIST that rewrites a local file of another size sets its time to the second (MDTM), so the next sync, or the resume of one killed after it, does not fetch it again", async () => {
      const when = new Date("2025-01-01T10:20:30Z");
      mkdirSync(join(s.home, "resized"), { recursive: true });
      writeFileSync(join(s.home, "resized", "r.txt"), "remote, longer than the local copy\n");
      utimesSync(join(s.home, "resized", "r.txt"), when, when);
      s.own(join(s.home, "resized"));
      mkdirSync(join(work, "resized-down"));
      writeFileSync(join(work, "resized-down", "r.txt"), "local\n");
      expect((await runFtpkit(["sync", s.url("/resized"), "resized-down"], { cwd: work })).code).toBe(0);
      expect(readFileSync(join(work, "resized-down", "r.txt"), "utf8")).toBe("remote, longer than the local copy\n");
      expect(statSync(join(work, "resized-down", "r.txt")).mtime.getTime()).toBe(when.getTime());
      const again = await runFtpkit(["sync", s.url("/resized"), "resized-down"], { cwd: work });
      expect(again.code).toBe(0);
      expect(again.stderr).toMatch(/; 0 copied .*, 1 skipped/);
    });

    test.skipIf(kind.name !== "vsftpd")("get -r over LIST sets each file's time to the second (MDTM), so a later sync sees a same-size change made the same day", async () => {
      const when = new Date("2001-02-03T04:05:06Z"); // LIST shows "Feb 03  2001": the day only
      mkdirSync(join(s.home, "old-times"), { recursive: true });
      writeFileSync(join(s.home, "old-times", "old.txt"), "old\n");
      utimesSync(join(s.home, "old-times", "old.txt"), when, when);
      s.own(join(s.home, "old-times"));
      expect((await runFtpkit(["get", "-r", s.url("/old-times"), "old-down"], { cwd: work })).code).toBe(0);
      expect(statSync(join(work, "old-down", "old.txt")).mtime.getTime()).toBe(when.getTime());
      writeFileSync(join(s.home, "old-times", "old.txt"), "NEW\n");
      const later = new Date(when.getTime() + 6 * 3600_000);
      utimesSync(join(s.home, "old-times", "old.txt"), later, later);
      const sync = await runFtpkit(["sync", s.url("/old-times"), "old-down"], { cwd: work });
      expect(sync.code).toBe(0);
      expect(readFileSync(join(work, "old-down", "old.txt"), "utf8")).toBe("NEW\n");
    });

    // ftpkit serve and pyftpdlib do not list such a name at all.
    test.skipIf(kind.name !== "vsftpd")("a remote name that is not valid UTF-8 is left out with a warning naming why; the rest of the tree is fetched", async () => {
      mkdirSync(join(s.home, "latin1"), { recursive: true });
      writeFileSync(Buffer.from(`${join(s.home, "latin1")}/caf\xe9.txt`, "latin1"), "latin-1 name\n");
      writeFileSync(join(s.home, "latin1", "plain.txt"), "plain\n");
      s.own(join(s.home, "latin1"));
      const r = await runFtpkit(["get", "-r", s.url("/latin1"), "latin1-out"], { cwd: work });
      expect(r.stderr).toContain("caf\uFFFD.txt: skipped (a name that is not valid UTF-8: FTP commands carry UTF-8, so it cannot be asked for)");
      expect(r.code).toBe(0);
      expect(readdirSync(join(work, "latin1-out"))).toEqual(["plain.txt"]);
    });

    test("a glob in the last segment fetches only the matching files", async () => {
      const dir = join(s.home, "globs");
      mkdirSync(dir, { recursive: true });
      for (const n of ["a1.csv", "a2.csv", "b1.csv", "a1.txt", "notes [x].csv"]) writeFileSync(join(dir, n), n);
      s.own(dir);
      const r = await runFtpkit(["get", s.url("/globs/a?.csv"), "g1/"], { cwd: work });
      expect(r.code).toBe(0);
      expect(readdirSync(join(work, "g1")).sort()).toEqual(["a1.csv", "a2.csv"]);
      const r2 = await runFtpkit(["get", s.url("/globs/[!a]*"), "g2/"], { cwd: work });
      expect(r2.code).toBe(0);
      expect(readdirSync(join(work, "g2")).sort()).toEqual(["b1.csv", "notes [x].csv"]);
    });

    test("as in a shell, * and ? do not match a leading dot (.* does), in get and put; in a URL %5C escapes a wildcard and %2A is a literal *", async () => {
      const dir = join(s.home, "dots");
      mkdirSync(dir, { recursive: true });
      for (const n of [".hidden.txt", "a.txt", "s*r.txt", "sXr.txt"]) writeFileSync(join(dir, n), `${n}\n`);
      s.own(dir);
      expect((await runFtpkit(["get", s.url("/dots/*.txt"), "d1/"], { cwd: work })).code).toBe(0);
      expect(readdirSync(join(work, "d1")).sort()).toEqual(["a.txt", "s*r.txt", "sXr.txt"]);
      expect((await runFtpkit(["get", s.url("/dots/?hidden.txt"), "d2/"], { cwd: work })).code).not.toBe(0);
      expect((await runFtpkit(["get", s.url("/dots/.*"), "d3/"], { cwd: work })).code).toBe(0);
      expect(readdirSync(join(work, "d3"))).toEqual([".hidden.txt"]);
      for (const spelled of ["s%5C*r.txt", "s%2Ar.txt"]) {
        const r = await runFtpkit(["get", s.url(`/dots/${spelled}`), `${spelled}.out`], { cwd: work });
        expect(r.code).toBe(0);
        expect(readFileSync(join(work, `${spelled}.out`), "utf8")).toBe("s*r.txt\n");
      }
      const src = join(work, "dot-src");
      mkdirSync(src, { recursive: true });
      for (const n of [".env", "b.txt"]) writeFileSync(join(src, n), n);
      expect((await runFtpkit(["put", "dot-src/*", s.url("/dots-up/")], { cwd: work })).code).toBe(0);
      expect(readdirSync(join(s.home, "dots-up"))).toEqual(["b.txt"]);
    });

    test("sync from a directory named x*, spelled x%2A in the URL, mirrors that directory alone (not xy beside it), --delete included", async () => {
      const dir = join(s.home, "starred");
      mkdirSync(join(dir, "x*"), { recursive: true });
      mkdirSync(join(dir, "xy"));
      writeFileSync(join(dir, "x*", "in-star.txt"), "star\n");
      writeFileSync(join(dir, "xy", "in-xy.txt"), "xy\n");
      s.own(dir);
      mkdirSync(join(work, "starred-dst"));
      writeFileSync(join(work, "starred-dst", "old.txt"), "old\n");
      const r = await runFtpkit(["sync", s.url("/starred/x%2A"), "starred-dst", "--delete"], { cwd: work });
      expect(r.code).toBe(0);
      expect(readdirSync(join(work, "starred-dst"))).toEqual(["in-star.txt"]);
    });

    test("put with a quoted local glob uploads only the matching files", async () => {
      const src = join(work, "pg");
      mkdirSync(src, { recursive: true });
      for (const n of ["x1.csv", "x2.csv", "y.txt"]) writeFileSync(join(src, n), n);
      const r = await runFtpkit(["put", "pg/*.csv", s.url("/put-glob/")], { cwd: work });
      expect(r.code).toBe(0);
      expect(readdirSync(join(s.home, "put-glob")).sort()).toEqual(["x1.csv", "x2.csv"]);
    });

    test("a local pattern is expanded as a shell does, also beside a file of its literal name; matching nothing it stands for that file, and the URL is a directory either way; escaped it names one file", async () => {
      const src = join(work, "pe");
      mkdirSync(src, { recursive: true });
      for (const n of ["n[1].txt", "n1.txt", "q[1].txt", "s*r.txt", "sXr.txt"]) writeFileSync(join(src, n), `${n}\n`);
      // `n[1].txt` matches n1.txt (the file named n[1].txt does not match it), as `ls n[1].txt` shows.
      expect((await runFtpkit(["put", "pe/n[1].txt", s.url("/pe1/")], { cwd: work })).code).toBe(0);
      expect(readdirSync(join(s.home, "pe1"))).toEqual(["n1.txt"]);
      // `s*r.txt` matches both s*r.txt and sXr.txt: both go, not only the literal one.
      expect((await runFtpkit(["put", "pe/s*r.txt", s.url("/pe2/")], { cwd: work })).code).toBe(0);
      expect(readdirSync(join(s.home, "pe2")).sort()).toEqual(["s*r.txt", "sXr.txt"]);
      // Escaped: the one file of that name, here uploaded under another.
      expect((await runFtpkit(["put", "pe/n\\[1\\].txt", s.url("/pe2/escaped.txt")], { cwd: work })).code).toBe(0);
      expect(readFileSync(join(s.home, "pe2", "escaped.txt"), "utf8")).toBe("n[1].txt\n");
      // `q[1].txt` matches nothing (there is no q1.txt): it stands for the file of that name, and the
      // URL is still a directory, as when the pattern matched (and as get's LOCAL is).
      expect((await runFtpkit(["put", "pe/q[1].txt", s.url("/pe2/q.txt")], { cwd: work })).code).toBe(0);
      expect(readFileSync(join(s.home, "pe2", "q.txt", "q[1].txt"), "utf8")).toBe("q[1].txt\n");
      expect((await runFtpkit(["put", "pe/n[1].txt", s.url("/pe3")], { cwd: work })).code).toBe(0);
      expect(readdirSync(join(s.home, "pe3"))).toEqual(["n1.txt"]);
    });

    test("get -r and put -r with --dry-run print the plan and move nothing", async () => {
      const local = join(work, "dry-src");
      makeTree(local);
      const up = await runFtpkit(["put", "-r", local, s.url("/dry-up"), "-n"], { cwd: work });
      expect(up.code).toBe(0);
      expect(up.stdout).toMatch(/^copy a\/one\.txt \(new\)$/m);
      expect(up.stdout).toMatch(/^dry run: \d+ to copy, .*nothing was changed$/m);
      expect(existsSync(join(s.home, "dry-up"))).toBe(false);
      const down = await runFtpkit(["get", "-r", s.url("/dry-up-none"), join(work, "dry-down"), "--dry-run"], { cwd: work });
      expect(down.code).toBe(8); // nothing there to plan from: the same error as the real job
      expect(down.stderr).toMatch(/remote directory not found/);
      const real = await runFtpkit(["put", "-r", local, s.url("/dry-up")], { cwd: work });
      expect(real.code).toBe(0);
      const plan = await runFtpkit(["get", "-r", s.url("/dry-up"), join(work, "dry-down"), "--dry-run"], { cwd: work });
      expect(plan.code).toBe(0);
      expect(plan.stdout).toMatch(/^copy a\/one\.txt \(new\)$/m);
      expect(existsSync(join(work, "dry-down"))).toBe(false);
    });

    test("sync up and down: --dry-run changes nothing, --delete removes what the source lost", async () => {
      const local = join(work, "sync-src");
      makeTree(local);
      const first = await runFtpkit(["sync", local, s.url("/mirror")], { cwd: work });
      expect(first.code).toBe(0);
      expect(snapshot(join(s.home, "mirror"))).toEqual(snapshot(local));
      // Change the source: one new file, one removed file and directory, one grown file.
      writeFileSync(join(local, "new.txt"), "new\n");
      rmSync(join(local, "a/b"), { recursive: true });
      writeFileSync(join(local, "a/one.txt"), "one, now longer\n");
      const before = snapshot(join(s.home, "mirror"));
      const dry = await runFtpkit(["sync", local, s.url("/mirror"), "--delete", "--dry-run"], { cwd: work });
      expect(dry.code).toBe(0);
      expect(dry.stdout.split("\n").filter(Boolean).sort()).toEqual([
        "copy a/one.txt (size differs)",
        "copy new.txt (new)",
        "delete a/b/ (not in source)",
        "delete a/b/c/ (not in source)",
        "delete a/b/c/deep.csv (not in source)",
        expect.stringMatching(/^dry run: 2 to copy, 0 directories to create, 3 to delete, \d+ unchanged; nothing was changed$/),
      ]);
      expect(snapshot(join(s.home, "mirror"))).toEqual(before);
      const real = await runFtpkit(["sync", local, s.url("/mirror"), "--delete"], { cwd: work });
      expect(real.code).toBe(0);
      expect(snapshot(join(s.home, "mirror"))).toEqual(snapshot(local));
      // An unchanged tree moves nothing.
      const again = await runFtpkit(["sync", local, s.url("/mirror"), "--delete", "--dry-run"], { cwd: work });
      expect(again.stdout).toMatch(/^dry run: 0 to copy, 0 directories to create, 0 to delete/m);

      // Down: the remote mirror into a fresh local copy, then the same kinds of change on the server.
      const copy = join(work, "sync-down");
      expect((await runFtpkit(["sync", s.url("/mirror"), copy], { cwd: work })).code).toBe(0);
      expect(snapshot(copy)).toEqual(snapshot(local));
      writeFileSync(join(s.home, "mirror/only-remote.txt"), "r\n");
      s.own(join(s.home, "mirror"));
      writeFileSync(join(copy, "only-local.txt"), "l\n");
      const dryDown = await runFtpkit(["sync", s.url("/mirror"), copy, "--delete", "--dry-run"], { cwd: work });
      expect(dryDown.stdout).toContain("copy only-remote.txt (new)\n");
      expect(dryDown.stdout).toContain("delete only-local.txt (not in source)\n");
      expect(existsSync(join(copy, "only-local.txt"))).toBe(true);
      const down = await runFtpkit(["sync", s.url("/mirror"), copy, "--delete", "--exclude", "*.bin"], { cwd: work });
      expect(down.code).toBe(0);
      expect(snapshot(copy)).toEqual(snapshot(join(s.home, "mirror")));
    });

    test("put -r and sync up create the remote directories above the target too (mkdir -p)", async () => {
      const src = join(work, "deep-src");
      mkdirSync(join(src, "d"), { recursive: true });
      writeFileSync(join(src, "top.txt"), "top\n");
      writeFileSync(join(src, "d", "inner.txt"), "inner\n");
      const put = await runFtpkit(["put", "-r", src, s.url("/p1/p2/p3")], { cwd: work });
      expect(put.code).toBe(0);
      expect(snapshot(join(s.home, "p1/p2/p3"))).toEqual(snapshot(src));
      const sync = await runFtpkit(["sync", src, s.url("/p1/q2/q3")], { cwd: work });
      expect(sync.code).toBe(0);
      expect(snapshot(join(s.home, "p1/q2/q3"))).toEqual(snapshot(src));
    });
  });
}

describe("against ftpkit only: links to directories, links back, names FTP cannot carry, a file against a directory", () => {
  let server: Awaited<ReturnType<typeof startFtpkitServer>>;
  let work: string;
  beforeAll(async () => {
    server = await startFtpkitServer();
    work = tempDir("ftpkit-tree-links-");
  });
  afterAll(async () => {
    await server.stop();
    removeDir(work);
  });

  test("a file against a directory of the same name: sync stops before it changes anything; with --delete it replaces it, both ways", async () => {
    const local = join(work, "conflict");
    mkdirSync(join(local, "x", "deep"), { recursive: true });
    writeFileSync(join(local, "x", "in.txt"), "in\n");
    writeFileSync(join(local, "x", "deep", "more.txt"), "more\n");
    writeFileSync(join(local, "y"), "y\n");
    expect((await runFtpkit(["sync", local, server.url("/conflict")], { cwd: work })).code).toBe(0);
    const remoteBefore = snapshot(join(server.home, "conflict"));
    // Locally x becomes a file and y a directory.
    rmSync(join(local, "x"), { recursive: true });
    rmSync(join(local, "y"));
    writeFileSync(join(local, "x"), "now a file\n");
    mkdirSync(join(local, "y"));
    writeFileSync(join(local, "y", "z.txt"), "z\n");
    const localBefore = snapshot(local);
    const journal = () => (existsSync(join(work, ".ftpkit", "transfers")) ? readdirSync(join(work, ".ftpkit", "transfers")) : []);
    for (const args of [["sync", local, server.url("/conflict")], ["sync", server.url("/conflict"), local]]) {
      const r = await runFtpkit(args, { cwd: work });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/(x|y) is a (file|directory) in the source but a (directory|file) in the destination; nothing was changed: remove one of them, or sync with --delete to replace it/);
      expect(snapshot(join(server.home, "conflict"))).toEqual(remoteBefore);
      expect(snapshot(local)).toEqual(localBefore);
      expect(journal()).toEqual([]);
    }
    const dry = await runFtpkit(["sync", local, server.url("/conflict"), "--delete", "--dry-run"], { cwd: work });
    expect(dry.stdout).toContain("delete x/deep/more.txt (in the way of the source's file x)\n");
    expect(dry.stdout).toContain("copy x (replaces a directory)\n");
    expect(dry.stdout).toContain("delete y (in the way of the source's directory y)\n");
    expect(snapshot(join(server.home, "conflict"))).toEqual(remoteBefore);
    const up = await runFtpkit(["sync", local, server.url("/conflict"), "--delete"], { cwd: work });
    expect(up.code).toBe(0);
    expect(snapshot(join(server.home, "conflict"))).toEqual(localBefore);
    // And back: the remote side now has the old shape again, the local side the new one.
    rmSync(join(server.home, "conflict"), { recursive: true });
    mkdirSync(join(server.home, "conflict", "x"), { recursive: true });
    writeFileSync(join(server.home, "conflict", "x", "in.txt"), "in\n");
    writeFileSync(join(server.home, "conflict", "y"), "y\n");
    const down = await runFtpkit(["sync", server.url("/conflict"), local, "--delete"], { cwd: work });
    expect(down.code).toBe(0);
    expect(snapshot(local)).toEqual(snapshot(join(server.home, "conflict")));
    expect(journal()).toEqual([]);
  });

  test("put -r uploads the tree once and names the link it did not follow (a link to an ancestor)", async () => {
    const src = join(work, "looped");
    mkdirSync(join(src, "d"), { recursive: true });
    writeFileSync(join(src, "f.txt"), "once\n");
    symlinkSync("..", join(src, "d", "up"));
    const up = await runFtpkit(["put", "-r", src, server.url("/looped")], { cwd: work });
    expect(up.code).toBe(0);
    expect(up.stderr).toContain("d/up: skipped (a symbolic link to a directory is not followed)");
    expect(up.stderr).toMatch(/: 1 file, 5 B moved in .*; 1 copied .* 0 failed/); // "1 file", not "1 files"
    const expected = join(work, "expected-looped");
    mkdirSync(join(expected, "d"), { recursive: true });
    writeFileSync(join(expected, "f.txt"), "once\n");
    expect(snapshot(join(server.home, "looped"))).toEqual(snapshot(expected));
  });

  test("put -r leaves out a file whose name holds CR LF, naming it escaped, and sends no command from it", async () => {
    const src = join(work, "crlf");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "ok.txt"), "ok\n");
    writeFileSync(join(src, "evil\r\nDELE victim.txt"), "e");
    mkdirSync(join(server.home, "crlf-up"), { recursive: true });
    writeFileSync(join(server.home, "crlf-up", "victim.txt"), "still here\n");
    const up = await runFtpkit(["put", "-r", src, server.url("/crlf-up")], { cwd: work });
    expect(up.code).toBe(0);
    expect(up.stderr).toContain('"evil\\r\\nDELE victim.txt": skipped (a name with a line break cannot be sent over FTP)');
    expect(readdirSync(join(server.home, "crlf-up")).sort()).toEqual(["ok.txt", "victim.txt"]);
    expect(readFileSync(join(server.home, "crlf-up", "victim.txt"), "utf8")).toBe("still here\n");
  });

  test("put -r names each entry it cannot send (a name that is not UTF-8, a link to nothing, a FIFO) and sends the rest", async () => {
    const src = join(work, "odd");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "ok.txt"), "ok\n");
    writeFileSync(Buffer.concat([Buffer.from(`${src}/lat`), Buffer.from([0xe9]), Buffer.from("n.txt")]), "latin-1 name\n");
    symlinkSync(join(work, "no-such-target"), join(src, "dangling"));
    expect(Bun.spawnSync(["mkfifo", join(src, "fifo")]).exitCode).toBe(0);
    const up = await runFtpkit(["put", "-r", src, server.url("/odd-up")], { cwd: work });
    expect(up.code).toBe(0);
    expect(up.stderr).toContain("lat\uFFFDn.txt: skipped (its name is not valid UTF-8, which FTP cannot carry; rename it)");
    expect(up.stderr).toContain("dangling: skipped (a symbolic link to nothing)");
    expect(up.stderr).toContain("fifo: skipped (not a regular file: a FIFO, socket or device)");
    expect(readdirSync(join(server.home, "odd-up"))).toEqual(["ok.txt"]);
  });

  test("a pattern that matches nothing stands for itself (a[1].txt); an --exclude with a reversed range excludes nothing", async () => {
    mkdirSync(join(server.home, "brackets"), { recursive: true });
    writeFileSync(join(server.home, "brackets", "a[1].txt"), "bracketed\n");
    writeFileSync(join(server.home, "brackets", ".hidden.tmp"), "h\n");
    const one = await runFtpkit(["get", server.url("/brackets/a[1].txt"), "brackets-out"], { cwd: work });
    expect(one.code).toBe(0);
    expect(readdirSync(join(work, "brackets-out"))).toEqual(["a[1].txt"]);
    const all = await runFtpkit(["get", "-r", server.url("/brackets"), "brackets-all", "--exclude", "[z-a]"], { cwd: work });
    expect(all.code).toBe(0);
    expect(readdirSync(join(work, "brackets-all")).sort()).toEqual([".hidden.tmp", "a[1].txt"]);
    const noTmp = await runFtpkit(["get", "-r", server.url("/brackets"), "brackets-notmp", "--exclude", "*.tmp"], { cwd: work });
    expect(readdirSync(join(work, "brackets-notmp"))).toEqual(["a[1].txt"]);
  });

  test("sync --delete into a local tree removes nothing behind a link to a directory outside it (the link itself goes, as with rsync --delete)", async () => {
    mkdirSync(join(server.home, "linked-src"), { recursive: true });
    writeFileSync(join(server.home, "linked-src", "a.txt"), "a\n");
    const outside = join(work, "outside");
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "keep.txt"), "not part of the tree\n");
    const dest = join(work, "linked-dest");
    mkdirSync(dest, { recursive: true });
    symlinkSync(outside, join(dest, "link"));
    const r = await runFtpkit(["sync", server.url("/linked-src"), dest, "--delete"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/1 copied .* 1 deleted, 0 failed/);
    expect(readFileSync(join(outside, "keep.txt"), "utf8")).toBe("not part of the tree\n");
    expect(lstatSync(join(dest, "link"), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(join(dest, "a.txt"), "utf8")).toBe("a\n");
  });
});
