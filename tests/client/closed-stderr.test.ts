// Standard error closed under a job (`ftpkit get URL f 2>&1 | head -1`, a log reader that died):
// the messages are lost, the job and its exit status are not.
import { afterAll, afterEach, beforeAll, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, FTPKIT, randomFile, removeDir, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000);

let srv: FtpkitPeer;
let work: string;

beforeAll(async () => {
  srv = await startFtpkitServer();
});
afterAll(() => srv.stop());
beforeEach(() => {
  work = tempDir("ftpkit-closed-stderr-");
});
afterEach(() => removeDir(work));

/** The CLI with its stderr a pipe whose reader goes away after the first chunk (or at once). */
async function withStderrClosed(args: string[], opts: { afterFirstChunk: boolean; stdin?: string }): Promise<{ code: number; stdout: string }> {
  const proc = Bun.spawn(["bun", FTPKIT, ...args], { cwd: work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  const reader = proc.stderr.getReader();
  if (opts.afterFirstChunk) await reader.read();
  await reader.cancel();
  const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout };
}

test("a get whose --verbose reader stopped after one line still ends verified, exit 0", async () => {
  const data = randomFile(join(srv.home, "big.bin"), 3_000_000);
  const r = await withStderrClosed(["get", "-v", srv.url("/big.bin"), "big.bin"], { afterFirstChunk: true });
  expect(r.code).toBe(0);
  expect(readFileSync(join(work, "big.bin"))).toEqual(Buffer.from(data));
});

test.each([
  ["get", () => ["get", srv.url("/s.txt"), "s.txt"]],
  ["get -r", () => ["get", "-r", srv.url("/"), "tree"]],
  ["put", () => ["put", "up.txt", srv.url("/up.txt")]],
] as Array<[string, () => string[]]>)("%s with stderr closed before its summary line exits 0", async (_label, args) => {
  writeFileSync(join(srv.home, "s.txt"), "s\n");
  writeFileSync(join(work, "up.txt"), "up\n");
  expect((await withStderrClosed(args(), { afterFirstChunk: false })).code).toBe(0);
});

test("a failed get with stderr closed keeps its own status (8), not 1", async () => {
  expect((await withStderrClosed(["get", srv.url("/missing.txt"), "m.txt"], { afterFirstChunk: false })).code).toBe(8);
});

test("user add with stderr closed writes the user and exits 0", async () => {
  const r = await withStderrClosed(["user", "add", "zed", "--password-stdin", "--users", join(work, "users.ini")], { afterFirstChunk: false, stdin: "pw\n" });
  expect(r.code).toBe(0);
  expect(readFileSync(join(work, "users.ini"), "utf8")).toContain("[zed]");
});
