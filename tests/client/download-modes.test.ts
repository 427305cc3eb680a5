// The permission bits of what a download writes: a new file's come from the umask, as for any new file.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000);

let server: FtpkitPeer;
let work = "";
beforeAll(async () => {
  server = await startFtpkitServer();
  mkdirSync(join(server.home, "t"));
  writeFileSync(join(server.home, "hello.txt"), "hello\n");
  writeFileSync(join(server.home, "t", "a.txt"), "a\n");
});
afterAll(() => server.stop());
beforeEach(() => {
  work = tempDir();
});
afterEach(() => removeDir(work));

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** Run ftpkit under `mask` (the child inherits the umask), the test's own restored after. */
async function underUmask(mask: number, args: string[]) {
  const before = process.umask(mask);
  try {
    return await runFtpkit(args, { cwd: work });
  } finally {
    process.umask(before);
  }
}

describe("a new file", () => {
  test("get under umask 002 gives 0664, as curl and touch do", async () => {
    const r = await underUmask(0o002, ["get", server.url("/hello.txt"), "hello.txt"]);
    expect(r.code).toBe(0);
    expect(modeOf(join(work, "hello.txt"))).toBe(0o664);
  });

  test("get -r under umask 002 gives 0664; under 077, 0600", async () => {
    expect((await underUmask(0o002, ["get", "-r", server.url("/t"), "wide"])).code).toBe(0);
    expect(modeOf(join(work, "wide", "a.txt"))).toBe(0o664);
    expect((await underUmask(0o077, ["get", "-r", server.url("/t"), "narrow"])).code).toBe(0);
    expect(modeOf(join(work, "narrow", "a.txt"))).toBe(0o600);
  });
});
