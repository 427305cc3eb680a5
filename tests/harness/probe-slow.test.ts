// `ftpkit test` against a slow server: every reply arrives within --timeout, so no item may fail
// for time. ftpkit serves through a proxy that holds each chunk of its control replies back.
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { startServer } from "../../cli/api.ts";
import { probeServer } from "../../client/probe/index.ts";

const CERT = readFileSync(join(import.meta.dir, "../../fixtures/tls/cert.pem"), "utf8");
const KEY = readFileSync(join(import.meta.dir, "../../fixtures/tls/key.pem"), "utf8");

const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** A TCP proxy to 127.0.0.1:`target` that delivers each chunk the server sends `delayMs` late (in order). */
async function delayProxy(target: number, delayMs: number): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: "127.0.0.1", port: target });
    sockets.add(client).add(upstream);
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => setTimeout(() => client.writable && client.write(d), delayMs));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", () => setTimeout(end, delayMs)).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  stops.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

test("every reply 200 ms late with a 500 ms timeout: no item fails (checks of many replies included)", async () => {
  const server = await startServer({ users: [{ name: "me", password: "pw" }], write: true, tls: { cert: CERT, key: KEY } });
  stops.push(() => server.close());
  const port = await delayProxy(server.port, 200);
  const report = await probeServer({ host: "127.0.0.1", port, user: "me", password: "pw", timeoutMs: 500 });
  expect(report.items.filter((i) => i.status === "fail").map((i) => `${i.id}: ${i.reason}`)).toEqual([]);
  expect(report.items.filter((i) => i.status === "pass").length).toBe(28);
  expect(report.scratch.removed).toBe(true);
}, 120_000);
