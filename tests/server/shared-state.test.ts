// The same contract for every SharedState implementation (issue 12): limits and quotas hold across
// nodes as if they were one server. "local": one server (every "node" is the same one); "redis":
// separate servers in this process, each its own node, sharing one redis-server and one directory;
// "memory": the same, sharing the store that `--workers` keeps in its primary process.
import { afterEach, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type CreateServerOptions, type FtpServer } from "../../server/index.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { CONN_CLOSE, CONN_OPEN, LEASE, NODE_GONE, SET_USED, SETTLE } from "../../server/state/scripts.ts";
import { RedisLedger } from "../../server/state/redis-ledger.ts";
import { RedisRates } from "../../server/state/redis-rates.ts";
import { RUN_TAG_ENV } from "../../server/state/node-id.ts";
import { RedisClient } from "bun";
import { RedisState } from "../../server/state/redis.ts";
import { lockedKeys, withKeys } from "../../server/storage/s3-key-lock.ts";
import { StorageError } from "../../server/storage/backend.ts";
import { makeUsersFile, type UserSpec } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { du, random, finalCode } from "../helpers/quota.ts";
import { captureLogger } from "../tls/helpers.ts";
import { waitFor } from "../helpers/peers.ts";

const KB = 1000;


let redis: RedisProcess | null = null;
let servers: FtpServer[] = [];
let wires: Wire[] = [];
let root = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

/** `n` nodes serving one directory: ports (for "local" every port is the same server's). */
async function cluster(
  kind: "local" | "redis" | "memory",
  n: number,
  quota: number,
  options: Partial<CreateServerOptions> = {},
  users: UserSpec[] = [{ name: "alice", password: "alice-pw", quota }],
): Promise<{ ports: number[]; home: string }> {
  root = mkdtempSync(join(tmpdir(), "ftpkit-state-"));
  const usersFile = await makeUsersFile(root, users);
  if (kind === "redis") redis = await startRedis();
  const memory = kind === "memory" ? new MemoryStore() : null;
  const shared = memory ? { state: "memory", stateClient: memoryClient(memory) } : { state: redis?.url };
  const count = kind === "local" ? 1 : n;
  for (let i = 0; i < count; i++) {
    const s = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: !process.env.DEBUG_STATE, failedLoginDelayMs: 50, ...shared, stateTtlMs: 3000, ...options });
    await s.listen();
    servers.push(s);
  }
  const ports = Array.from({ length: n }, (_, i) => servers[i % servers.length]!.address.port);
  return { ports, home: join(root, "home/alice") };
}

async function connect(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  return w;
}

async function login(port: number, password = "alice-pw", user = "alice"): Promise<{ w: Wire; code: number }> {
  const w = await connect(port);
  const r = await w.login(user, password);
  return { w, code: r.code };
}

/** Ask `check` again (a command round trip each time) until it holds, for at most 5 s. */
async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the condition");
    await Bun.sleep(20);
  }
}

for (const kind of ["local", "redis", "memory"] as const) {
  describe(`shared state: ${kind}`, () => {
    test("6 sessions of one user on 3 nodes upload at once: the quota holds and the crossing uploads get 552", async () => {
      const { ports, home } = await cluster(kind, 3, 1000 * KB);
      const sessions = await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => (await login(ports[i % 3]!)).w));
      const results = await Promise.all(sessions.map((w, i) => w.transfer(`STOR part${i}.bin`, random(400 * KB))));
      const codes = results.map(finalCode);
      expect(codes.every((c) => c === 226 || c === 552)).toBe(true);
      expect(codes.filter((c) => c === 552).length).toBeGreaterThanOrEqual(4);
      expect(du(home)).toBeLessThanOrEqual(1000 * KB);
      // Every node then agrees on what is left.
      for (const port of ports) {
        const { w } = await login(port);
        const r = await w.cmd("AVBL");
        expect(Number(r.lines[0])).toBe(1000 * KB - du(home));
      }
    }, 30_000);

    test("bytes freed on one node (DELE) can be used on another", async () => {
      const { ports } = await cluster(kind, 2, 500 * KB);
      const a = (await login(ports[0]!)).w;
      expect(finalCode(await a.transfer("STOR a.bin", random(400 * KB)))).toBe(226);
      const b = (await login(ports[1]!)).w;
      expect(finalCode(await b.transfer("STOR b.bin", random(400 * KB)))).toBe(552);
      expect((await a.cmd("DELE a.bin")).code).toBe(250);
      expect(finalCode(await b.transfer("STOR b.bin", random(400 * KB)))).toBe(226);
    }, 20_000);

    test("after 8 parallel uploads on one node end, no lease stays held: another node sees all the rest", async () => {
      const { ports, home } = await cluster(kind, 2, 200_000 * KB);
      const sessions = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async () => (await login(ports[0]!)).w));
      const codes = (await Promise.all(sessions.map((w, i) => w.transfer(`STOR big${i}.bin`, random(4000 * KB))))).map(finalCode);
      expect(codes).toEqual([226, 226, 226, 226, 226, 226, 226, 226]);
      expect(du(home)).toBe(32_000 * KB);
      // Leases are taken ahead of need while uploads run; what is left of them goes back when they end.
      for (const port of [ports[1]!, ports[0]!]) {
        const { w } = await login(port);
        expect(Number((await w.cmd("AVBL")).lines[0])).toBe(200_000 * KB - du(home));
      }
    }, 30_000);

    test("one directory mounted with 100 KB for anonymous and 200 KB for bob, on two nodes: each mount's limit holds, the usage is shared", async () => {
      const drop = (vpath: string, quota: number, perms: UserSpec["perms"] & {}) => [{ vpath, dir: "home/incoming", perms, quota }];
      const users: UserSpec[] = [
        // read too, so AVBL shows the box's usage (a write-only box shows none: drop-box-privacy.test.ts).
        { name: "anonymous", home: "home/anon", perms: ["read"], mounts: drop("/incoming", 100 * KB, ["read", "write"]) },
        { name: "bob", password: "bob-pw", home: "home/bob", mounts: drop("/rw", 200 * KB, ["read", "write", "modify"]) },
      ];
      const { ports } = await cluster(kind, 2, 0, {}, users);
      const dir = join(root, "home/incoming");
      mkdirSync(dir);
      const avbl = async (w: Wire, path: string) => Number((await w.cmd(`AVBL ${path}`)).lines[0]);
      // Anonymous and bob on one node (one ledger seen through two limits), bob on the other too.
      const anon = (await login(ports[0]!, "guest@", "anonymous")).w;
      const bob = (await login(ports[0]!, "bob-pw", "bob")).w;
      const bob2 = (await login(ports[1]!, "bob-pw", "bob")).w;
      expect(await avbl(anon, "/incoming")).toBe(100 * KB);
      expect(await avbl(bob, "/rw")).toBe(200 * KB);
      expect(finalCode(await bob.transfer("STOR /rw/a.bin", random(80 * KB)))).toBe(226);
      expect(finalCode(await anon.transfer("STOR /incoming/b.bin", random(30 * KB)))).toBe(552);
      expect(du(dir)).toBeLessThanOrEqual(100 * KB);
      expect(finalCode(await bob2.transfer("STOR /rw/c.bin", random(100 * KB)))).toBe(226);
      expect(du(dir)).toBeLessThanOrEqual(200 * KB);
      expect(await avbl(anon, "/incoming")).toBe(0);
      expect(finalCode(await anon.transfer("STOR /incoming/d.bin", random(1 * KB)))).toBe(552);
      expect(await avbl(bob, "/rw")).toBe(200 * KB - du(dir));
    }, 20_000);

    test("a 100 KB box mounted without a limit by bob on another node: bob's bytes count in the box, and come back when he deletes them", async () => {
      const users: UserSpec[] = [
        // read too, so AVBL shows the box's usage (a write-only box shows none: drop-box-privacy.test.ts).
        { name: "anonymous", home: "home/anon", perms: ["read"], mounts: [{ vpath: "/incoming", dir: "home/incoming", perms: ["read", "write"], quota: 100 * KB }] },
        { name: "bob", password: "bob-pw", home: "home/bob", mounts: [{ vpath: "/rw", dir: "home/incoming", perms: ["read", "write", "modify"], quota: 0 }] },
      ];
      const { ports } = await cluster(kind, 2, 0, {}, users);
      const dir = join(root, "home/incoming");
      mkdirSync(dir);
      const anon = (await login(ports[0]!, "guest@", "anonymous")).w;
      expect(Number((await anon.cmd("AVBL /incoming")).lines[0])).toBe(100 * KB);
      const bob = (await login(ports[1]!, "bob-pw", "bob")).w;
      expect(finalCode(await bob.transfer("STOR /rw/a.bin", random(80 * KB)))).toBe(226);
      // The settlement reaches the store after the 226: wait for the box to see it.
      await waitUntil(async () => Number((await anon.cmd("AVBL /incoming")).lines[0]) === 20 * KB);
      expect(finalCode(await anon.transfer("STOR /incoming/b.bin", random(60 * KB)))).toBe(552);
      expect(du(dir)).toBeLessThanOrEqual(100 * KB);
      for (const name of readdirSync(dir).filter((n) => n.endsWith(".bin"))) expect((await bob.cmd(`DELE /rw/${name}`)).code).toBe(250);
      await waitUntil(async () => Number((await anon.cmd("AVBL /incoming")).lines[0]) === 100 * KB);
      expect(finalCode(await anon.transfer("STOR /incoming/c.bin", random(60 * KB)))).toBe(226);
    }, 20_000);

    test("--max-connections counts the sessions of every node", async () => {
      const { ports } = await cluster(kind, 2, 0, { maxConnections: 3 });
      const greetings = [];
      for (const port of [ports[0]!, ports[1]!, ports[0]!]) greetings.push((await (await connect(port)).read())?.code);
      expect(greetings).toEqual([220, 220, 220]);
      const fourth = await (await connect(ports[1]!)).read();
      expect(fourth?.code).toBe(421);
      expect(fourth?.lines.join(" ")).toContain("Too many connections");
    });

    test("--max-per-ip counts the sessions of every node", async () => {
      const { ports } = await cluster(kind, 2, 0, { maxPerIp: 2 });
      expect((await (await connect(ports[0]!)).read())?.code).toBe(220);
      expect((await (await connect(ports[1]!)).read())?.code).toBe(220);
      const third = await (await connect(ports[0]!)).read();
      expect(third?.code).toBe(421);
      expect(third?.lines.join(" ")).toContain("from your address");
    });

    test("a slot given back on one node can be taken on another", async () => {
      const { ports } = await cluster(kind, 2, 0, { maxConnections: 1 });
      const first = await connect(ports[0]!);
      expect((await first.read())?.code).toBe(220);
      expect((await first.cmd("QUIT")).code).toBe(221);
      let code: number | undefined;
      const deadline = Date.now() + 5000;
      // The close reaches the store shortly after the socket closes.
      while (Date.now() < deadline) {
        code = (await (await connect(ports[1]!)).read())?.code;
        if (code === 220) break;
        await Bun.sleep(50);
      }
      expect(code).toBe(220);
    });

    test("failed logins on one node slow down failures on the others", async () => {
      const { ports } = await cluster(kind, 2, 0);
      for (let i = 0; i < 4; i++) expect((await login(ports[0]!, "wrong")).code).toBe(530);
      const started = performance.now();
      expect((await login(ports[1]!, "wrong")).code).toBe(530);
      // 50 ms base delay + 4 earlier failures × 250 ms penalty.
      expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
    }, 20_000);

    test("--max-user-rate is shared by the user's sessions on every node", async () => {
      const { ports, home } = await cluster(kind, 2, 0, { maxUserRate: 100 * KB });
      writeFileSync(join(home, "a.bin"), random(150 * KB));
      writeFileSync(join(home, "b.bin"), random(150 * KB));
      const a = (await login(ports[0]!)).w;
      const b = (await login(ports[1]!)).w;
      // Both nodes learn of each other within a heartbeat (a third of the 3 s TTL).
      await Bun.sleep(1200);
      const started = performance.now();
      const results = await Promise.all([a.transfer("RETR a.bin"), b.transfer("RETR b.bin")]);
      expect(results.map(finalCode)).toEqual([226, 226]);
      // 300 KB at 100 KB/s shared (less two small bursts) takes well over 2 s; unshared it would take ~1.3 s.
      expect(performance.now() - started).toBeGreaterThanOrEqual(2000);
    }, 20_000);
  });
}

describe("losing the Redis state store", () => {
  test("running transfers finish, new logins get 421, and service resumes when the store is back", async () => {
    const { ports } = await cluster("redis", 1, 10_000 * KB, { maxRate: 200 * KB });
    const port = redis!.port;
    const w = (await login(ports[0]!)).w;
    expect(finalCode(await w.transfer("STOR seed.bin", random(300 * KB)))).toBe(226);
    const download = w.transfer("RETR seed.bin");
    await Bun.sleep(200);
    await redis!.stop();
    redis = null;
    expect(finalCode(await download)).toBe(226);
    expect((await download).data.length).toBe(300 * KB);
    // A question about the quota meanwhile: not now (before, "upload aborted" for an AVBL).
    const avbl = await w.cmd("AVBL");
    expect([avbl.code, avbl.lines.join(" ")]).toEqual([451, "Quota store unavailable; try again later"]);
    const refused = await (await connect(ports[0]!)).read();
    expect(refused?.code).toBe(421);
    expect(refused?.lines.join(" ")).toContain("shared state unreachable");
    // The store comes back on the same port: the node reconnects (back-off) and logins work again.
    redis = await startRedis(port);
    const deadline = Date.now() + 15_000;
    let code: number | undefined;
    while (Date.now() < deadline) {
      const c = await connect(ports[0]!);
      code = (await c.read())?.code;
      if (code === 220) {
        await c.cmd("USER alice");
        expect((await c.cmd("PASS alice-pw")).code).toBe(230);
        break;
      }
      await Bun.sleep(200);
    }
    expect(code).toBe(220);
  }, 40_000);
});

describe("a store that refuses to take a node back", () => {
  test("a password set on the running store: the log says so once the reconnect fails, not only 'connection closed'", async () => {
    const logger = captureLogger();
    const { ports } = await cluster("redis", 1, 0, { logger, quiet: false });
    const admin = new RedisClient(redis!.url);
    try {
      await admin.send("CONFIG", ["SET", "requirepass", "new-pw"]);
      await admin.send("CLIENT", ["KILL", "TYPE", "normal", "SKIPME", "yes"]);
      const deadline = Date.now() + 15_000;
      while (!logger.events.some((e) => e.event === "state store refuses to reconnect") && Date.now() < deadline) await Bun.sleep(50);
      expect(logger.events.find((e) => e.event === "state store refuses to reconnect")?.fields).toEqual({ reason: "it requires a password: redis://:PASSWORD@HOST:PORT" });
      expect((await (await connect(ports[0]!)).read())?.code).toBe(421);
    } finally {
      admin.close();
    }
  }, 30_000);
});

describe("a node that crashes in the middle of an upload (redis)", () => {
  test("its lease expires: the unspent part comes back, the bytes it left on disk still count", async () => {
    const { spawnServe } = await import("../helpers/serve-proc.ts");
    const { ports, home } = await cluster("redis", 1, 1000 * KB);
    const crashing = await spawnServe(["--users", join(root, "users.ini"), "--state", redis!.url, "--state-ttl", "2"], { cwd: root });
    try {
      const w = await connect(crashing.port);
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      const epsv = await w.cmd("EPSV");
      const { parseEpsvReply } = await import("../../protocol/address.ts");
      const data = await Bun.connect({ hostname: "127.0.0.1", port: parseEpsvReply(epsv.lines[0]!), socket: { data() {} } });
      expect((await w.cmd("STOR partial.bin")).code).toBe(150);
      const chunk = random(300 * KB);
      let off = 0;
      const { waitFor } = await import("../helpers/peers.ts");
      await waitFor(() => {
        if (off < chunk.length) off += Math.max(0, data.write(chunk.subarray(off)));
        try {
          return lstatSync(join(home, "partial.bin")).size === 300 * KB;
        } catch {
          return false;
        }
      }, 10_000, "300 KB on disk");
      await crashing.kill("SIGKILL");
      data.end();
      // 300 KB on disk + 650 KB fit in 1000 KB only once the crashed node's lease is gone.
      const b = (await login(ports[0]!)).w;
      let code = 0;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        code = finalCode(await b.transfer("STOR after.bin", random(650 * KB)));
        if (code === 226) break;
        await b.cmd("DELE after.bin");
        await Bun.sleep(500);
      }
      expect(code).toBe(226);
      expect(du(home)).toBeLessThanOrEqual(1000 * KB);
      // The crashed upload's 300 KB are counted: 100 KB more would cross the limit.
      expect(finalCode(await b.transfer("STOR more.bin", random(100 * KB)))).toBe(552);
    } finally {
      await crashing.kill("SIGKILL");
    }
  }, 40_000);
});

describe("refusals while the store is away, in the log", () => {
  test("a connection refused 421 (shared state unreachable) is logged as refused, not counted again as closed without a command", async () => {
    const logger = captureLogger();
    const { ports } = await cluster("redis", 1, 0, { logger, quiet: false });
    await redis!.stop();
    redis = null;
    const w = await connect(ports[0]!);
    expect((await w.read())?.code).toBe(421);
    expect(await w.read()).toBeNull(); // the server closed it
    await waitFor(() => servers[0]!.context.sessions.size === 0, 5000, "the refused session to end");
    expect(logger.events.filter((e) => e.event === "connection refused").map((e) => e.fields.reason)).toEqual([expect.stringContaining("shared state unreachable")]);
    // Before: also "connections closed without a command" (count 1), the balancer's health checks' line.
    expect(logger.events.map((e) => e.event)).not.toContain("connections closed without a command");
  }, 20_000);
});

describe("/readyz and the state store", () => {
  test("a node that cannot reach the store is not ready (503 'state FAIL'), and is again once the store is back", async () => {
    const { ports } = await cluster("redis", 1, 0, { stateTtlMs: 1500, ops: { metrics: { host: "127.0.0.1", port: 0 } } });
    const port = redis!.port;
    const ready = async () => {
      const r = await fetch(`http://127.0.0.1:${servers[0]!.ops.metricsPort}/readyz`);
      return { status: r.status, body: await r.text() };
    };
    expect(await ready()).toEqual({ status: 200, body: expect.stringContaining("state ok: shared state reachable") });
    await redis!.stop();
    redis = null;
    const deadline = Date.now() + 15_000;
    let r = await ready();
    while (r.status === 200 && Date.now() < deadline) r = await Bun.sleep(100).then(ready);
    expect(r.status).toBe(503);
    expect(r.body).toContain("state FAIL: shared state unreachable");
    expect(r.body).not.toContain(String(port)); // the store's address stays out of it
    expect((await (await connect(ports[0]!)).read())?.code).toBe(421);
    redis = await startRedis(port);
    while (r.status !== 200 && Date.now() < deadline + 15_000) r = await Bun.sleep(100).then(ready);
    expect(r.status).toBe(200);
  }, 45_000);
});

test("a clean stop of a node is not logged as the store being unreachable", async () => {
  redis = await startRedis();
  const logger = captureLogger();
  const s = createServer({ usersFile: join(tmpdir(), "none.ini"), host: "127.0.0.1", port: 0, state: redis.url, logger });
  await s.listen();
  await s.close(0);
  expect(logger.events.map((e) => e.event)).not.toContain("state store unreachable");
});

describe("connection counts the store lost", () => {
  // Redis restarted empty, or evicting: the node's sessions end after their count is gone.
  const KEYS = { nodes: "ftpkit:nodes", a: "ftpkit:conns:a", b: "ftpkit:conns:b" };
  const scenario = async (send: (cmd: string, args: string[]) => Promise<unknown>) => {
    const open = (node: string) => send("EVAL", [CONN_OPEN, "1", KEYS.nodes, node, "127.0.0.1", "2", "100", "60000", "ftpkit:"]).then(Number);
    expect([await open("a"), await open("a")]).toEqual([0, 0]);
    await send("DEL", [KEYS.a]); // node a's count is lost
    for (let i = 0; i < 2; i++) await send("EVAL", [CONN_CLOSE, "1", KEYS.a, "ip:127.0.0.1"]);
    // The cap of 2 still holds across the nodes: a third session is refused.
    return [await open("b"), await open("b"), await open("b")];
  };

  test("redis-server: sessions ending after their count was lost never make the cluster's count negative", async () => {
    redis = await startRedis();
    const client = new RedisClient(redis.url);
    try {
      expect(await scenario((cmd, args) => client.send(cmd, args))).toEqual([0, 0, 1]);
    } finally {
      client.close();
    }
  });

  test("the --workers primary's store: the same", async () => {
    const store = new MemoryStore();
    expect(await scenario(async (cmd, args) => store.exec(cmd, args))).toEqual([0, 0, 1]);
  });
});

describe("a crashed node's quota lease while another node holds one", () => {
  // Measured with three nodes on redis-server: alice's upload on a node killed with SIGKILL while
  // her other upload ran on another node; after --state-ttl the dead node's whole lease (1.25 MB)
  // stayed counted, and SITE QUOTA said 13,750,000 bytes used for 12,686,976 on disk for as long as
  // she kept logging in. Now the usage is measured again once no node holds anything.
  const K = ["q:used", "q:leases"];
  const scenario = async (send: (cmd: string, args: string[]) => Promise<unknown>) => {
    const lease = (node: string, want: number, hold: number, ttl: number) =>
      send("EVAL", [LEASE, "2", ...K, node, "10000", String(want), "1", String(hold), String(ttl), "60000"]) as Promise<number[]>;
    await send("EVAL", [SET_USED, "1", K[0]!, "100", "60000"]);
    expect(Number((await lease("dead", 1000, 0, 100))[0])).toBe(1000); // then the node is killed
    expect(Number((await lease("b", 1000, 0, 60_000))[0])).toBe(1000);
    await Bun.sleep(300); // the dead node's lease expires (100 ms)
    // b still holds its lease: the dead one is counted whole for now.
    expect((await lease("b", 500, 1000, 60_000)).map(Number)).toEqual([500, 1100, 0]);
    // b's upload ends (300 bytes written) and it holds nothing more: nobody holds anything now.
    const settled = Number(await send("EVAL", [SETTLE, "2", ...K, "b", "300", "0", "60000", "60000"]));
    const next = (await lease("c", 1000, 0, 60_000)).map(Number);
    return { settled, next };
  };
  const expected = { settled: -1, next: [-1, 0, 0] }; // -1: the next lease measures storage

  test("redis-server: the whole dead lease is counted only until nobody holds anything, then usage is measured again", async () => {
    redis = await startRedis();
    const client = new RedisClient(redis.url);
    try {
      expect(await scenario((cmd, args) => client.send(cmd, args))).toEqual(expected);
    } finally {
      client.close();
    }
  });

  test("the --workers primary's store: the same", async () => {
    const store = new MemoryStore();
    expect(await scenario(async (cmd, args) => store.exec(cmd, args))).toEqual(expected);
  });
});

describe("a --workers sibling known dead (NODE_GONE) whose upload's lease only the heartbeat renewed", () => {
  // A slow upload leases once and then only restates its holding at each heartbeat (SETTLE): its
  // node's index of the leases it holds, kept by LEASE alone, ran out after keepMs (60 s) while the
  // lease lived on, and NODE_GONE, finding no index, left the dead worker's lease to --state-ttl.
  test("redis-server: the heartbeat keeps the index, and NODE_GONE ends the lease", async () => {
    redis = await startRedis();
    const client = new RedisClient(redis.url);
    try {
      const node = "host-a:4242:abc123";
      const store = {
        prefix: "p:",
        node,
        leaseTtlMs: 60_000,
        keepMs: 60_000,
        eval: (script: string, keys: string[], args: (string | number)[]) => client.send("EVAL", [script, String(keys.length), ...keys, ...args.map(String)]),
      };
      const ledger = new RedisLedger(store, "alice", 10_000_000, async () => 0);
      expect(await ledger.admit(1000)).toBe(true); // an upload running on the node: it holds a lease
      await client.send("ZADD", ["p:nodes", String(Date.now() + 60_000), node]);
      // keepMs without a LEASE: the index has run out (as its PEXPIRE would have it).
      await client.send("DEL", [`p:node-ledgers:${node}`]);
      await ledger.flush(); // the heartbeat
      expect(Number(await client.send("EVAL", [NODE_GONE, "1", "p:nodes", "host-a:4242:", "p:"]))).toBe(1);
      const lease = String(await client.send("HGET", ["p:quota:alice:leases", node]));
      expect(lease.split(":")[1]).toBe("0"); // out of date: the next LEASE treats it as a dead node's
    } finally {
      client.close();
    }
  });
});

describe("a dead --workers worker's PID in another run (another container of the same host name)", () => {
  // Two containers with host networking share the host's name and number their own processes: a
  // worker of each could have the same PID. The one that dies ends its own node only.
  test("redis-server: NODE_GONE of one run's worker leaves the other run's node of the same host and PID its lease", async () => {
    redis = await startRedis();
    /** `fn` as in a worker of the run tagged `tag` (its environment). */
    const inRun = async <T>(tag: string, fn: () => T | Promise<T>): Promise<T> => {
      const saved = process.env[RUN_TAG_ENV];
      process.env[RUN_TAG_ENV] = tag;
      try {
        return await fn();
      } finally {
        if (saved === undefined) delete process.env[RUN_TAG_ENV];
        else process.env[RUN_TAG_ENV] = saved;
      }
    };
    const dead = await inRun("aaaa.", () => new RedisState({ url: redis!.url, nodeTtlMs: 3000 }));
    const alive = await inRun("bbbb.", () => new RedisState({ url: redis!.url, nodeTtlMs: 3000 }));
    await dead.start();
    await alive.start();
    try {
      const ledger = alive.createLedger("alice", 10_000_000, async () => 0);
      expect(await ledger.admit(1000)).toBe(true); // the live node's upload holds a lease
      await inRun("aaaa.", () => dead.nodeGone(process.pid)); // as the dead worker's siblings say it
      const lease = String(await alive.send("HGET", [`${alive.prefix}quota:alice:leases`, alive.node]));
      expect(Number(lease.split(":")[1])).toBeGreaterThan(Date.now()); // still valid
      ledger.dispose?.();
    } finally {
      await dead.close();
      await alive.close();
    }
  });
});

describe("S3 per-key locks in the shared store (s3-key-lock.ts)", () => {
  for (const kind of ["redis", "memory"] as const) {
    test(`${kind}: a key is taken as a lease; a dead holder's lease is waited out, a wrong token neither renews nor frees it, and nothing stays behind`, async () => {
      let shared: { state: string; client?: () => any };
      if (kind === "redis") shared = { state: (redis = await startRedis()).url };
      else shared = { state: "memory", client: memoryClient(new MemoryStore()) };
      const state = new RedisState({ url: shared.state, client: shared.client, nodeTtlMs: 3000 });
      await state.start();
      try {
        // A process that crashed holding "k" for 400 ms: the next change of "k" waits for its lease to end.
        expect(await state.tryLock("k", "dead", 400)).toBe(true);
        expect(await state.tryLock("k", "other", 400)).toBe(false);
        expect(await state.renew("k", "other", 60_000)).toBe(false);
        await state.unlock("k", "other"); // not its lease: nothing happens
        const started = Date.now();
        let ranAt = 0;
        expect(await withKeys(["k"], async () => ((ranAt = Date.now()), 7), state)).toBe(7);
        expect(ranAt - started).toBeGreaterThanOrEqual(300);
        // Given back: the key is free at once, in the store and in this process.
        expect(await state.tryLock("k", "next", 1000)).toBe(true);
        await state.unlock("k", "next");
        expect(lockedKeys()).toBe(0);
        // Two keys, sorted; a failing operation gives both back too.
        await expect(withKeys(["b", "a"], async () => Promise.reject(new Error("boom")), state)).rejects.toThrow("boom");
        expect(await state.tryLock("a", "t", 1000)).toBe(true);
        expect(await state.tryLock("b", "t", 1000)).toBe(true);
      } finally {
        await state.close();
      }
    });
  }

  test("the store unreachable: the change is refused with 'transient' (450, try again), never run unguarded", async () => {
    redis = await startRedis();
    const state = new RedisState({ url: redis.url, nodeTtlMs: 3000, commandTimeoutMs: 500 });
    await state.start();
    try {
      await redis.stop();
      redis = null;
      let ran = false;
      const err = await withKeys(["k"], async () => void (ran = true), state).catch((e) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(err.kind).toBe("transient");
      expect(ran).toBe(false);
      expect(lockedKeys()).toBe(0);
    } finally {
      await state.close();
    }
  });
});

describe("a --workers sibling known dead (NODE_GONE) that served a user with --max-user-rate", () => {
  // The dead node stayed in the user's `rate:` set until --state-ttl: a survivor kept 1/2 of the rate.
  const scenario = async (send: (cmd: string, args: string[]) => Promise<unknown>) => {
    const context = (node: string) => ({
      prefix: "p:",
      channelScope: "",
      node,
      leaseTtlMs: 60_000,
      eval: (script: string, keys: string[], args: (string | number)[]) => send("EVAL", [script, String(keys.length), ...keys, ...args.map(String)]),
      send,
    });
    // The dead node is in the node table (its session counted there), as NODE_GONE finds nodes.
    await send("EVAL", [CONN_OPEN, "1", "p:nodes", "host-a:4242:abc123", "127.0.0.1", "100", "100", "60000", "p:"]);
    const dead = new RedisRates(context("host-a:4242:abc123"), true);
    const alive = new RedisRates(context("host-a:4343:def456"), true);
    dead.userRateShare("alice", true);
    alive.userRateShare("alice", true);
    await dead.beat();
    await alive.beat();
    const before = alive.rateShare("alice");
    await send("EVAL", [NODE_GONE, "1", "p:nodes", "host-a:4242:", "p:"]);
    await alive.beat();
    return [before, alive.rateShare("alice")];
  };

  test("redis-server: the survivor's share is the whole rate at its next heartbeat", async () => {
    redis = await startRedis();
    const client = new RedisClient(redis.url);
    try {
      expect(await scenario((cmd, args) => client.send(cmd, args))).toEqual([0.5, 1]);
    } finally {
      client.close();
    }
  });

  test("the --workers primary's store: the same", async () => {
    const store = new MemoryStore();
    expect(await scenario(async (cmd, args) => store.exec(cmd, args))).toEqual([0.5, 1]);
  });
});
