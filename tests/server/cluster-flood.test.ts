// Connection-flood protection in a cluster (--state, and --workers' store in the primary): when every
// slot is taken, a crowd spread over the nodes churns its own connections, as in one process. Each
// node weighed addresses by its own connections only, so a crowd of 2 per address on 2 nodes (1 per
// node) was never evicted and a user from another address got "421 Too many connections".
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionGate, type Ticket } from "../../server/connection-gate.ts";
import { createServer, type FtpServer } from "../../server/index.ts";
import { createLogger } from "../../server/log.ts";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { SourcedWire } from "../ops/helpers.ts";

let redis: RedisProcess | null = null;
let servers: FtpServer[] = [];
const wires: SourcedWire[] = [];
let root = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

/** Two nodes sharing one store, --max-connections 6 over both: their ports. */
async function twoNodes(kind: "redis" | "memory"): Promise<number[]> {
  root = mkdtempSync(join(tmpdir(), "ftpkit-flood-"));
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw" }]);
  if (kind === "redis") redis = await startRedis();
  const memory = kind === "memory" ? new MemoryStore() : null;
  const shared = memory ? { state: "memory", stateClient: memoryClient(memory) } : { state: redis!.url };
  for (let i = 0; i < 2; i++) {
    const s = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, maxConnections: 6, ...shared, stateTtlMs: 3000 });
    await s.listen();
    servers.push(s);
  }
  return servers.map((s) => s.address.port);
}

async function from(ip: string, port: number): Promise<SourcedWire> {
  const w = await SourcedWire.connect(port, ip);
  wires.push(w);
  return w;
}

/** The greeting as "code text" (a refusal then says which), or "closed". */
async function greeting(w: SourcedWire): Promise<string> {
  const r = await w.read();
  return r ? `${r.code} ${r.lines.join(" ")}` : "closed";
}

for (const kind of ["redis", "memory"] as const) {
  describe(`a crowd spread over two nodes (${kind === "redis" ? "redis-server" : "the --workers primary's store"})`, () => {
    test("churns its own connections when every slot is taken: a user from another address gets in", async () => {
      const ports = await twoNodes(kind);
      // 8 connections that never log in, 2 from each of 127.0.0.30–33, alternating nodes (a balancer):
      // each node holds one of each address.
      const crowd: SourcedWire[] = [];
      const greetings: string[] = [];
      for (let i = 0; i < 8; i++) {
        const w = await from(`127.0.0.${30 + Math.floor(i / 2)}`, ports[i % 2]!);
        crowd.push(w);
        greetings.push(await greeting(w));
      }
      // As one process does: the 7th (127.0.0.33, the first of its address) evicts the oldest
      // connection of an address holding 2 (127.0.0.30's on node 0); the 8th (its second) holds as
      // many as the heaviest would leave it, so it is refused.
      expect(greetings.slice(0, 7).map((g) => g.slice(0, 3))).toEqual(["220", "220", "220", "220", "220", "220", "220"]);
      expect(greetings[7]).toStartWith("421 Too many connections");
      expect(await greeting(crowd[0]!)).toBe("421 Too many connections not logged in; closing the oldest");
      // A user from a fresh address, on node 1: 127.0.0.31 holds 2 over the cluster, one of them here.
      const user = await from("127.0.0.40", ports[1]!);
      const { greeting: hello, pass } = await user.login("alice", "alice-pw");
      expect(hello?.code).toBe(220);
      expect(pass?.code).toBe(230);
      expect(await greeting(crowd[3]!)).toBe("421 Too many connections not logged in; closing the oldest");
      expect((await user.cmd("NOOP"))?.code).toBe(200);
    }, 30_000);
  });
}

describe("ConnectionGate.evictFor with cluster-wide counts", () => {
  /** A node's gate with connections (not logged in) from `ips`, in order; `evicted` collects whose go. */
  const node = (ips: string[], evicted: string[]) => {
    const g = new ConnectionGate({ maxConnections: 100, maxPerIp: 100 }, createLogger("text", true));
    const tickets = ips.map((ip) => {
      const t = g.admit(ip) as Ticket;
      t.evict = () => void evicted.push(ip);
      return t;
    });
    return { g, tickets };
  };

  test("evicts the oldest connection here of the address holding the most over the cluster", () => {
    const evicted: string[] = [];
    const { g, tickets } = node(["10.0.0.1", "10.0.0.2", "10.0.0.2", "10.0.0.9"], evicted);
    const newcomer = tickets[3]!;
    // The newcomer's address first, then the heaviest here.
    expect(g.evictionKeys(newcomer)).toEqual(["10.0.0.9", "10.0.0.2", "10.0.0.1"]);
    // Here 10.0.0.2 holds more; over the cluster 10.0.0.1 does.
    const cluster = new Map([["10.0.0.1", 5], ["10.0.0.2", 2], ["10.0.0.9", 0]]);
    expect(g.evictFor(newcomer, cluster)).not.toBeNull();
    expect(evicted).toEqual(["10.0.0.1"]);
  });

  test("asks the store about the newcomer's address and the 16 heaviest here, not every address (a flood's newcomers each ask)", () => {
    const ips = Array.from({ length: 40 }, (_, i) => `10.0.1.${i}`);
    // 10.0.1.39 holds three here, the rest one each; the newcomer is last.
    const { tickets, g } = node([...ips, "10.0.1.39", "10.0.1.39", "10.0.2.1"], []);
    const keys = g.evictionKeys(tickets.at(-1)!)!;
    expect(keys).toHaveLength(17);
    expect(keys.slice(0, 2)).toEqual(["10.0.2.1", "10.0.1.39"]);
  });

  test("evicts nothing when no address holds more than the newcomer's would, or the heaviest holds none here", () => {
    const evicted: string[] = [];
    const { g, tickets } = node(["10.0.0.1", "10.0.0.2", "10.0.0.9"], evicted);
    const newcomer = tickets[2]!;
    // 10.0.0.1 holds 2, the newcomer's address would hold 2 with it.
    expect(g.evictFor(newcomer, new Map([["10.0.0.1", 2], ["10.0.0.2", 1], ["10.0.0.9", 1]]))).toBeNull();
    // The heaviest addresses have no connection here not logged in: 10.0.0.7's 9 are on other nodes
    // (which evict for their own newcomers), 10.0.0.1's one here has logged in (never evicted).
    tickets[0]!.login();
    expect(g.evictFor(newcomer, new Map([["10.0.0.1", 9], ["10.0.0.2", 1], ["10.0.0.7", 9], ["10.0.0.9", 0]]))).toBeNull();
    expect(evicted).toEqual([]);
  });
});
