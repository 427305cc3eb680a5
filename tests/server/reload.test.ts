// Hot reload of users.ini: `ftpkit user …` edits reach new logins without a restart; a corrupt
// edit keeps the previous users.
import { afterEach, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { cleanEnv, FTPKIT } from "../helpers/peers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

let ts: TestServer | null = null;
const wires: Wire[] = [];

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await ts?.stop();
  ts = null;
});

/** Run `ftpkit user ARGS --users <file>`, feeding `stdin`; killed after 20 s. */
async function user(args: string[], stdin = ""): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn(["bun", FTPKIT, "user", ...args, "--users", ts!.usersFile], {
    cwd: ts!.root,
    env: { ...cleanEnv(), NO_COLOR: "1" },
    stdin: new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
  clearTimeout(timer);
  return { code, stderr };
}

/** A fresh connection's login result code. */
async function loginCode(name: string, password: string): Promise<number> {
  const w = await Wire.connect(ts!.port);
  wires.push(w);
  const r = await w.login(name, password);
  w.close();
  return r.code;
}

async function loggedIn(name: string, password: string): Promise<Wire> {
  const w = await Wire.connect(ts!.port);
  wires.push(w);
  expect((await w.login(name, password)).code).toBe(230);
  return w;
}

test("user add: the new user can log in without a restart", async () => {
  ts = await startTestServer();
  expect(await loginCode("carol", "carol-pw")).toBe(530);
  const r = await user(["add", "carol", "--password-stdin"], "carol-pw\n");
  expect(r.code).toBe(0);
  expect(await loginCode("carol", "carol-pw")).toBe(230);
  expect(await loginCode("alice", "alice-pw")).toBe(230);
}, 60_000);

test("user passwd: the old password stops working, the new one works", async () => {
  ts = await startTestServer();
  expect(await loginCode("alice", "alice-pw")).toBe(230); // now cached as verified
  expect((await user(["passwd", "alice", "--password-stdin"], "new-pw\n")).code).toBe(0);
  expect(await loginCode("alice", "alice-pw")).toBe(530);
  expect(await loginCode("alice", "new-pw")).toBe(230);
}, 60_000);

test("user del: the user can no longer log in; a session already open is not affected", async () => {
  ts = await startTestServer();
  const open = await loggedIn("alice", "alice-pw");
  expect((await user(["del", "alice"])).code).toBe(0);
  expect(await loginCode("alice", "alice-pw")).toBe(530);
  expect((await open.cmd("PWD")).code).toBe(257);
}, 60_000);

test("user quota: a new login is held to the new quota", async () => {
  ts = await startTestServer();
  expect((await user(["quota", "alice", "1KB"])).code).toBe(0);
  const w = await loggedIn("alice", "alice-pw");
  await w.cmd("TYPE I");
  // The fixture home already holds a little; 64 KB is over 1 KB anyway.
  const { first, final } = await w.transfer("STOR big.bin", new Uint8Array(64 * 1024));
  expect([first.code, final?.code]).toContain(552);
}, 60_000);

test("a corrupt users.ini keeps serving the old users; fixing it loads the new ones", async () => {
  ts = await startTestServer();
  const good = readFileSync(ts.usersFile, "utf8");
  writeFileSync(ts.usersFile, good + "\n[broken\npassword = \n");
  expect(await loginCode("alice", "alice-pw")).toBe(230);
  expect(await loginCode("alice", "wrong")).toBe(530);
  // Truncated to garbage: still the old users.
  writeFileSync(ts.usersFile, "\u0000\u0001garbage = = =\n[alice]\nhome\n");
  expect(await loginCode("alice", "alice-pw")).toBe(230);
  // Repaired with a new user added by the CLI: both work.
  writeFileSync(ts.usersFile, good);
  expect((await user(["add", "dave", "--password-stdin"], "dave-pw\n")).code).toBe(0);
  expect(await loginCode("dave", "dave-pw")).toBe(230);
  expect(await loginCode("alice", "alice-pw")).toBe(230);
}, 60_000);

test("a hand edit that renames a user is picked up", async () => {
  ts = await startTestServer();
  expect(await loginCode("alice", "alice-pw")).toBe(230);
  const text = readFileSync(ts.usersFile, "utf8");
  writeFileSync(ts.usersFile, text.replace("[alice]", "[alicia]"));
  // The edit reaches the server through a file-change event: wait for it (bounded), not a fixed time.
  const deadline = Date.now() + 10_000;
  let code = await loginCode("alicia", "alice-pw");
  while (code !== 230 && Date.now() < deadline) code = await loginCode("alicia", "alice-pw");
  expect(code).toBe(230);
  expect(await loginCode("alice", "alice-pw")).toBe(530);
}, 60_000);
