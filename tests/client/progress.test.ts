// Progress output: a bar redrawn in place on a terminal, one summary line on a pipe, nothing with --quiet.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { join } from "node:path";
import { Progress } from "../../client/progress.ts";
import { FTPKIT, cleanEnv, digest, randomFile, removeDir, runFtpkit, startPyftpd, tempDir, type Peer } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let peer: Peer;
let work: string;
let sha: string;

beforeAll(async () => {
  peer = await startPyftpd();
  work = tempDir();
  sha = digest(randomFile(join(peer.root, "p.bin"), 3_000_000));
});

afterAll(async () => {
  await peer.stop();
  removeDir(peer.root);
  removeDir(work);
});

/** Run a shell command under a pseudo-terminal (util-linux `script`), returning what it printed. */
async function underPty(cmd: string, cwd: string): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], { cwd, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, out };
}

describe("progress output", () => {
  test("on a terminal: a bar redrawn in place with a percent, a rate and an ETA", async () => {
    const cmd = `bun ${FTPKIT} get '${peer.url("/p.bin")}' tty.bin --limit-rate 3MB`;
    const { code, out } = await underPty(cmd, work);
    expect(code).toBe(0);
    const redraws = out.split("\r").filter((s) => /\d+%/.test(s));
    expect(redraws.length).toBeGreaterThan(3);
    expect(out).toMatch(/\[#+-*\] +\d+% .*\/s ETA \d\d:\d\d/);
    expect(out).toContain("100%");
    expect(out).toContain(sha);
  });

  test("on a pipe: no redraws, one summary line with bytes, time, rate and digest", async () => {
    const r = await runFtpkit(["get", peer.url("/p.bin"), "pipe.bin", "--limit-rate", "6MB"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("\r");
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(new RegExp(`^pipe\\.bin: 3000000 bytes in \\d+\\.\\d s \\([\\d.]+ \\w+/s\\), sha256 ${sha} \\(size verified only\\)$`));
    expect(lines).toHaveLength(2); // plus "server offers no hash; verified size only"
  });

  test("--quiet prints nothing on success", async () => {
    const r = await runFtpkit(["get", peer.url("/p.bin"), "quiet.bin", "--quiet"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("");
  });

  test("redraws are throttled to about ten per second", () => {
    let writes = 0;
    const p = new Progress("x", "tty", 1000, { write: () => writes++, isTTY: true }, 100);
    p.start(0);
    for (let i = 1; i <= 1000; i++) p.update(i);
    expect(writes).toBeLessThanOrEqual(2);
  });
});
