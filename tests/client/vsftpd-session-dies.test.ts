// vsftpd whose session loses its privileged process mid-transfer (killed here, as an OOM killer or an
// admin would): its unprivileged process finishes the transfer, answers 226, then "500 OOPS:
// priv_sock_send_cmd" unasked, and hangs up. Every byte is there; only the checks after the 226 are
// lost. They are asked again on a new connection (--retries): put never takes the 500 for "this
// server has no SIZE" (exit 0, "not verified"), get never ends "bytes kept, run ftpkit resume".
import { afterEach, beforeEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { digest, randomFile, removeDir, spawnFtpkit, tempDir } from "../helpers/peers.ts";
import { chownTo, startVsftpd, vsftpdAvailable, type SystemFtpd } from "../helpers/system-ftpd.ts";

setDefaultTimeout(60_000); // a real server and CLI processes

/** 2 MB at 1 MiB/s: the transfer lasts about two seconds, long enough to kill the helper during it. */
const SIZE = 2_000_000;
const RATE = ["--limit-rate", "1M"];

let vs: SystemFtpd;
let work: string;
beforeEach(async () => {
  if (!vsftpdAvailable()) return;
  vs = await startVsftpd();
  work = tempDir("ftpkit-vsdies-");
});
afterEach(async () => {
  if (!vsftpdAvailable()) return;
  await vs.stop();
  removeDir(work);
});

/**
 * Run ftpkit with the conversation on stderr (-v) and, once the server has answered the transfer
 * command with 150, kill the session's privileged process (the listener's child) by its PID.
 */
async function runKillingHelper(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const proc = spawnFtpkit([...args, "-v"], { cwd: work });
  const stdout = new Response(proc.stdout).text();
  let stderr = "";
  let killed = false;
  const decoder = new TextDecoder();
  for await (const chunk of proc.stderr) {
    stderr += decoder.decode(chunk, { stream: true });
    if (!killed && /^\[1\] < 150 /m.test(stderr)) {
      killed = true;
      const helpers = Bun.spawnSync(["pgrep", "-P", String(vs.pid)]).stdout.toString().split("\n").filter(Boolean).map(Number);
      expect(helpers).toHaveLength(1); // one session: this one
      process.kill(helpers[0]!, "SIGKILL");
    }
  }
  expect(killed).toBe(true);
  return { code: await proc.exited, stderr, stdout: await stdout };
}

describe.skipIf(!vsftpdAvailable())("vsftpd hangs up after a transfer's 226 (its privileged process died)", () => {
  test("put checks the size on a new connection and exits 0 verified by size, not 'not verified (no size either)'", async () => {
    const data = randomFile(join(work, "up.bin"), SIZE);
    const r = await runKillingHelper(["put", "up.bin", vs.url("up.bin"), "--json", ...RATE]);
    expect(r.stderr).toContain("500 OOPS");
    // Before: exit 0, "the server offers no hash; not verified (no size either)", nothing to resume.
    expect(r.stdout).not.toContain("no size either");
    expect(r.stderr).toMatch(/^\[2\] < 213 2000000$/m); // the size, asked on a new connection
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).files[0].result).toBe("size verified only");
    expect(digest(readFileSync(join(vs.home, "up.bin")))).toBe(digest(data));
  });

  test("put --retries 0 ends resumable (exit 4: only the check is missing), never exit 0 unverified", async () => {
    randomFile(join(work, "up.bin"), SIZE);
    const r = await runKillingHelper(["put", "up.bin", vs.url("up.bin"), ...RATE, "--retries", "0"]);
    expect(r.stderr).toContain("500 OOPS");
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("only their check is missing");
  });

  test("get asks the time again on a new connection and exits 0 with the whole file, not 'bytes kept' (exit 4)", async () => {
    const data = randomFile(join(vs.home, "big.bin"), SIZE);
    chownTo(join(vs.home, "big.bin"), vs.user);
    const r = await runKillingHelper(["get", vs.url("big.bin"), "big.bin", ...RATE]);
    expect(r.stderr).toContain("500 OOPS");
    // Before: "the server closed the control connection; 2000000 bytes kept, run `ftpkit resume` to continue", exit 4.
    expect(r.stderr).not.toContain("bytes kept");
    expect(r.stderr).toContain("reconnecting (attempt 1 of 3)");
    expect(r.stderr).toMatch(/\[2\] > MDTM \/.*big\.bin/);
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(data));
  });
});
