// A user's quota counts the directories it covers now. Her home changed by a hand edit of the users
// file (the server reloads it), by `user del` + `user add --home`, or a mount added by `user mount`
// while a session under the old layout stays open: new logins kept the old count (SITE QUOTA said
// 150,000 used in a new home holding 900,000, and 1,744,096 bytes were stored under a 1 MB quota),
// on one server and across nodes sharing --state; moved to an empty home, she was refused with 552.
import { afterEach, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userLedgerKey } from "../../server/auth/user-ledger.ts";
import { createServer, type FtpServer } from "../../server/index.ts";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { cleanEnv, FTPKIT } from "../helpers/peers.ts";
import { du, finalCode, random } from "../helpers/quota.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const KB = 1000;
const QUOTA = 1000 * KB;

let servers: FtpServer[] = [];
let wires: Wire[] = [];
let redis: RedisProcess | null = null;
let root = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

/**
 * Directories under a temp root, each holding one file `NAME.bin` of its size (so a login can tell
 * which one it got); alice (quota 1 MB) has the first as her home. `nodes` servers share the users
 * file (and, when `shared`, a redis-server's state or the --workers primary's memory store).
 */
async function start(places: Record<string, number>, opts: { nodes?: number; shared?: "redis" | "memory" } = {}) {
  root = mkdtempSync(join(tmpdir(), "ftpkit-layout-"));
  const dir = (name: string) => join(root, name);
  for (const [name, bytes] of Object.entries(places)) {
    mkdirSync(dir(name));
    writeFileSync(join(dir(name), `${name}.bin`), random(bytes));
  }
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota: QUOTA, home: dir(Object.keys(places)[0]!) }]);
  if (opts.shared === "redis") redis = await startRedis();
  const store = new MemoryStore();
  const state = opts.shared === "redis" ? { state: redis!.url } : opts.shared === "memory" ? { state: "memory", stateClient: memoryClient(store) } : {};
  for (let i = 0; i < (opts.nodes ?? 1); i++) {
    const s = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, failedLoginDelayMs: 50, ...state });
    await s.listen();
    servers.push(s);
  }
  return { usersFile, dir, ports: servers.map((s) => s.address.port) };
}

async function login(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  expect((await w.cmd("TYPE I")).code).toBe(200);
  return w;
}

/** A new login once the server has reloaded the users file: one that finds `path` (SIZE), polled for up to 10 s. */
async function loginSeeing(port: number, path: string): Promise<Wire> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const w = await Wire.connect(port);
    wires.push(w);
    if ((await w.login("alice", "alice-pw")).code === 230 && (await w.cmd("TYPE I")).code === 200 && (await w.cmd(`SIZE ${path}`)).code === 213) return w;
    w.close();
    if (Date.now() > deadline) throw new Error(`no login found ${path} within 10 s`);
    await Bun.sleep(50); // the users file's change event has not reached the server yet
  }
}

const used = async (w: Wire) => Number(/home: used (\d+) /.exec((await w.cmd("SITE QUOTA")).lines.join("\n"))?.[1]);

/** `ftpkit user ARGS --users FILE`, feeding `stdin`; must succeed. */
async function user(usersFile: string, args: string[], stdin = ""): Promise<void> {
  const proc = Bun.spawn(["bun", FTPKIT, "user", ...args, "--users", usersFile], { cwd: root, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: new Blob([stdin]), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, new Response(proc.stdout).text()]);
  clearTimeout(timer);
  expect({ code, stderr }).toMatchObject({ code: 0 });
}

/** Set alice's home in the users file by hand (the server's watcher reloads it). */
function editHome(usersFile: string, to: string): void {
  const text = readFileSync(usersFile, "utf8");
  expect(text).toMatch(/^home = /m);
  writeFileSync(usersFile, text.replace(/^home = .*$/m, `home = ${to}`));
}

for (const shared of [undefined, "redis", "memory"] as const) {
  const kind = shared ? `two nodes sharing the ${shared} store` : "one server";
  test(`${kind}: a home changed by a hand edit is counted at the next login (552 past the limit there), while a session under the old home keeps its own`, async () => {
    const { usersFile, dir, ports } = await start({ small: 150 * KB, full: 900 * KB }, shared ? { nodes: 2, shared } : {});
    const old = await login(ports[0]!);
    expect(await used(old)).toBe(150 * KB);
    editHome(usersFile, dir("full"));
    // On the other node when there are two: it must not take the old home's count from the store either.
    const w = await loginSeeing(ports.at(-1)!, "full.bin");
    expect(await used(w)).toBe(900 * KB);
    expect(finalCode(await w.transfer("STOR more.bin", random(200 * KB)))).toBe(552);
    expect(du(dir("full"))).toBeLessThanOrEqual(QUOTA);
    // The session opened before the edit still has the old home, and its count.
    expect((await old.cmd("SIZE small.bin")).code).toBe(213);
    expect(await used(old)).toBe(150 * KB);
    if (!redis) return;
    // Two ledgers in the store, the old home's and the new one's, and neither kept for ever: the old
    // one's keys expire as any idle ledger's do once no node renews them.
    const client = new RedisClient(redis.url);
    try {
      const keys = (await client.send("KEYS", ["ftpkit:quota:user:alice:*"])) as string[];
      expect(keys.filter((k) => k.endsWith(":used")).length).toBe(2);
      for (const k of keys) expect(Number(await client.send("PTTL", [k]))).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  }, 30_000);
}

test("moved by a hand edit from a full home to an empty one: the next login may store there (no false 552)", async () => {
  const { usersFile, dir, ports } = await start({ full: 950 * KB, empty: 0 });
  const old = await login(ports[0]!);
  expect(finalCode(await old.transfer("STOR more.bin", random(200 * KB)))).toBe(552);
  editHome(usersFile, dir("empty"));
  const w = await loginSeeing(ports[0]!, "empty.bin");
  expect(finalCode(await w.transfer("STOR more.bin", random(200 * KB)))).toBe(226);
  expect(await used(w)).toBe(200 * KB);
}, 30_000);

test("user del, then user add --home OTHER: the next login counts the other home (552 past the limit there)", async () => {
  const { usersFile, dir, ports } = await start({ small: 150 * KB, full: 900 * KB });
  const old = await login(ports[0]!);
  expect(await used(old)).toBe(150 * KB);
  await user(usersFile, ["del", "alice"]);
  await user(usersFile, ["add", "alice", "--home", dir("full"), "--quota", String(QUOTA), "--password-stdin"], "alice-pw\n");
  const w = await loginSeeing(ports[0]!, "full.bin");
  expect(await used(w)).toBe(900 * KB);
  expect(finalCode(await w.transfer("STOR more.bin", random(200 * KB)))).toBe(552);
  expect(du(dir("full"))).toBeLessThanOrEqual(QUOTA);
}, 30_000);

test("user mount of a directory already holding 900 KB, charged to the user: the next login counts it (552 in the home past the limit)", async () => {
  const { usersFile, dir, ports } = await start({ home: 150 * KB, data: 900 * KB });
  const old = await login(ports[0]!);
  expect(await used(old)).toBe(150 * KB);
  await user(usersFile, ["mount", "alice", "/data", dir("data"), "--perm", "read,write,modify"]);
  const w = await loginSeeing(ports[0]!, "/data/data.bin");
  expect(await used(w)).toBe(1050 * KB);
  expect(finalCode(await w.transfer("STOR /more.bin", random(20 * KB)))).toBe(552);
  expect(du(dir("home")) + du(dir("data"))).toBe(1050 * KB);
}, 30_000);

test("the user ledger's name follows what it counts: home (an object store's bucket and prefix too) and writable mounts without a limit of their own", () => {
  const rw = ["read", "write"];
  const key = (home: string, mounts: Array<{ dir: string; quota: number; perms: string[] }> = []) => userLedgerKey({ name: "alice", home, mounts });
  const base = key("/srv/a", [{ dir: "/srv/x", quota: 0, perms: rw }, { dir: "/srv/y", quota: 0, perms: rw }]);
  expect(base).toStartWith("user:alice:");
  // The same places in another order: the same ledger.
  expect(key("/srv/a", [{ dir: "/srv/y", quota: 0, perms: rw }, { dir: "/srv/x", quota: 0, perms: rw }])).toBe(base);
  // Not counted by the user's ledger (read-only, or limited on its own): its name does not change.
  expect(key("/srv/a", [{ dir: "/srv/x", quota: 0, perms: rw }, { dir: "/srv/y", quota: 0, perms: rw }, { dir: "/pub", quota: 0, perms: ["read"] }, { dir: "/box", quota: 5, perms: rw }])).toBe(base);
  for (const other of [key("/srv/b", [{ dir: "/srv/x", quota: 0, perms: rw }, { dir: "/srv/y", quota: 0, perms: rw }]), key("/srv/a", [{ dir: "/srv/x", quota: 0, perms: rw }]), key("/srv/x", [{ dir: "/srv/a", quota: 0, perms: rw }, { dir: "/srv/y", quota: 0, perms: rw }])]) expect(other).not.toBe(base);
  expect(key("s3://bucket/alice")).not.toBe(key("s3://bucket/alice2"));
  expect(key("s3://bucket/alice")).not.toBe(key("s3://other/alice"));
});

// Two nodes reading one users file by two spellings (a symbolic link to its directory), its home
// relative to it: the ledger was named for the text of the path, two ledgers in the store, and
// alice stored 1,400,000 bytes under 1 MB, 700,000 through each node (one ledger before 9fb6115).
test("two nodes naming one home by two paths (a symbolic link) share one ledger: the second upload past the limit is 552", async () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-layout-"));
  mkdirSync(join(root, "home/alice"), { recursive: true });
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota: QUOTA, home: "home/alice" }]);
  symlinkSync(root, join(root, "link"));
  redis = await startRedis();
  for (const file of [usersFile, join(root, "link", "users.ini")]) {
    const s = createServer({ usersFile: file, host: "127.0.0.1", port: 0, quiet: true, failedLoginDelayMs: 50, state: redis.url });
    await s.listen();
    servers.push(s);
  }
  const [a, b] = await Promise.all(servers.map((s) => login(s.address.port)));
  expect(finalCode(await a!.transfer("STOR first.bin", random(700 * KB)))).toBe(226);
  expect(finalCode(await b!.transfer("STOR second.bin", random(700 * KB)))).toBe(552);
  expect(du(join(root, "home/alice"))).toBeLessThanOrEqual(QUOTA);
}, 30_000);

test("the ledger's name is the same for a home named through a symbolic link, and for one not made yet under it", () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-layout-"));
  mkdirSync(join(root, "real/alice"), { recursive: true });
  symlinkSync(join(root, "real"), join(root, "link"));
  const key = (home: string) => userLedgerKey({ name: "alice", home, mounts: [] });
  expect(key(join(root, "link/alice"))).toBe(key(join(root, "real/alice")));
  expect(key(join(root, "link/bob/deeper"))).toBe(key(join(root, "real/bob/deeper")));
  expect(key(join(root, "real/bob"))).not.toBe(key(join(root, "real/alice")));
});
