// Names ftpkit itself writes (X.ftpkit-part, X.ftpkit-corrupt, the .ftpkit journal directory) in the
// trees of get -r, put -r and globs: only the job's own are left out unsaid; a user's file of such a
// name is copied, or, where it cannot be (its name is the part file of the file beside it), reported.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, startFtpkitServer, startPyftpd, tempDir } from "../helpers/peers.ts";

setDefaultTimeout(60_000);

interface Report {
  copied: number;
  skipped: number;
  failed: number;
  files: { path: string; action: string; result: string }[];
}

/** Files (not directories) under `root`, as sorted relative paths. */
function filesUnder(root: string): string[] {
  return [...new Bun.Glob("**/*").scanSync({ cwd: root, dot: true, onlyFiles: true })].sort();
}

function write(path: string, text: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

const servers = [
  {
    name: "ftpkit",
    async start() {
      const p = await startFtpkitServer();
      return { home: p.home, url: (x: string) => p.url(x), stop: () => p.stop() };
    },
  },
  {
    name: "pyftpdlib",
    async start() {
      const p = await startPyftpd();
      return { home: p.root, url: (x: string) => p.url(x), stop: async () => (await p.stop(), removeDir(p.root)) };
    },
  },
];

for (const kind of servers) {
  describe(`names ending in .ftpkit-part, .ftpkit-corrupt and .ftpkit directories against ${kind.name}`, () => {
    let s: Awaited<ReturnType<(typeof servers)[number]["start"]>>;
    let work: string;
    beforeAll(async () => {
      s = await kind.start();
      work = tempDir(`ftpkit-leftovers-${kind.name}-`);
    });
    afterAll(async () => {
      await s.stop();
      removeDir(work);
    });

    test("put -r uploads a user's .ftpkit directory and .ftpkit-part file; a part file beside its file is reported as skipped; the job's journal stays home", async () => {
      const proj = join(work, "proj");
      write(join(proj, "sub/.ftpkit/settings.json"), "cfg\n");
      write(join(proj, "report.ftpkit-part"), "p\n");
      write(join(proj, "sub/file.txt"), "x\n");
      write(join(proj, "a.bin"), "whole\n");
      write(join(proj, "a.bin.ftpkit-part"), "wh");
      write(join(proj, ".ftpkit/notes.txt"), "the job's journal directory\n"); // run from proj: its journal lives here
      const r = await runFtpkit(["put", "-r", ".", s.url("/proj"), "--json"], { cwd: proj });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as Report;
      expect(report).toMatchObject({ copied: 4, skipped: 1, failed: 0 });
      expect(report.files.find((f) => f.path === "a.bin.ftpkit-part")).toMatchObject({ action: "skip", result: expect.stringContaining('part file a download of "a.bin"') });
      expect(filesUnder(join(s.home, "proj"))).toEqual(["a.bin", "report.ftpkit-part", "sub/.ftpkit/settings.json", "sub/file.txt"]);
      expect(readFileSync(join(s.home, "proj/sub/.ftpkit/settings.json"), "utf8")).toBe("cfg\n");

      // Without --json the skip is a warning, said once.
      const again = await runFtpkit(["put", "-r", ".", s.url("/proj")], { cwd: proj });
      expect(again.code).toBe(0);
      expect(again.stderr.match(/a\.bin\.ftpkit-part: skipped \(the part file a download of "a\.bin" beside it leaves/g)).toHaveLength(1);

      // A local glob that names them uploads them (a.bin, not matched, is not copied beside its part).
      const globbed = await runFtpkit(["put", "*.ftpkit-part", s.url("/globbed/")], { cwd: proj });
      expect(globbed.code).toBe(0);
      expect(filesUnder(join(s.home, "globbed"))).toEqual(["a.bin.ftpkit-part", "report.ftpkit-part"]);
    });

    test("get -r fetches remote .ftpkit-corrupt files and .ftpkit directories; a remote part-file name beside its file is reported, not fetched over the download's part", async () => {
      const remote = join(s.home, "clash");
      write(join(remote, "a.bin"), "the real a\n");
      write(join(remote, "a.bin.ftpkit-part"), "someone else's\n");
      write(join(remote, "b.ftpkit-corrupt"), "b\n");
      write(join(remote, "sub/.ftpkit/settings.json"), "cfg\n");
      const r = await runFtpkit(["get", "-r", s.url("/clash"), "down", "--json"], { cwd: work });
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as Report;
      expect(report).toMatchObject({ copied: 3, skipped: 1, failed: 0 });
      expect(report.files.find((f) => f.path === "a.bin.ftpkit-part")).toMatchObject({ action: "skip", result: expect.stringContaining("rename it on the server") });
      expect(filesUnder(join(work, "down"))).toEqual(["a.bin", "b.ftpkit-corrupt", "sub/.ftpkit/settings.json"]);
      expect(readFileSync(join(work, "down/a.bin"), "utf8")).toBe("the real a\n");

      // The copies are the destination's entries: a sync finds them there, and --delete leaves the
      // job's own set-aside copy (not on the server) alone.
      write(join(work, "down/a.bin.ftpkit-corrupt"), "a bad download of a.bin\n");
      const again = await runFtpkit(["sync", s.url("/clash"), "down", "--delete", "--json"], { cwd: work });
      expect(again.code).toBe(0);
      const synced = JSON.parse(again.stdout) as Report;
      expect(synced).toMatchObject({ copied: 0, deleted: 0, failed: 0 });
      expect(synced.files.filter((f) => f.result.startsWith("skipped: its name")).map((f) => f.path)).toEqual(["a.bin.ftpkit-part"]);
      expect(filesUnder(join(work, "down"))).toEqual(["a.bin", "a.bin.ftpkit-corrupt", "b.ftpkit-corrupt", "sub/.ftpkit/settings.json"]);
    });

    test("get -r into the working directory leaves a remote .ftpkit at its root out, said, and never writes into the job's journal", async () => {
      const remote = join(s.home, "withjournal");
      write(join(remote, ".ftpkit/transfers/evil.json"), "{}\n");
      write(join(remote, "f.txt"), "f\n");
      const here = join(work, "here");
      mkdirSync(here);
      const r = await runFtpkit(["get", "-r", s.url("/withjournal"), "."], { cwd: here });
      expect(r.code).toBe(0);
      expect(r.stderr.match(/\.ftpkit: skipped \(its local copy would go into the journal directory of this job/g)).toHaveLength(1);
      expect(readFileSync(join(here, "f.txt"), "utf8")).toBe("f\n");
      expect(existsSync(join(here, ".ftpkit/transfers/evil.json"))).toBe(false);
    });

    test("a glob matches remote .ftpkit-part names; one beside a file the glob also fetches is reported", async () => {
      const only = await runFtpkit(["get", s.url("/clash/*.ftpkit-part"), "g"], { cwd: work });
      expect(only.stderr).not.toContain("no remote file matches");
      expect(only.code).toBe(0);
      expect(filesUnder(join(work, "g"))).toEqual(["a.bin.ftpkit-part"]);
      expect(readFileSync(join(work, "g/a.bin.ftpkit-part"), "utf8")).toBe("someone else's\n");

      const both = await runFtpkit(["get", s.url("/clash/a.bin*"), "g2"], { cwd: work });
      expect(both.code).toBe(0);
      expect(both.stderr).toContain("a.bin.ftpkit-part: skipped (its name is that of the part file a download of \"a.bin\" beside it writes locally");
      expect(filesUnder(join(work, "g2"))).toEqual(["a.bin"]);
    });
  });
}
