// An upload written in place (a new name, APPE, REST+STOR) while the shared store loses the usage
// (a Redis restart, an eviction): the next lease measures the home, which already holds the bytes
// the upload wrote so far, and the upload's settlement must not add them a second time — also when
// another node takes that measure ("redis", and "memory": the --workers primary's store).
import { afterEach, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type FtpServer } from "../../server/index.ts";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { userLedgerKey } from "../../server/auth/user-ledger.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { du, random, startUpload } from "../helpers/quota.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { waitFor } from "../helpers/peers.ts";

const KB = 1000;

let redis: RedisProcess | null = null;
let server: FtpServer | null = null;
/** The second node of the two-node cases. */
let nodeB: FtpServer | null = null;
let wires: Wire[] = [];
let root = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await server?.close(0);
  server = null;
  await nodeB?.close(0);
  nodeB = null;
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

async function login(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  return w;
}

/** Wait until the node takes logins again (421 while it cannot reach the store). */
async function reconnected(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const w = await Wire.connect(port);
    const code = (await w.read())?.code;
    w.close();
    if (code === 220) return;
    if (Date.now() > deadline) throw new Error(`the node did not reconnect to the store (${code})`);
    await Bun.sleep(100);
  }
}

const used = async (w: Wire) => Number(/used (\d+)/.exec((await w.cmd("SITE QUOTA")).lines.join(" "))![1]);

test("no limit: SITE QUOTA asked while an upload is written in place measures it, and its end does not add it again", async () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-inplace-"));
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw" }]);
  const home = join(root, "home/alice");
  redis = await startRedis();
  server = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, failedLoginDelayMs: 50, state: redis.url, stateTtlMs: 3000 });
  const { port } = await server.listen();
  const w = await login(port);
  const up = await startUpload(w, "STOR new.bin");
  await up.send(random(300 * KB));
  await waitFor(() => lstatSync(join(home, "new.bin")).size === 300 * KB, 10_000, "300 KB written in place");
  const other = await login(port);
  expect(await used(other)).toBe(300 * KB); // the first question measures the home
  await up.send(random(700 * KB));
  expect(await up.finish()).toBe(226);
  expect(await used(other)).toBe(du(home));
}, 40_000);

for (const verb of ["STOR new.bin", "APPE old.bin", "REST 100000\r\nSTOR old.bin"] as const) {
  test(`${verb.replace("\r\n", " + ")}: bytes written before the store restarted empty are counted once`, async () => {
    root = mkdtempSync(join(tmpdir(), "ftpkit-inplace-"));
    const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota: 10_000 * KB }]);
    const home = join(root, "home/alice");
    writeFileSync(join(home, "old.bin"), random(100 * KB));
    redis = await startRedis();
    server = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, failedLoginDelayMs: 50, state: redis.url, stateTtlMs: 3000 });
    const { port } = await server.listen();
    const w = await login(port);
    const before = du(home);
    expect(await used(w)).toBe(before);
    const lines = verb.split("\r\n");
    for (const l of lines.slice(0, -1)) expect((await w.cmd(l)).code).toBe(350);
    const target = join(home, lines.at(-1)!.split(" ")[1]!);
    const startSize = verb.startsWith("STOR new") ? 0 : 100 * KB;
    const up = await startUpload(w, lines.at(-1)!);
    await up.send(random(300 * KB));
    await waitFor(() => lstatSync(target).size === startSize + 300 * KB, 10_000, "300 KB written in place");
    // The store restarts empty on the same port; the node reconnects.
    const redisPort = redis.port;
    await redis.stop();
    redis = await startRedis(redisPort);
    await reconnected(port);
    await up.send(random(700 * KB));
    expect(await up.finish()).toBe(226);
    const after = du(home);
    const w2 = await login(port);
    expect(await used(w2)).toBe(after);
  }, 40_000);
}

/** SITE QUOTA on `w` once it is `bytes` (the other node's settlement reaches the store after its 226): at most 10 s. */
async function usedBecomes(w: Wire, bytes: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await used(w)) !== bytes) {
    if (Date.now() > deadline) expect(await used(w)).toBe(bytes);
    await Bun.sleep(50);
  }
}

/**
 * Two nodes (`server` is A, `nodeB` is B) sharing one store of `kind`, alice's home holding old.bin
 * (100 KB) and 10 KB files named `extra`; loseUsage(): the store loses her usage (Redis restarts
 * empty on its port and both nodes reconnect; the memory store evicts it).
 */
async function twoNodes(kind: "redis" | "memory", extra: string[]) {
  root = mkdtempSync(join(tmpdir(), "ftpkit-inplace-"));
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota: 10_000 * KB }]);
  const home = join(root, "home/alice");
  writeFileSync(join(home, "old.bin"), random(100 * KB));
  for (const name of extra) writeFileSync(join(home, name), random(10 * KB));
  const store = new MemoryStore();
  if (kind === "redis") redis = await startRedis();
  const shared = kind === "redis" ? { state: redis!.url } : { state: "memory", stateClient: memoryClient(store) };
  const opts = { usersFile, host: "127.0.0.1", port: 0, quiet: true, failedLoginDelayMs: 50, ...shared, stateTtlMs: 3000 };
  server = createServer(opts);
  nodeB = createServer(opts);
  const portA = (await server.listen()).port;
  const portB = (await nodeB.listen()).port;
  const loseUsage = async () => {
    if (kind === "memory") return void store.exec("DEL", [`ftpkit:quota:${userLedgerKey({ name: "alice", home, mounts: [] })}:used`]);
    const redisPort = redis!.port;
    await redis!.stop();
    redis = await startRedis(redisPort);
    await reconnected(portA);
    await reconnected(portB);
  };
  return { home, portA, portB, loseUsage };
}

for (const kind of ["redis", "memory"] as const) {
  test(`${kind}: the usage lost while node A writes in place and measured by node B counts A's bytes once`, async () => {
    const { home, portA, portB, loseUsage } = await twoNodes(kind, []);
    const w = await login(portA);
    expect(await used(w)).toBe(100 * KB);
    const up = await startUpload(w, "STOR new.bin");
    await up.send(random(300 * KB));
    await waitFor(() => lstatSync(join(home, "new.bin")).size === 300 * KB, 10_000, "300 KB written in place");
    await loseUsage();
    // Node B is the first to ask: it measures the home, A's 300 KB so far included.
    const b = await login(portB);
    expect(await used(b)).toBe(400 * KB);
    await up.send(random(700 * KB));
    expect(await up.finish()).toBe(226);
    await usedBecomes(b, du(home));
    expect(du(home)).toBe(1100 * KB);
  }, 40_000);
}

for (const kind of ["redis", "memory"] as const) {
  test(`${kind}: what A had written when its node last saw the usage kept leaves its settlement at once, while B's upload keeps the ledger busy`, async () => {
    const { home, portA, portB, loseUsage } = await twoNodes(kind, ["tiny.bin"]);
    const w = await login(portA);
    const up = await startUpload(w, "STOR new.bin");
    await up.send(random(300 * KB));
    await waitFor(() => lstatSync(join(home, "new.bin")).size === 300 * KB, 10_000, "300 KB written in place");
    // A settles a DELE: its answer shows the usage kept while the upload had 300 KB on disk.
    expect((await (await login(portA)).cmd("DELE tiny.bin")).code).toBe(250);
    const b = await login(portB);
    await usedBecomes(b, 100 * KB);
    await loseUsage();
    const b2 = await login(portB);
    expect(await used(b2)).toBe(400 * KB); // B measures
    // An upload on B holds the ledger: no recount can happen until it ends.
    const upB = await startUpload(b2, "STOR b.bin");
    await upB.send(random(50 * KB));
    await waitFor(() => lstatSync(join(home, "b.bin")).size === 50 * KB, 10_000, "50 KB written on B");
    await up.send(random(700 * KB));
    expect(await up.finish()).toBe(226);
    await usedBecomes(b, du(home));
    expect(du(home)).toBe(1150 * KB);
    expect(await upB.finish()).toBe(226);
    await usedBecomes(b, du(home));
  }, 40_000);
}
