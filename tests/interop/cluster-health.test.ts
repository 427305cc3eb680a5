// HAProxy's health checks against `ftpkit serve --state redis://…` nodes (tests/helpers/haproxy.ts,
// the README's configuration): a node cut off from the shared store refuses every login with 421, so
// its check must fail and the balancer send clients elsewhere; with every node cut off, a client is
// told why instead of meeting a closed connection.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHaproxy, type Haproxy } from "../helpers/haproxy.ts";
import { waitFor } from "../helpers/peers.ts";
import { freezableProxy } from "../helpers/proxy.ts";
import { freePort, startRedis, type RedisProcess } from "../helpers/redis.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

let root = "";
let redis: RedisProcess | undefined;
let link: Awaited<ReturnType<typeof freezableProxy>> | undefined;
let nodes: ServeProcess[] = [];
let haproxy: Haproxy | undefined;
let port = 0;

/** The greetings of `n` connections through the balancer ("closed": no reply before it closed). */
async function greetings(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const w = await Wire.connect(port);
    const hello = await w.read(5000);
    w.close();
    out.push(hello ? `${hello.code} ${hello.lines.join(" ")}` : "closed");
  }
  return out;
}

describe("2 nodes behind HAProxy, one Redis: health checks", () => {
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "ftpkit-cluster-health-"));
    mkdirSync(join(root, "alice"));
    const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", home: join(root, "alice") }]);
    redis = await startRedis();
    // Node 2 reaches the store through a proxy the test can cut.
    link = await freezableProxy(redis.port);
    const args = (state: string) => ["--users", users, "--state", state, "--proxy-protocol", "--proxy-from", "127.0.0.1"];
    nodes = await Promise.all([redis.url, `redis://127.0.0.1:${link.port}`].map((state) => spawnServe(args(state), { cwd: root, timeoutMs: 30_000 })));
    port = freePort();
    haproxy = await startHaproxy(root, port, nodes.map((n) => n.port));
  }, 60_000);

  afterAll(async () => {
    await haproxy?.stop();
    await Promise.all(nodes.map((n) => n.kill()));
    link?.stop();
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("a node cut off from the store fails its check, and every client is sent to the other: 220 each time", async () => {
    link!.to(freePort()); // nothing listens there: the store stays unreachable for node 2
    link!.cut();
    // Before: the check only connected, node 2 stayed UP and every other client got its 421.
    await waitFor(() => haproxy!.log().includes("Server ftpkit/node2 is DOWN"), 10_000, "node 2 marked down");
    expect(await greetings(8)).toEqual(Array(8).fill("220 ftpkit FTP server ready"));
    link!.to(redis!.port);
    await waitFor(() => haproxy!.log().includes("Server ftpkit/node2 is UP"), 20_000, "node 2 back up");
  }, 40_000);

  test("with the store down for every node, a client gets the 421 that says why, not a closed connection", async () => {
    await redis!.stop();
    await waitFor(() => haproxy!.log().includes("Server ftpkit/node1 is DOWN") && /node2 is DOWN[^]*$/.test(haproxy!.log().split("node2 is UP").at(-1)!), 10_000, "both nodes marked down");
    expect(await greetings(2)).toEqual(Array(2).fill("421 Service not available (shared state unreachable), try again later"));
  }, 30_000);
});
