// Tree jobs that must not lose or misplace data: a pending job with other options, a destination
// link to a directory, excluded and skipped entries under --delete, vsftpd's LIST of a file or of an
// unreadable directory, hidden files, escaped wildcards, long names, and the --json reports.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit, spawnFtpkit, startFtpkitServer, waitFor, type FtpkitPeer } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { chownTo, startVsftpd, vsftpdAvailable } from "../helpers/system-ftpd.ts";
import { snapshot } from "../helpers/trees.ts";
import { startFakeServer } from "./fake-server.ts";

setDefaultTimeout(60_000);

const owned = useCleanups("ftpkit-sync-safety-");
const workDir = owned.workDir;

async function ftpkitServer(opts: Parameters<typeof startFtpkitServer>[0] = {}): Promise<FtpkitPeer> {
  const srv = await startFtpkitServer(opts);
  owned.later(() => srv.stop());
  return srv;
}

function files(root: string, entries: Record<string, string>): void {
  for (const [rel, text] of Object.entries(entries)) {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
}

describe("a pending interrupted job", () => {
  test("the same sync run from another directory than the one that recorded it is refused, naming where to resume; --restart there starts over", async () => {
    const srv = await ftpkitServer({ maxRate: "256K" });
    const work = workDir();
    const a = join(work, "A");
    const b = join(work, "B");
    mkdirSync(b, { recursive: true });
    files(join(a, "src"), { "big.bin": "x".repeat(3_000_000), "a.txt": "a\n" });
    const src = join(a, "src");
    const journalA = join(a, ".ftpkit", "transfers");
    const proc = spawnFtpkit(["sync", "src", srv.url("/dst")], { cwd: a });
    try {
      await waitFor(() => existsSync(journalA) && readdirSync(journalA).some((n) => n.endsWith(".json")), 30_000, "the job's record");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    const other = await runFtpkit(["sync", src, srv.url("/dst")], { cwd: b });
    expect(other.code).toBe(1);
    expect(other.stderr.trim()).toBe(`[error] an interrupted sync of the same source and destination is pending: finish it with \`ftpkit resume\` in ${a}, or add --restart to discard it and run this command instead`);
    expect(existsSync(join(b, ".ftpkit"))).toBe(false);
    expect((await runFtpkit(["resume", "--list"], { cwd: a })).stdout).toMatch(/^sync /);
    const restarted = await runFtpkit(["sync", src, srv.url("/dst"), "--restart"], { cwd: b, timeoutMs: 60_000 });
    expect(restarted.code).toBe(0);
    expect(readFileSync(join(srv.home, "dst/a.txt"), "utf8")).toBe("a\n");
    expect((await runFtpkit(["resume", "--list"], { cwd: a })).stdout).toMatch(/^nothing to resume/);
  });

  test("a new sync with other options is refused, changes nothing, and says how to go on", async () => {
    const srv = await ftpkitServer({ maxRate: "256K" });
    const work = workDir();
    files(join(work, "src"), { "big.bin": "x".repeat(3_000_000), "a.txt": "a\n" });
    files(join(srv.home, "dst"), { "keep.log": "log\n", "gone.txt": "old\n" });
    const journal = join(work, ".ftpkit", "transfers");
    const proc = spawnFtpkit(["sync", "src", srv.url("/dst"), "--delete"], { cwd: work });
    try {
      await waitFor(() => existsSync(journal) && readdirSync(journal).some((n) => n.endsWith(".json")), 30_000, "the job's record");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    // Listed as the sync it is, not as the put -r it runs as.
    expect((await runFtpkit(["resume", "--list"], { cwd: work })).stdout).toMatch(/^sync .*\/src → ftp:\/\/.*\/dst \(started /);
    const other = await runFtpkit(["sync", "src", srv.url("/dst"), "--exclude", "*.log"], { cwd: work });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("is pending with other options (it deletes (--delete); its excludes: none)");
    expect(other.stderr).toContain("ftpkit resume");
    const dry = await runFtpkit(["sync", "src", srv.url("/dst"), "--exclude", "*.log", "--dry-run"], { cwd: work });
    expect(dry.code).toBe(1);
    expect(readFileSync(join(srv.home, "dst/keep.log"), "utf8")).toBe("log\n");
    expect(readFileSync(join(srv.home, "dst/gone.txt"), "utf8")).toBe("old\n");
    // The same options: the dry run shows the pending job's plan and says so.
    const same = await runFtpkit(["sync", "src", srv.url("/dst"), "--delete", "--dry-run"], { cwd: work });
    expect(same.code).toBe(0);
    expect(same.stderr).toContain("an interrupted run of this job is pending");
    expect(same.stdout).toContain("delete gone.txt (not in source)");
    // --restart runs the new command instead.
    const fresh = await runFtpkit(["sync", "src", srv.url("/dst"), "--exclude", "*.log", "--restart"], { cwd: work, timeoutMs: 60_000 });
    expect(fresh.code).toBe(0);
    expect(readFileSync(join(srv.home, "dst/keep.log"), "utf8")).toBe("log\n");
    expect(readFileSync(join(srv.home, "dst/gone.txt"), "utf8")).toBe("old\n");
    expect(readFileSync(join(srv.home, "dst/a.txt"), "utf8")).toBe("a\n");
  });
});

describe("what the walks leave out stays where it is", () => {
  test("get -r never writes through a link to a directory in the destination; sync --delete replaces the link itself", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(srv.home, "t"), { "sub/x.txt": "new\n", "top.txt": "top\n" });
    files(join(work, "outside"), { "x.txt": "precious\n" });
    mkdirSync(join(work, "dest"));
    symlinkSync(join(work, "outside"), join(work, "dest", "sub"));
    const get = await runFtpkit(["get", "-r", srv.url("/t"), "dest"], { cwd: work });
    expect(get.code).toBe(1);
    expect(get.stderr).toContain("sub is a directory in the source but a symbolic link to a directory in the destination; nothing was changed");
    expect(readFileSync(join(work, "outside/x.txt"), "utf8")).toBe("precious\n");
    expect(existsSync(join(work, "dest/top.txt"))).toBe(false);
    const sync = await runFtpkit(["sync", srv.url("/t"), "dest", "--delete"], { cwd: work });
    expect(sync.code).toBe(0);
    expect(lstatSync(join(work, "dest/sub")).isDirectory()).toBe(true);
    expect(readFileSync(join(work, "dest/sub/x.txt"), "utf8")).toBe("new\n");
    expect(readdirSync(join(work, "outside"))).toEqual(["x.txt"]);
    expect(readFileSync(join(work, "outside/x.txt"), "utf8")).toBe("precious\n");
  });

  test("sync --delete --json reports a link to a directory the source does not have as deleted, the link itself (the directory it names untouched)", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(srv.home, "t"), { "real/r.txt": "r\n" });
    files(join(work, "precious"), { "p.txt": "P\n" });
    mkdirSync(join(work, "dest"));
    symlinkSync(join(work, "precious"), join(work, "dest", "ln"));
    const r = await runFtpkit(["sync", srv.url("/t"), "dest", "--delete", "--json"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const report = JSON.parse(r.stdout) as { files: { path: string; action: string; result: string }[] };
    expect(report.files.find((f) => f.path === "ln")).toMatchObject({ action: "delete", result: "deleted" });
    expect(lstatSync(join(work, "dest", "ln"), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(join(work, "precious/p.txt"), "utf8")).toBe("P\n");
  });

  test("sync --delete keeps what the source skips (a link to a directory) and directories holding excluded files", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(work, "src"), { "a.txt": "a\n" });
    files(join(work, "elsewhere"), { "r.txt": "r\n" });
    symlinkSync(join(work, "elsewhere"), join(work, "src", "real"));
    files(join(srv.home, "dst"), { "real/r.txt": "remote copy\n", "build/x/o.o": "obj\n", "old.txt": "old\n" });
    const r = await runFtpkit(["sync", "src", srv.url("/dst"), "--delete", "--exclude", "x"], { cwd: work });
    expect(r.stderr).toContain("real: skipped (a symbolic link to a directory is not followed)");
    expect(r.code).toBe(0);
    expect(readFileSync(join(srv.home, "dst/real/r.txt"), "utf8")).toBe("remote copy\n");
    expect(readFileSync(join(srv.home, "dst/build/x/o.o"), "utf8")).toBe("obj\n");
    expect(existsSync(join(srv.home, "dst/old.txt"))).toBe(false);
    // The other way: a local directory holding only excluded files is not a failed delete.
    files(join(work, "local"), { "cache/tmp.log": "t\n", "stale.txt": "s\n" });
    const back = await runFtpkit(["sync", srv.url("/dst"), "local", "--delete", "--exclude", "*.log"], { cwd: work });
    expect(back.code).toBe(0);
    expect(readFileSync(join(work, "local/cache/tmp.log"), "utf8")).toBe("t\n");
    expect(existsSync(join(work, "local/stale.txt"))).toBe(false);
  });

  test("every --exclude counts (sync --delete keeps what each one names, = form too); an empty one is refused", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(work, "src"), { "a.txt": "a\n" });
    files(join(srv.home, "dst"), { "keep.log": "log\n", "cache/c.bin": "c\n", "tmp/t.txt": "t\n", "old.txt": "old\n" });
    const r = await runFtpkit(["sync", "src", srv.url("/dst"), "--delete", "--exclude", "*.log", "--exclude", "cache", "--exclude=tmp"], { cwd: work });
    expect(r.code).toBe(0);
    expect(readFileSync(join(srv.home, "dst/keep.log"), "utf8")).toBe("log\n");
    expect(readFileSync(join(srv.home, "dst/cache/c.bin"), "utf8")).toBe("c\n");
    expect(readFileSync(join(srv.home, "dst/tmp/t.txt"), "utf8")).toBe("t\n");
    expect(existsSync(join(srv.home, "dst/old.txt"))).toBe(false);
    // An empty pattern (an unset shell variable) would exclude nothing: refused before anything moves.
    files(join(srv.home, "dst"), { "old.txt": "old\n" });
    for (const bad of [["--exclude", ""], ["--exclude="]]) {
      const refused = await runFtpkit(["sync", "src", srv.url("/dst"), "--delete", ...bad], { cwd: work });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("--exclude needs a GLOB");
    }
    expect(existsSync(join(srv.home, "dst/old.txt"))).toBe(true);
    expect(readFileSync(join(srv.home, "dst/keep.log"), "utf8")).toBe("log\n");
  });

  test("a switch given a value (--delete=no) is refused and deletes nothing; --delete=false is off, --delete=true on", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(work, "src"), { "a.txt": "a\n" });
    files(join(srv.home, "dst"), { "old.txt": "old\n" });
    for (const bad of ["--delete=no", "--delete=0", "--delete=off"]) {
      const refused = await runFtpkit(["sync", "src", srv.url("/dst"), bad], { cwd: work });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("--delete is a switch and takes no value");
    }
    expect(existsSync(join(srv.home, "dst/a.txt"))).toBe(false);
    expect((await runFtpkit(["sync", "src", srv.url("/dst"), "--delete=false"], { cwd: work })).code).toBe(0);
    expect(existsSync(join(srv.home, "dst/old.txt"))).toBe(true);
    expect((await runFtpkit(["sync", "src", srv.url("/dst"), "--delete=true"], { cwd: work })).code).toBe(0);
    expect(existsSync(join(srv.home, "dst/old.txt"))).toBe(false);
    // A short switch takes no value at all: citty read -n=false as -n (a dry run that changed nothing, exit 0).
    files(join(work, "src"), { "b.txt": "b\n" });
    const short = await runFtpkit(["sync", "-n=false", "src", srv.url("/dst")], { cwd: work });
    expect([short.code, short.stderr.trim()]).toEqual([2, '[error] -n is a switch and takes no value (got "false")']);
  });

  test("a source file whose name the destination holds as an excluded directory (--exclude 'f/') is refused before anything moves, dry run included, both ways", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(work, "up"), { f: "file\n" });
    files(join(srv.home, "t"), { "f/deep.txt": "deep\n", "old.txt": "old\n" });
    files(join(srv.home, "xf"), { f: "file\n" });
    files(join(work, "down"), { "f/inner": "keep\n", "old.txt": "old\n" });
    for (const [src, dst] of [["up", srv.url("/t")], [srv.url("/xf"), "down"]] as const) {
      for (const dry of [["--dry-run"], []]) {
        const r = await runFtpkit(["sync", src, dst, "--delete", "--exclude", "f/", ...dry], { cwd: work });
        expect(r.stderr).toContain("f is a file in the source, but the destination's f is excluded or skipped; nothing was changed");
        expect(r.code).not.toBe(0);
      }
    }
    expect(readFileSync(join(srv.home, "t/f/deep.txt"), "utf8")).toBe("deep\n");
    expect(existsSync(join(srv.home, "t/old.txt"))).toBe(true);
    expect(readFileSync(join(work, "down/f/inner"), "utf8")).toBe("keep\n");
    expect(existsSync(join(work, "down/old.txt"))).toBe(true);
    expect(existsSync(join(work, "down/f.ftpkit-part"))).toBe(false);
  });

  test("--exclude '**/*.log' matches at every depth, the root's files included", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(srv.home, "t"), { "a.txt": "a\n" });
    files(join(work, "local"), { "root.log": "1\n", "deep/er/x.log": "2\n", "deep/er/x.txt": "3\n" });
    const r = await runFtpkit(["sync", srv.url("/t"), "local", "--delete", "--exclude", "**/*.log"], { cwd: work });
    expect(r.code).toBe(0);
    expect(existsSync(join(work, "local/root.log"))).toBe(true);
    expect(existsSync(join(work, "local/deep/er/x.log"))).toBe(true);
    expect(existsSync(join(work, "local/deep/er/x.txt"))).toBe(false);
  });
});

describe("globs and names", () => {
  test("an escaped wildcard names the file itself; an existing local directory with brackets is that directory", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(srv.home, "br"), { "[ab].txt": "brackets\n", "a.txt": "plain a\n" });
    mkdirSync(join(work, "out"));
    const g = await runFtpkit(["get", srv.url("/br/\\[ab\\].txt"), "out/"], { cwd: work });
    expect(g.code).toBe(0);
    expect(readFileSync(join(work, "out/[ab].txt"), "utf8")).toBe("brackets\n");
    files(join(work, "L[1]"), { "f.txt": "in L[1]\n" });
    files(join(work, "L1"), { "g.txt": "in L1\n" });
    const s = await runFtpkit(["sync", "L[1]", srv.url("/lb")], { cwd: work });
    expect(s.code).toBe(0);
    expect(readdirSync(join(srv.home, "lb"))).toEqual(["f.txt"]);
  });

  test("a glob without -r leaves matching directories out, as cp does, and a sync glob matching nothing still deletes stale matches", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(srv.home, "g"), { "a.csv": "a\n", "sub/b.csv": "b\n" });
    const r = await runFtpkit(["get", srv.url("/g/*"), "go/"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("sub: a directory, not copied without -r");
    expect(readdirSync(join(work, "go"))).toEqual(["a.csv"]);
    files(join(work, "sg"), { "old.log": "stale\n", "keep.txt": "k\n" });
    const s = await runFtpkit(["sync", srv.url("/g/*.log"), "sg", "--delete"], { cwd: work });
    expect(s.code).toBe(0);
    expect(readdirSync(join(work, "sg")).sort()).toEqual(["keep.txt"]);
  });

  test("a name of 250 bytes downloads (its part file gets a shorter name)", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    const name = `${"L".repeat(246)}.txt`;
    files(join(srv.home, "long"), { [name]: "long name\n" });
    mkdirSync(join(work, "one"));
    const one = await runFtpkit(["get", srv.url(`/long/${name}`), "one/"], { cwd: work });
    expect(one.code).toBe(0);
    expect(readFileSync(join(work, "one", name), "utf8")).toBe("long name\n");
    const tree = await runFtpkit(["get", "-r", srv.url("/long"), "tree"], { cwd: work });
    expect(tree.code).toBe(0);
    expect(readdirSync(join(work, "tree"))).toEqual([name]);
  });
});

describe("--json and --dry-run reports", () => {
  test("a tree job that fails before its files still prints a JSON report with the error; a dry run counts nothing as done", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    const missing = await runFtpkit(["get", "-r", srv.url("/nope"), "x", "--json"], { cwd: work });
    expect(missing.code).toBe(8);
    const report = JSON.parse(missing.stdout) as { failed: number; error: string; files: unknown[] };
    expect(report.failed).toBe(1);
    expect(report.error).toContain("remote directory not found");
    expect(report.files).toEqual([]);
    files(join(srv.home, "d"), { "a.txt": "a\n" });
    const dry = await runFtpkit(["sync", srv.url("/d"), "local", "--dry-run", "--json"], { cwd: work });
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as { dryRun: boolean; copied: number; planned: { copy: number } };
    expect(plan).toMatchObject({ dryRun: true, copied: 0, planned: { copy: 1 } });
    expect(existsSync(join(work, "local"))).toBe(false);
    // A put into a remote file is refused by the dry run too, not only by the real run.
    files(join(work, "local-src"), { "n.txt": "n\n" });
    const intoFile = await runFtpkit(["sync", "local-src", srv.url("/d/a.txt"), "--dry-run"], { cwd: work });
    expect(intoFile.code).toBe(2);
    expect(intoFile.stderr).toContain("is a file, not a directory");
  });

  test("the counts add up to the entries: directories created are counted (created), in a sync, a single get and a dry run alike", async () => {
    const srv = await ftpkitServer();
    const work = workDir();
    files(join(work, "src"), { "a.txt": "a\n", "sub/b.txt": "b\n", "sub/deeper/c.txt": "c\n" });
    mkdirSync(join(work, "src/empty"));
    interface Report { files: { action: string }[]; copied: number; created: number; skipped: number; deleted: number; failed: number; planned?: { copy: number; mkdir: number; delete: number } }
    const total = (r: Report) => r.copied + r.created + r.skipped + r.deleted + r.failed + (r.planned ? r.planned.copy + r.planned.mkdir + r.planned.delete : 0);
    const dry = JSON.parse((await runFtpkit(["sync", "src", srv.url("/dst"), "--dry-run", "--json"], { cwd: work })).stdout) as Report;
    expect(dry).toMatchObject({ created: 0, planned: { copy: 3, mkdir: 3 } });
    expect(total(dry)).toBe(dry.files.length);
    const run = await runFtpkit(["sync", "src", srv.url("/dst"), "--json"], { cwd: work });
    expect(run.code).toBe(0);
    const first = JSON.parse(run.stdout) as Report;
    expect(first).toMatchObject({ copied: 3, created: 3, failed: 0 });
    expect(total(first)).toBe(first.files.length);
    const again = JSON.parse((await runFtpkit(["sync", "src", srv.url("/dst"), "--json"], { cwd: work })).stdout) as Report;
    expect(again).toMatchObject({ copied: 0, created: 0, skipped: 3 });
    expect(total(again)).toBe(again.files.length);
    const single = JSON.parse((await runFtpkit(["get", srv.url("/dst/a.txt"), "one.txt", "--json"], { cwd: work })).stdout) as Report;
    expect(single).toMatchObject({ copied: 1, created: 0 });
    expect(total(single)).toBe(single.files.length);
  });
});

describe("a spare connection the server never answers", () => {
  test("a tree job whose files are done does not wait for it: it is dropped, and the job ends", async () => {
    const fake = startFakeServer({ files: new Map([["/t/a.txt", Buffer.from("a\n")], ["/t/b.txt", Buffer.from("b\n")]]), feat: ["SIZE"], mutedAfter: 1 });
    owned.later(() => fake.stop());
    const work = workDir();
    // Without the drop the job waited for the muted login (60 s); the run is given 20 s.
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "t", "--parallel", "2", "--no-verify"], { cwd: work, timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(readdirSync(join(work, "t")).sort()).toEqual(["a.txt", "b.txt"]);
  });
});

describe("a listing with a line ftpkit cannot read (a name with a line break)", () => {
  test("the rest is copied, the job says so, and sync --delete deletes nothing in that directory", async () => {
    const fake = startFakeServer({ files: new Map([["/t/a.txt", Buffer.from("a\n")]]), feat: ["SIZE"], listExtra: ["-rw-r--r-- 1 ftp ftp 5 Jan 01 12:00 car\rret.txt"] });
    owned.later(() => fake.stop());
    const work = workDir();
    files(join(work, "dest"), { "old.txt": "mine\n" });
    const r = await runFtpkit(["sync", `ftp://u:p@127.0.0.1:${fake.port}/t`, "dest", "--delete", "--no-verify"], { cwd: work });
    expect(r.stderr).toContain("1 line(s) of its listing could not be read");
    expect(r.code).toBe(0);
    expect(readFileSync(join(work, "dest/a.txt"), "utf8")).toBe("a\n");
    expect(readFileSync(join(work, "dest/old.txt"), "utf8")).toBe("mine\n");
  });

  test("ls lists the rest with one warning (one such name made ls of the directory fail for everyone), --json too", async () => {
    const fake = startFakeServer({ files: new Map([["/t/a.txt", Buffer.from("a\n")]]), feat: ["SIZE"], listExtra: ["-rw-r--r-- 1 ftp ftp 5 Jan 01 12:00 car\rret.txt"] });
    owned.later(() => fake.stop());
    const work = workDir();
    const ls = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/t/`, "--names"], { cwd: work });
    expect(ls.code).toBe(0);
    expect(ls.stdout).toBe("a.txt\n");
    expect(ls.stderr).toContain("[warn] 1 line(s) of the listing could not be read");
    const json = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/t/`, "--json"], { cwd: work });
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { name: string }[]).map((e) => e.name)).toEqual(["a.txt"]);
  });

  test("ls of a directory holding only such a name lists nothing with the warning (no format error)", async () => {
    const fake = startFakeServer({ files: new Map(), emptyDirs: ["/t"], feat: ["SIZE"], listExtra: ["-rw-r--r-- 1 ftp ftp 5 Jan 01 12:00 car\rret.txt"] });
    owned.later(() => fake.stop());
    const ls = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/t/`, "--names"], { cwd: workDir() });
    expect({ code: ls.code, stdout: ls.stdout }).toEqual({ code: 0, stdout: "" });
    expect(ls.stderr).toContain("[warn] 1 line(s) of the listing could not be read (the first: a name with a line break cannot be named in a command)");
  });

  test("a name with a bare LF is left out whole: its first half is not taken for a file of its own", async () => {
    const fake = startFakeServer({ files: new Map([["/t/a.txt", Buffer.from("a\n")]]), feat: ["SIZE"], listExtra: ["-rw-r--r-- 1 ftp ftp 5 Jan 01 12:00 bad\nname"] });
    owned.later(() => fake.stop());
    const work = workDir();
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "dest", "--no-verify"], { cwd: work });
    expect(r.stderr).toContain("1 line(s) of its listing could not be read");
    expect(fake.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR /t/a.txt"]);
    expect(r.code).toBe(0);
    expect(readdirSync(join(work, "dest"))).toEqual(["a.txt"]);
  });
});

describe.skipIf(!vsftpdAvailable())("vsftpd: LIST of a file, of an unreadable directory, and hidden files", () => {
  test("sync --delete from a file or an unreadable directory fails and deletes nothing; dot-files are copied, not deleted", async () => {
    const vs = await startVsftpd();
    owned.later(() => vs.stop());
    const work = workDir();
    files(vs.home, { "t1/a.txt": "a\n", "t1/.hidden": "hidden on the server\n", "t2/locked/k.txt": "k\n" });
    chownTo(vs.home, "ftpbench");
    chmodSync(join(vs.home, "t2/locked"), 0o000);
    const mine = { "precious.txt": "mine\n", "docs/d.txt": "d\n" };
    files(join(work, "g"), mine);
    const fromFile = await runFtpkit(["sync", vs.url("/t1/a.txt"), "g", "--delete"], { cwd: work });
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toContain("is a file, not a directory");
    const fromLocked = await runFtpkit(["sync", vs.url("/t2/locked"), "g", "--delete"], { cwd: work });
    expect(fromLocked.code).toBe(8);
    expect(fromLocked.stderr).toContain("cannot enter");
    expect(snapshot(join(work, "g"))).toEqual({ "precious.txt": expect.any(String), docs: "dir", "docs/d.txt": expect.any(String) });
    expect(readFileSync(join(work, "g/precious.txt"), "utf8")).toBe("mine\n");
    // An unreadable directory inside the tree fails the job instead of being listed as empty.
    const inside = await runFtpkit(["sync", vs.url("/t2"), "t2", "--delete"], { cwd: work });
    expect(inside.code).toBe(8);
    files(join(work, "h"), { ".hidden": "local\n", "only-here.txt": "x\n" });
    const hidden = await runFtpkit(["sync", vs.url("/t1"), "h", "--delete"], { cwd: work });
    expect(hidden.code).toBe(0);
    expect(readFileSync(join(work, "h/.hidden"), "utf8")).toBe("hidden on the server\n");
    expect(readdirSync(join(work, "h")).sort()).toEqual([".hidden", "a.txt"]);
  });

  test("put onto a directory's name (vsftpd answers 553) says to end the URL with /", async () => {
    const vs = await startVsftpd();
    owned.later(() => vs.stop());
    const work = workDir();
    files(vs.home, { "d/x.txt": "x\n" });
    chownTo(vs.home, "ftpbench");
    files(work, { "up.txt": "up\n" });
    const r = await runFtpkit(["put", "up.txt", vs.url("/d")], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is a directory on the server: end the URL with "/" to upload into it');
  });

  test("--checksum without HASH or MFMT: the second sync up copies nothing, as without --checksum", async () => {
    const vs = await startVsftpd();
    owned.later(() => vs.stop());
    const work = workDir();
    files(join(work, "src"), { "a.txt": "a\n", "b.txt": "bb\n" });
    const old = new Date(Date.now() - 3600_000);
    for (const f of ["a.txt", "b.txt"]) utimesSync(join(work, "src", f), old, old);
    expect((await runFtpkit(["sync", "src", vs.url("/up")], { cwd: work })).code).toBe(0);
    const again = await runFtpkit(["sync", "src", vs.url("/up"), "--checksum"], { cwd: work });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("comparing sizes and modification times instead");
    expect(again.stderr).toMatch(/0 copied .* 2 skipped/);
  });
});

describe("sync --checksum, a file the server will not hash", () => {
  test("a HASH refused with 550 for one file copies that file (it may differ); the rest of the sync goes on", async () => {
    const remote = new Map([["/t/a.txt", Buffer.from("AAAA\n")], ["/t/b.txt", Buffer.from("BBBB\n")]]);
    const fake = startFakeServer({ files: remote, feat: ["HASH SHA-256*", "SIZE"], refuseHash: { times: 1, reply: "550 Permission denied." } });
    owned.later(() => fake.stop());
    const work = workDir();
    // Same sizes as the server's, other bytes: only digests tell them apart.
    files(join(work, "dest"), { "a.txt": "aaaa\n", "b.txt": "bbbb\n" });
    const r = await runFtpkit(["sync", `ftp://u:p@127.0.0.1:${fake.port}/t`, "dest", "--checksum", "--json"], { cwd: work });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { files: { path: string; reason: string }[]; copied: number };
    expect(report.copied).toBe(2);
    expect(report.files.find((f) => f.path === "a.txt")?.reason).toBe("no sha256: HASH /t/a.txt: Permission denied. (550)");
    expect(readFileSync(join(work, "dest/a.txt"), "utf8")).toBe("AAAA\n");
    expect(readFileSync(join(work, "dest/b.txt"), "utf8")).toBe("BBBB\n");
  });
  // Same sizes, other bytes at the destination: a 4yz to one file's HASH no longer stops the sync.
  const sameSizes = (fake: { port: number }) => {
    const work = workDir();
    files(join(work, "dest"), { "a.txt": "aaaa\n", "b.txt": "bbbb\n" });
    return { work, run: () => runFtpkit(["sync", `ftp://u:p@127.0.0.1:${fake.port}/t`, "dest", "--checksum", "--json", "--retries", "1"], { cwd: work }) };
  };
  const remoteAB = () => new Map([["/t/a.txt", Buffer.from("AAAA\n")], ["/t/b.txt", Buffer.from("BBBB\n")]]);

  test("a HASH answered 421 (the server closes the session) is asked again on a new connection, and the digests decide", async () => {
    const fake = startFakeServer({ files: remoteAB(), feat: ["HASH SHA-256*", "SIZE"], refuseHash: { times: 1, reply: "421 Shutting down" } });
    owned.later(() => fake.stop());
    const { work, run } = sameSizes(fake);
    const r = await run();
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { files: { path: string; reason: string }[]; copied: number };
    expect(report.files.map((f) => f.reason)).toEqual(["sha256 differs", "sha256 differs"]);
    // Refused, asked again on the new connection, then once more to verify the copy.
    expect(fake.commands.filter((c) => c.startsWith("HASH /t/a.txt"))).toHaveLength(3);
    expect(readFileSync(join(work, "dest/a.txt"), "utf8")).toBe("AAAA\n");
    expect(readFileSync(join(work, "dest/b.txt"), "utf8")).toBe("BBBB\n");
  });

  test("a HASH answered 450 past --retries copies that file (it may differ); the rest of the sync goes on", async () => {
    const fake = startFakeServer({ files: remoteAB(), feat: ["HASH SHA-256*", "SIZE"], refuseHash: { times: 2, reply: "450 Busy, try later" } });
    owned.later(() => fake.stop());
    const { work, run } = sameSizes(fake);
    const r = await run();
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { files: { path: string; reason: string }[]; copied: number };
    expect(report.copied).toBe(2);
    expect(report.files.find((f) => f.path === "a.txt")?.reason).toBe("no sha256: HASH /t/a.txt: Busy, try later (450); gave up after 2 attempts (--retries 1)");
    expect(report.files.find((f) => f.path === "b.txt")?.reason).toBe("sha256 differs");
    expect(readFileSync(join(work, "dest/a.txt"), "utf8")).toBe("AAAA\n");
  });
});
