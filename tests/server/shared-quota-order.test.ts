// The shared quota ledger (server/state/scripts.ts SETTLE) when nodes' settlements arrive out of
// order: a file removed on one node before the node whose upload wrote it has sent that upload's
// delta. The usage stays the sum of the deltas; it was cut at 0 and kept the cut part for good.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { createServer, type FtpServer } from "../../server/index.ts";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { LEASE, SET_USED, SETTLE } from "../../server/state/scripts.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { du, finalCode, random } from "../helpers/quota.ts";

const KB = 1000;
const SETTLE_SHA = new Bun.CryptoHasher("sha1").update(SETTLE).digest("hex");

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

describe("a removal's settlement before the upload's, from another node", () => {
  const K = ["q:used", "q:leases"];
  const scenario = async (send: (cmd: string, args: string[]) => Promise<unknown>) => {
    const settle = (node: string, delta: number) => send("EVAL", [SETTLE, "2", ...K, node, String(delta), "0", "60000", "60000"]).then(Number);
    const lease = (node: string, want: number) => send("EVAL", [LEASE, "2", ...K, node, "1000000", String(want), "1", "0", "60000", "60000"]) as Promise<number[]>;
    await send("EVAL", [SET_USED, "1", K[0]!, "100000", "60000"]);
    // Node b removes a file of 400,000 bytes that node a's upload wrote; a's delta comes after.
    const early = await settle("b", -400_000);
    // Meanwhile the usage reads as 0, and no lease is granted beyond the limit.
    const between = (await lease("c", 2_000_000)).map(Number);
    await settle("c", 0); // c gives its lease back
    const late = await settle("a", 400_000);
    return { early, between, late, after: (await lease("c", 0)).map(Number) };
  };
  const expected = { early: 0, between: [1_000_000, 0, 0], late: 100_000, after: [0, 100_000, 0] };

  test("redis-server: the usage is the sum of the deltas, as if they had come in order", async () => {
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

/** A client of `store` whose SETTLEs wait, while `held` is set, until `release()`. */
function gatedClient(store: MemoryStore) {
  const inner = memoryClient(store);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const control = { held: false, release: () => release() };
  const client = () => {
    const c = inner();
    const send = c.send.bind(c);
    c.send = async (command: string, args: string[]) => {
      const settles = (command === "EVALSHA" && args[0] === SETTLE_SHA) || (command === "EVAL" && args[0] === SETTLE);
      if (settles && control.held) await gate;
      return send(command, args);
    };
    return c;
  };
  return { client, control };
}

test("--workers: a file uploaded on one worker and removed on the other leaves SITE QUOTA equal to the disk, whichever settlement reaches the store first", async () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-quota-order-"));
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota: 1000 * KB }]);
  const home = join(root, "home/alice");
  const store = new MemoryStore();
  const gated = gatedClient(store);
  for (const client of [gated.client, memoryClient(store)]) {
    const s = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, state: "memory", stateClient: client, stateTtlMs: 3000 });
    await s.listen();
    servers.push(s);
  }
  const login = async (server: FtpServer) => {
    const w = await Wire.connect(server.address.port);
    wires.push(w);
    expect((await w.login("alice", "alice-pw")).code).toBe(230);
    return w;
  };
  const a = await login(servers[0]!);
  const b = await login(servers[1]!);
  // The first worker's settlement of the upload (+400,000) is held on its way to the store, so the
  // other's DELE (-400,000) reaches the store first.
  gated.control.held = true;
  expect(finalCode(await a.transfer("STOR f.bin", random(400 * KB)))).toBe(226);
  expect((await b.cmd("DELE f.bin")).code).toBe(250);
  gated.control.release();
  // A login on the first worker measures through the same ledger, after the held settlement (one exchange at a time).
  await login(servers[0]!);
  expect(du(home)).toBe(0);
  const c = await login(servers[1]!);
  const quota = (await c.cmd("SITE QUOTA")).lines.join("\n");
  expect(/used (\d+) of/.exec(quota)?.[1]).toBe("0");
  expect(Number((await c.cmd("AVBL")).lines[0])).toBe(1000 * KB);
}, 20_000);
