// `ftpkit resume --json`: a job killed with -9 and resumed prints the report the job itself prints with
// --json — one file's entry, or a tree's — every file with its digest; several jobs' in one report.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { JobReport } from "../../client/report.ts";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, waitFor } from "../helpers/peers.ts";

setDefaultTimeout(90_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);

/** Files a tree job's done log lists as finished. */
function finishedFiles(cwd: string): number {
  const journal = join(cwd, ".ftpkit", "transfers");
  const log = existsSync(journal) ? readdirSync(journal).find((n) => n.endsWith(".done")) : undefined;
  if (!log) return 0;
  return readFileSync(join(journal, log), "utf8").split("\n").filter((l) => l.includes('"digest"')).length;
}

/** Start each job, wait until `ready()`, then kill -9 them all. */
async function interrupted(jobs: string[][], cwd: string, ready: () => boolean): Promise<void> {
  const procs = jobs.map((args) => spawnFtpkit(args, { cwd }));
  try {
    await waitFor(ready, 30_000, "the jobs to be under way");
  } finally {
    for (const p of procs) p.kill(9);
    await Promise.all(procs.map((p) => p.exited));
  }
}

/** A 512 KiB/s server (so a job can be caught half-way) and a working directory. */
async function setup() {
  const srv = await startFtpkitServer({ maxRate: "512K" });
  cleanups.push(() => srv.stop());
  const cwd = tempDir("ftpkit-resume-json-");
  cleanups.push(() => removeDir(cwd));
  return { srv, cwd };
}

const sha = (path: string) => `sha256:${digest(readFileSync(path))}`;

describe("ftpkit resume --json", () => {
  test("a killed get: the report has the file's one entry, verified, with its digest and the bytes this run moved", async () => {
    const { srv, cwd } = await setup();
    const data = randomFile(join(srv.home, "big.bin"), 1_500_000);
    const part = join(cwd, "big.bin.ftpkit-part");
    await interrupted([["get", srv.url("/big.bin")]], cwd, () => sizeOf(part) >= 200_000);
    const kept = sizeOf(part);
    expect(kept).toBeLessThan(data.length);

    const r = await runFtpkit(["resume", "--json"], { cwd, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as JobReport;
    expect(report).toMatchObject({ copied: 1, failed: 0, skipped: 0, bytesMoved: data.length - kept });
    expect(report.files).toEqual([
      { path: join(cwd, "big.bin"), url: srv.url("/big.bin", { password: false }), action: "copy", reason: "requested", bytes: data.length - kept, digest: `sha256:${digest(data)}`, result: expect.stringMatching(/^verified by /) },
    ]);
    expect(sha(join(cwd, "big.bin"))).toBe(`sha256:${digest(data)}`);
    // stdout is the report alone (no progress or notes mixed in).
    expect(r.stdout.trim().startsWith("{")).toBe(true);
  });

  test("a killed get -r: the tree's report, paths relative to its roots; the files done before are listed with the digest they were verified with", async () => {
    const { srv, cwd } = await setup();
    mkdirSync(join(srv.home, "t"));
    for (let i = 0; i < 8; i++) randomFile(join(srv.home, "t", `f${i}.bin`), 150_000);
    await interrupted([["get", "-r", srv.url("/t"), "t", "--parallel", "2"]], cwd, () => finishedFiles(cwd) >= 2);
    const before = finishedFiles(cwd);
    expect(before).toBeLessThan(8);

    const r = await runFtpkit(["resume", "--json"], { cwd, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as JobReport;
    expect(report.failed).toBe(0);
    expect(report.files.map((f) => f.path)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => `f${i}.bin`));
    for (const f of report.files) {
      expect(f.digest).toBe(sha(join(srv.home, "t", f.path)));
      expect(sha(join(cwd, "t", f.path))).toBe(f.digest!);
      expect(f.result).toMatch(/^(verified by |skipped: done by the interrupted run)/);
    }
    expect(report.skipped).toBe(before);
    expect(report.copied).toBe(8 - before);
  });

  test("a killed get and a killed get -r resumed together: one report of all their files, the tree's under its directory", async () => {
    const { srv, cwd } = await setup();
    // Sizes that keep both jobs under way at the kill, whichever starts late on a loaded machine: the
    // tree's first file is done after ~0.6 s, its last after ~2.4 s, the single file after ~6 s.
    const data = randomFile(join(srv.home, "one.bin"), 3_000_000);
    mkdirSync(join(srv.home, "d"));
    for (let i = 0; i < 4; i++) randomFile(join(srv.home, "d", `g${i}.bin`), 300_000);
    const part = join(cwd, "one.bin.ftpkit-part");
    await interrupted([["get", srv.url("/one.bin")], ["get", "-r", srv.url("/d"), "d", "--parallel", "1"]], cwd, () => sizeOf(part) >= 100_000 && finishedFiles(cwd) >= 1);
    expect((await runFtpkit(["resume", "--list", "--json"], { cwd })).stdout).toContain('"kind": "tree"'); // --list --json is still the list

    const r = await runFtpkit(["resume", "--json"], { cwd, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as JobReport;
    expect(report.failed).toBe(0);
    expect(report.files.map((f) => f.path).sort()).toEqual([join(cwd, "d", "g0.bin"), join(cwd, "d", "g1.bin"), join(cwd, "d", "g2.bin"), join(cwd, "d", "g3.bin"), join(cwd, "one.bin")]);
    for (const f of report.files) expect(f.digest).toBe(sha(f.path));
    expect(report.files.find((f) => f.path === join(cwd, "one.bin"))!.digest).toBe(`sha256:${digest(data)}`);
  });

  test("a resume that fails still prints the report: the file's entry, failed, its error as the job's, and the error on stderr", async () => {
    const { srv, cwd } = await setup();
    randomFile(join(srv.home, "c.bin"), 1_500_000);
    const part = join(cwd, "c.bin.ftpkit-part");
    await interrupted([["get", srv.url("/c.bin")]], cwd, () => sizeOf(part) >= 100_000);
    randomFile(join(srv.home, "c.bin"), 1_400_000); // replaced on the server meanwhile
    const r = await runFtpkit(["resume", "--json"], { cwd, timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    const report = JSON.parse(r.stdout) as JobReport;
    expect(report).toMatchObject({ copied: 0, failed: 1 });
    expect(report.files).toHaveLength(1);
    expect(report.files[0]).toMatchObject({ path: join(cwd, "c.bin"), action: "copy", bytes: 0 });
    expect(report.files[0]!.result).toMatch(/^failed: the remote file changed since the interrupted download/);
    expect(`failed: ${report.error}`).toBe(report.files[0]!.result); // the job's error, as the get's report says it
    expect(r.stderr).toContain("the remote file changed");
  });

  test("SIGTERM during a resume of several jobs: one report (a job finished before it, the file cut short), exit 143", async () => {
    const { srv, cwd } = await setup();
    mkdirSync(join(srv.home, "s"));
    // The tree must outlast the long file's first 100,000 bytes even when its job starts first: with
    // 3 × 100,000 bytes it was once done (its journal gone) before them, and the wait below timed out.
    for (let i = 0; i < 3; i++) randomFile(join(srv.home, "s", `h${i}.bin`), 400_000);
    randomFile(join(srv.home, "long.bin"), 3_000_000);
    const part = join(cwd, "long.bin.ftpkit-part");
    await interrupted([["get", srv.url("/long.bin")], ["get", "-r", srv.url("/s"), "s", "--parallel", "1"]], cwd, () => sizeOf(part) >= 100_000 && finishedFiles(cwd) >= 1);
    const proc = spawnFtpkit(["resume", "--json"], { cwd });
    // Whichever job goes first, the long file's is under way once its part grows again.
    const kept = sizeOf(part);
    await waitFor(() => sizeOf(part) >= kept + 300_000 || existsSync(join(cwd, "long.bin")), 30_000, "the resumed download to move");
    proc.kill("SIGTERM");
    const [stdout, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(exit).toBe(143);
    const report = JSON.parse(stdout) as JobReport;
    expect(report.error).toBe("interrupted by SIGTERM");
    const long = report.files.find((f) => f.path === join(cwd, "long.bin"))!;
    expect(long.result).toBe("failed: interrupted by SIGTERM");
    expect(long.bytes).toBeGreaterThan(0);
    // The tree's files, when its job ran first, are in the report under their directory.
    // The jobs run in the journal's order: the tree's, when it ran first, is in the report whole,
    // its paths under its directory.
    const tree = report.files.filter((f) => f !== long);
    expect([0, 3]).toContain(tree.length);
    for (const f of tree) {
      expect(f.path.startsWith(join(cwd, "s") + "/")).toBe(true);
      expect(f.result).not.toMatch(/^failed/);
      expect(f.digest).toBe(sha(join(srv.home, "s", f.path.slice(join(cwd, "s").length + 1))));
    }
  });

  test("nothing to resume: an empty report, exit 0", async () => {
    const cwd = tempDir("ftpkit-resume-json-none-");
    cleanups.push(() => removeDir(cwd));
    const r = await runFtpkit(["resume", "--json"], { cwd });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ files: [], copied: 0, created: 0, skipped: 0, deleted: 0, failed: 0, bytesMoved: 0 });
  });
});
