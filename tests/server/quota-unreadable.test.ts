// The quota's measure of a home holding a folder the server's account may not read (root's, 0700,
// the server running as nobody): it counts what it can, and one WARN says the figure is short and
// how many folders it left out. It left them out silently: SITE QUOTA under-counted, nothing logged.
import { afterEach, expect, spyOn, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { tempDir, waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

// Root passes every permission check: the server runs as nobody then (setpriv), as a service user would.
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const t = cleanedAfterEach();
const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

test.skipIf(!isRoot)("a folder the server cannot read is left out of the quota's measure with one WARN naming the user, the place and the folders skipped", async () => {
  t.dir = tempDir("ftpkit-quota-unreadable-");
  chownSync(t.dir, NOBODY, NOBODY);
  const home = join(t.dir, "home");
  mkdirSync(home);
  chownSync(home, NOBODY, NOBODY);
  writeFileSync(join(home, "mine.bin"), Buffer.alloc(1000));
  chownSync(join(home, "mine.bin"), NOBODY, NOBODY);
  for (const name of ["locked", "sealed"]) {
    mkdirSync(join(home, name));
    writeFileSync(join(home, name, "big.bin"), Buffer.alloc(50_000));
    chmodSync(join(home, name), 0o700); // root's
  }
  const users = await makeUsersFile(t.dir, [{ name: "u", password: "pw", home, quota: 1_000_000 }]);
  chownSync(users, NOBODY, NOBODY);
  t.srv = await spawnServe(["--users", users], { cwd: t.dir, uid: NOBODY, timeoutMs: 30_000 });
  const w = await Wire.connect(t.srv.port);
  t.wires.push(w);
  await w.login("u", "pw");
  const quota = (await w.cmd("SITE QUOTA")).lines.join("\n");
  expect(quota).toMatch(/used 1000 /); // what it could read, the rest is not the server's to see
  expect(quota).not.toContain(t.dir); // the client sees virtual terms only
  const log = () => t.srv!.stdout() + t.srv!.stderr();
  await waitFor(() => /quota measure incomplete/.test(log()), 10_000, "the warning");
  const lines = log().split("\n").filter((l) => l.includes("quota measure incomplete"));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain("WARN");
  expect(lines[0]).toContain("user=u");
  expect(lines[0]).toContain("mount=/");
  expect(lines[0]).toContain(`place=${home}`);
  expect(lines[0]).toContain("folders=2");
}, 60_000);

test("a measure that fails for a passing reason (out of descriptors) leaves the quota unmeasured: an upload is 451 until one succeeds, never counted from 0", async () => {
  const srv = await startTestServer({ users: [{ name: "alice", password: "alice-pw", quota: 1_000_000 }] });
  servers.push(srv);
  mkdirSync(join(srv.home("alice"), "full"));
  writeFileSync(join(srv.home("alice"), "full", "big.bin"), Buffer.alloc(990_000));
  // Only the usage walk lists with file types: while the server is "out of descriptors", it fails.
  const real = fsp.readdir;
  let refusing = true;
  const readdir = spyOn(fsp, "readdir").mockImplementation(((path: string, opts: unknown) => {
    if (typeof opts === "object" && refusing) return Promise.reject(Object.assign(new Error("EMFILE: too many open files"), { code: "EMFILE" }));
    return real(path, opts as never);
  }) as never);
  try {
    const w = await Wire.connect(srv.port);
    await w.login("alice", "alice-pw");
    // Under-counted (the folder skipped), 990,000 bytes went unseen and this upload was let in.
    const { first } = await w.transfer("STOR more.bin", Buffer.alloc(20_000));
    expect(first.code).toBe(451);
    expect(first.lines.join("\n")).toContain("Cannot measure the space in use now");
    // Once it can, the next upload measures again, and finds the quota all but used.
    refusing = false;
    const again = await w.transfer("STOR more.bin", Buffer.alloc(20_000));
    expect(again.first.code).toBe(150);
    expect(again.final?.code).toBe(552);
    const used = Number(/used (\d+) /.exec((await w.cmd("SITE QUOTA")).lines.join("\n"))?.[1]);
    expect(used).toBeGreaterThanOrEqual(990_000);
    w.close();
  } finally {
    readdir.mockRestore();
  }
}, 60_000);
