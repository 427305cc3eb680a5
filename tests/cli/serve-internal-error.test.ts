// A bug that throws where nothing catches it (an exception in a callback, a rejection nobody
// handles) is logged, and `ftpkit serve` goes on serving: Bun's default would end the process and
// every session with it. The fault is injected from outside with bun --preload.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";

let serve: ServeProcess | null = null;
let dir: string | null = null;

afterEach(async () => {
  await serve?.kill();
  if (dir) removeDir(dir);
  serve = null;
  dir = null;
});

const FAULT = `
process.on("SIGUSR2", () => {
  setTimeout(() => {
    throw new Error("injected fault");
  }, 0);
  void Promise.reject(new Error("injected rejection"));
});
`;

test("an uncaught exception and an unhandled rejection are logged as internal errors and the server goes on serving", async () => {
  dir = tempDir("ftpkit-internal-error-");
  const fault = join(dir, "fault.ts");
  writeFileSync(fault, FAULT);
  serve = await spawnServe(["--root", dir, "--user", "u:pw"], { cwd: dir, bunArgs: ["--preload", fault] });
  const before = await Wire.connect(serve.port);
  expect((await before.login("u", "pw")).code).toBe(230);
  process.kill(serve.proc.pid, "SIGUSR2");
  const logged = () => (serve!.stdout() + serve!.stderr()).match(/ERROR internal error; the server goes on kind=(exception|rejection) error="injected (fault|rejection)"/g) ?? [];
  const deadline = Date.now() + 10_000;
  while (logged().length < 2 && serve.proc.exitCode === null && Date.now() < deadline) await Bun.sleep(20);
  expect(logged()).toHaveLength(2);
  expect(serve.proc.exitCode).toBeNull();
  // The session that was open before goes on, and a new one logs in.
  expect((await before.cmd("NOOP")).code).toBe(200);
  const after = await Wire.connect(serve.port);
  expect((await after.login("u", "pw")).code).toBe(230);
}, 30_000);
