// `ftpkit get URL -` with standard output closed (`>&-`): Bun opens /dev/null in its place, and the
// file went there with exit 0. Told from `>/dev/null` by that descriptor's close-on-exec.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, FTPKIT, removeDir, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

let srv: FtpkitPeer;
let work: string;
beforeAll(async () => {
  srv = await startFtpkitServer();
  writeFileSync(join(srv.home, "a.txt"), "alpha\n");
  work = tempDir("ftpkit-closed-stdout-");
});
afterAll(async () => {
  await srv.stop();
  removeDir(work);
});

/** `ftpkit ARGS` with standard output as the shell redirection `redirect` leaves it. */
async function withStdout(redirect: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn(["sh", "-c", `exec "$@" ${redirect}`, "sh", "bun", FTPKIT, ...args], { cwd: work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stderr };
}

test("get URL - with standard output closed (>&-) is one line, exit 3", async () => {
  const r = await withStdout(">&-", ["get", srv.url("/a.txt"), "-"]);
  expect(r.stderr.trimEnd()).toBe("[error] cannot write to standard output: it was closed (>&-); give a file name instead of -, or send it to /dev/null");
  expect(r.code).toBe(3);
});

test.each([">/dev/null", "1<>/dev/null"])("get URL - %s still goes there, exit 0", async (redirect) => {
  const r = await withStdout(redirect, ["get", srv.url("/a.txt"), "-", "-q"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
});

test("get URL FILE with standard output closed writes the file, exit 0", async () => {
  const r = await withStdout(">&-", ["get", srv.url("/a.txt"), "a.txt", "-q"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(await Bun.file(join(work, "a.txt")).text()).toBe("alpha\n");
});
