// A balancer's health check (a PROXY v2 LOCAL connection, HAProxy's check-send-proxy) never takes a
// connection slot from a real client: it holds none past its greeting and evicts nobody.
import { expect, test } from "bun:test";
import { formatProxyV2 } from "../../protocol/proxy.ts";
import { startRedis } from "../helpers/redis.ts";
import { startTestServer, useServers } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";
import { scrape } from "../ops/helpers.ts";

const servers = useServers();
const wires: Wire[] = [];

/** What HAProxy sends first on a health check with check-send-proxy: v2, command LOCAL, no address. */
function localHeader(): Uint8Array {
  const h = new Uint8Array(16);
  h.set(formatProxyV2({ ip: "1.1.1.1", port: 1 }, { ip: "1.1.1.1", port: 1 }).subarray(0, 12));
  h[12] = 0x20;
  return h;
}

async function viaBalancer(port: number, header: Uint8Array): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  w.raw(header);
  return w;
}

/** USER and PASS on a connection whose greeting was read. */
async function logIn(w: Wire): Promise<number> {
  await w.cmd("USER alice");
  return (await w.cmd("PASS alice-pw")).code;
}

/** What HAProxy sends first for a client of a unix-socket bind: v2, command PROXY, family UNSPEC. */
function unspecHeader(): Uint8Array {
  const h = localHeader();
  h[12] = 0x21;
  return h;
}

const client = (ip: string, port: number) => formatProxyV2({ ip, port }, { ip: "127.0.0.1", port: 21 });

test("at --max-connections, a health check evicts no client that is logging in, and gets the 421 a client would", async () => {
  const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1", maxConnections: 2 } });
  try {
    // One client opens two connections (a tree job's pool) and has not logged in yet.
    const a = await viaBalancer(port, client("10.0.0.7", 40_001));
    const b = await viaBalancer(port, client("10.0.0.7", 40_002));
    expect((await a.read())?.code).toBe(220);
    expect((await b.read())?.code).toBe(220);
    const check = await viaBalancer(port, localHeader());
    expect((await check.read())?.code).toBe(421);
    expect(await logIn(a)).toBe(230);
    expect(await logIn(b)).toBe(230);
  } finally {
    for (const w of wires.splice(0)) w.close();
  }
});

test("health checks are counted in ftpkit_health_checks_total, not as sessions", async () => {
  const ts = await servers.start({ options: { proxyFrom: "127.0.0.1", ops: { metrics: { host: "127.0.0.1", port: 0 } } } });
  try {
    for (let i = 0; i < 3; i++) {
      const check = await viaBalancer(ts.port, localHeader());
      expect((await check.read())?.code).toBe(220);
      check.close();
    }
    const a = await viaBalancer(ts.port, client("10.0.0.7", 40_001));
    expect((await a.read())?.code).toBe(220);
    const m = await scrape(ts.server.ops.metricsPort!);
    // Before: ftpkit_sessions_total 4 (a check a second per node and balancer).
    expect(m.get("ftpkit_sessions_total")).toBe(1);
    expect(m.get("ftpkit_health_checks_total")).toBe(3);
  } finally {
    for (const w of wires.splice(0)) w.close();
  }
});

for (const store of ["memory", "redis-server"] as const) {
  test(`a health check left open holds no slot: the client after it is served at --max-connections 1 (${store})`, async () => {
    const redis = store === "redis-server" ? await startRedis() : null;
    const ts = await startTestServer({ options: { proxyFrom: "127.0.0.1", maxConnections: 1, ...(redis ? { state: redis.url } : {}) } });
    try {
      const check = await viaBalancer(ts.port, localHeader());
      expect((await check.read())?.code).toBe(220);
      const c = await viaBalancer(ts.port, client("10.0.0.8", 40_003));
      const hello = await c.read();
      expect(hello?.code).toBe(220);
      expect(await logIn(c)).toBe(230);
    } finally {
      for (const w of wires.splice(0)) w.close();
      await ts.stop();
      await redis?.stop();
    }
  }, 20_000);
}

test("a client relayed with a PROXY v2 UNSPEC header takes a slot: at --max-connections 1 the next one gets 421", async () => {
  const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1", maxConnections: 1 } });
  try {
    const a = await viaBalancer(port, unspecHeader());
    expect((await a.read())?.code).toBe(220);
    expect(await logIn(a)).toBe(230);
    const b = await viaBalancer(port, unspecHeader());
    expect((await b.read())?.code).toBe(421);
  } finally {
    for (const w of wires.splice(0)) w.close();
  }
});
