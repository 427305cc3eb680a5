// A balancer forwarding the passive ports (README "Scaling") under PROT P: its PROXY header and the
// client's ClientHello can come in one read, which Bun's upgradeTLS could not take.
import { afterEach, expect, test } from "bun:test";
import { connect, createServer, type Server } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatProxyV2 } from "../../protocol/proxy.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { FTPLIB_SCRIPT, run, tlsOptions } from "../tls/helpers.ts";
import { random } from "../helpers/quota.ts";

const BALANCER = "127.0.0.8";
const CLIENT = "127.0.0.5";
const PASV: [number, number] = [29_950, 29_953];

let ts: TestServer | null = null;
const listeners: Server[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) l.close();
  await ts?.stop();
  ts = null;
});

/**
 * A TCP balancer on BALANCER:`listen` sending each connection to 127.0.0.1:`target` (from
 * 127.0.0.1) behind a v2 header naming the client. `coalesce`: hold the header until the client's
 * first bytes and send both in one write, as HAProxy can deliver them. Resolves with its port.
 */
function balance(listen: number, target: number, coalesce: boolean): Promise<number> {
  const server = createServer((client) => {
    const header = formatProxyV2({ ip: client.remoteAddress!, port: client.remotePort! }, { ip: BALANCER, port: listen });
    const up = connect({ host: "127.0.0.1", port: target, localAddress: "127.0.0.1" });
    if (coalesce) client.once("data", (first: Buffer) => {
      up.write(Buffer.concat([header, first]));
      client.pipe(up);
    });
    else {
      up.write(header);
      client.pipe(up);
    }
    up.pipe(client);
    for (const s of [client, up]) s.on("error", () => (client.destroy(), up.destroy()));
  });
  listeners.push(server);
  return new Promise((resolve) => server.listen(listen, BALANCER, () => resolve((server.address() as { port: number }).port)));
}

test("PROT P through forwarded passive ports: uploads and downloads work when the header and the ClientHello come together", async () => {
  ts = await startTestServer({ options: { tls: tlsOptions(), proxyFrom: "127.0.0.1", pasvPorts: PASV } });
  const control = await balance(0, ts.port, false);
  for (let p = PASV[0]; p <= PASV[1]; p++) await balance(p, p, true);
  const src = join(ts.root, "src.bin");
  const body = random(2_000_000);
  writeFileSync(src, body);
  // ftplib connects its data connections to the control connection's peer: the balancer.
  const script = FTPLIB_SCRIPT.replace('f.connect("127.0.0.1", port)', `f.connect("${BALANCER}", port, source_address=("${CLIENT}", 0))`);
  const steps: string[] = [];
  for (let i = 0; i < 3; i++) steps.push(`STOR up${i}.bin ${src}`, `RETR up${i}.bin ${join(ts.root, `down${i}.bin`)}`);
  const r = await run(["python3", "-c", script, String(control), "alice", "alice-pw", "P", ...steps], { timeoutMs: 60_000 });
  const results = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { step: string; ok: boolean; reply: string });
  expect(results.filter((x) => !x.ok)).toEqual([]);
  expect(results.filter((x) => /^(STOR|RETR)/.test(x.step)).map((x) => x.reply.slice(0, 3))).toEqual(Array(6).fill("226"));
  for (let i = 0; i < 3; i++) {
    expect(readFileSync(join(ts.home("alice"), `up${i}.bin`)).equals(Buffer.from(body))).toBe(true);
    expect(readFileSync(join(ts.root, `down${i}.bin`)).equals(Buffer.from(body))).toBe(true);
  }
}, 90_000);
