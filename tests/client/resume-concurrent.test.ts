// Two `ftpkit resume` runs at once: each lists the pending jobs when it starts, so the second can
// finish a job the first has listed and not reached yet. The first then skips it, said as such, and
// never runs it again from its stale record (a tree moved again whole, a login without the saved
// password, a finished file called "replaced since").
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { JobReport } from "../../client/report.ts";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, waitFor } from "../helpers/peers.ts";
import { finishedFiles, snapshot } from "../helpers/trees.ts";

setDefaultTimeout(120_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);

async function killedWhen(args: string[], cwd: string, ready: () => boolean, what: string): Promise<void> {
  const proc = spawnFtpkit(args, { cwd });
  try {
    await waitFor(ready, 60_000, what);
  } finally {
    proc.kill(9);
    await proc.exited;
  }
}

describe("two ftpkit resume runs at once", () => {
  test("jobs the second run finished while the first was busy are skipped by the first (\"finished by another ftpkit resume\"), exit 0, nothing moved twice", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const cwd = tempDir("ftpkit-resume-two-");
    cleanups.push(() => removeDir(cwd));
    const slow = randomFile(join(srv.home, "slow.bin"), 4_000_000);
    const one = randomFile(join(srv.home, "one.bin"), 1_000_000);
    mkdirSync(join(srv.home, "t"));
    for (let i = 0; i < 6; i++) randomFile(join(srv.home, "t", `f${i}.bin`), 100_000);
    const up = randomFile(join(cwd, "up.bin"), 1_000_000);
    const slowPart = join(cwd, "slow.bin.ftpkit-part");
    const onePart = join(cwd, "one.bin.ftpkit-part");
    // Four interrupted jobs, oldest first (resume takes them in that order): the slow download first.
    const rate = ["--limit-rate", "500K"];
    await killedWhen(["get", srv.url("/slow.bin"), ...rate], cwd, () => sizeOf(slowPart) >= 100_000, "the slow download under way");
    await killedWhen(["get", "-r", srv.url("/t"), "t", "--parallel", "1", ...rate], cwd, () => finishedFiles(cwd).length >= 1, "a finished file of the tree");
    await killedWhen(["get", srv.url("/one.bin"), ...rate], cwd, () => sizeOf(onePart) >= 100_000, "the second download under way");
    await killedWhen(["put", "up.bin", srv.url("/up.bin"), ...rate], cwd, () => sizeOf(join(srv.home, "up.bin")) >= 100_000, "the upload under way");
    const kept = sizeOf(slowPart);

    // Run A takes the slow download; stopped while it holds it, so run B lists the same four jobs,
    // is refused the slow one, and finishes the other three before A goes on.
    const a = spawnFtpkit(["resume", "--json", "--limit-rate", "1M"], { cwd });
    let stopped = false;
    cleanups.push(async () => {
      if (stopped) process.kill(a.pid, "SIGCONT");
      a.kill(9);
      await a.exited;
    });
    await waitFor(() => sizeOf(slowPart) > kept, 30_000, "run A to continue the slow download");
    process.kill(a.pid, "SIGSTOP");
    stopped = true;
    const b = await runFtpkit(["resume", "--json", "--limit-rate", "0"], { cwd, timeoutMs: 60_000 });
    expect(b.stderr).toContain(`another ftpkit (pid ${a.pid}) is already transferring`);
    const bReport = JSON.parse(b.stdout) as JobReport;
    expect(bReport.failed).toBe(1);
    expect(bReport.files.find((f) => f.result.startsWith("failed"))?.path).toBe(join(cwd, "slow.bin"));
    expect(digest(readFileSync(join(cwd, "one.bin")))).toBe(digest(one));
    expect(digest(readFileSync(join(srv.home, "up.bin")))).toBe(digest(up));
    expect(snapshot(join(cwd, "t"))).toEqual(snapshot(join(srv.home, "t")));

    process.kill(a.pid, "SIGCONT");
    stopped = false;
    const [out, err, code] = await Promise.all([new Response(a.stdout).text(), new Response(a.stderr).text(), a.exited]);
    expect(err).toBe(""); // --json: the report says it all
    expect(code).toBe(0);
    const report = JSON.parse(out) as JobReport;
    const finishedElsewhere = { action: "skip" as const, reason: "finished by another ftpkit resume", bytes: 0, result: "skipped: finished by another ftpkit resume" };
    expect(report.files).toEqual([
      { path: join(cwd, "one.bin"), url: srv.url("/one.bin", { password: false }), ...finishedElsewhere },
      { path: join(cwd, "slow.bin"), url: srv.url("/slow.bin", { password: false }), action: "copy", reason: "requested", bytes: slow.length - kept, digest: `sha256:${digest(slow)}`, result: expect.stringMatching(/^verified by /) },
      { path: join(cwd, "t"), ...finishedElsewhere },
      { path: join(cwd, "up.bin"), url: srv.url("/up.bin", { password: false }), ...finishedElsewhere },
    ]);
    expect(report).toMatchObject({ copied: 1, skipped: 3, failed: 0, bytesMoved: slow.length - kept });
    expect(digest(readFileSync(join(cwd, "slow.bin")))).toBe(digest(slow));
    expect((await runFtpkit(["resume", "--list"], { cwd })).stdout).toMatch(/^nothing to resume/);
  });
});
