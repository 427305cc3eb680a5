// A ban a node takes on its own count while the state store is away (each failure it could not
// count in the store) reaches the other nodes once the store answers again: the guesser is not let
// in elsewhere with a fresh count.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { createServer, type FtpServer } from "../../server/index.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

let redis: RedisProcess | null = null;
const servers: FtpServer[] = [];
const wires: Wire[] = [];
let root = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  redis?.proc.kill("SIGCONT");
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

async function connect(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  return w;
}

/** Two nodes on one fresh store (a heartbeat every 500 ms), banning after 3 failures; their ports. */
async function twoNodes(): Promise<[number, number]> {
  root = mkdtempSync(join(tmpdir(), "ftpkit-ban-outage-"));
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw" }]);
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    const s = createServer({
      usersFile,
      host: "127.0.0.1",
      port: 0,
      quiet: true,
      failedLoginDelayMs: 50,
      state: redis.url,
      stateTtlMs: 1500, // a heartbeat every 500 ms
      ops: { banAfter: 3 },
    });
    await s.listen();
    servers.push(s);
  }
  return servers.map((s) => s.address.port) as [number, number];
}

/** With the store stopped (its connections stay open), guess on node `a` until it bans; then let the store go on. */
async function banWhileStopped(a: number): Promise<void> {
  const guesser = await connect(a);
  expect((await guesser.read())?.code).toBe(220);
  redis!.proc.kill("SIGSTOP");
  let last = 0;
  for (let i = 0; i < 3 && last !== 421; i++) {
    expect((await guesser.cmd("USER alice")).code).toBe(331);
    last = (await guesser.cmd(`PASS wrong-${i}`)).code;
  }
  // Node A refuses the address on its own.
  expect((await (await connect(a)).read())?.lines.join(" ")).toContain("failed logins");
  redis!.proc.kill("SIGCONT");
}

/** The greeting node `b` gives the address once it refuses it, or its last one after 10 s. */
async function greetingOnceRefused(b: number): Promise<string> {
  // Both nodes reconnect (back-off from 250 ms) and beat every 500 ms.
  const deadline = Date.now() + 10_000;
  let seen = "";
  while (Date.now() < deadline) {
    const w = await connect(b);
    seen = (await w.read())?.lines.join(" ") ?? "";
    w.close();
    if (seen.includes("failed logins")) break;
    await Bun.sleep(100);
  }
  return seen;
}

test("a ban taken on one node while the store was stopped refuses the address on the other node once the store answers again", async () => {
  const [a, b] = await twoNodes();
  await banWhileStopped(a);
  expect(await greetingOnceRefused(b)).toContain("failed logins");
}, 30_000);

test("likewise for an address banned before: the store's record of its ended ban does not keep the new one out", async () => {
  const [a, b] = await twoNodes();
  // The store remembers an ended ban (for the doubling of the next) until banMaxMs after its end.
  const admin = new RedisClient(redis!.url);
  await admin.connect();
  await admin.send("SET", ["ftpkit:ban:127.0.0.1", `${Date.now() - 60_000}:1`, "PX", "3600000"]);
  admin.close();
  await banWhileStopped(a);
  expect(await greetingOnceRefused(b)).toContain("failed logins");
}, 30_000);
