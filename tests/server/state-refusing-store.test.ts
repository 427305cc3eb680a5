// A --state store that takes connections but refuses every write (full at maxmemory with
// noeviction; a replica turned read-only) is one outage in the log, not two lines per heartbeat:
// "reachable again" waits until the store answers a command.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RedisClient } from "bun";
import { createServer, type FtpServer } from "../../server/index.ts";
import { waitFor } from "../helpers/peers.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { captureLogger } from "../tls/helpers.ts";

let redis: RedisProcess | null = null;
let admin: RedisClient | null = null;
let server: FtpServer | null = null;
let root = "";
afterEach(async () => {
  await server?.close(0);
  server = null;
  admin?.close();
  admin = null;
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
});

/** How many commands the store refused for lack of memory (INFO errorstats). */
async function oomRefusals(client: RedisClient): Promise<number> {
  const info = String(await client.send("INFO", ["errorstats"]));
  return Number(/errorstat_OOM:count=(\d+)/.exec(info)?.[1] ?? 0);
}

test("a store refusing every write for 5 heartbeats logs 'unreachable' once, and 'reachable again' only once it answers", async () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-state-refusing-"));
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw" }]);
  redis = await startRedis();
  admin = new RedisClient(redis.url);
  await admin.connect();
  const log = captureLogger();
  // A heartbeat every 500 ms.
  server = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, state: redis.url, stateTtlMs: 1500, logger: log });
  await server.listen();
  const lines = (event: string) => log.events.filter((e) => e.event === event).length;
  await admin.send("CONFIG", ["SET", "maxmemory", "1"]);
  const deadline = Date.now() + 15_000;
  while ((await oomRefusals(admin)) < 5) {
    if (Date.now() > deadline) throw new Error("timed out waiting for five refused heartbeats");
    await Bun.sleep(50);
  }
  expect(lines("state store unreachable")).toBe(1);
  expect(lines("state store reachable again")).toBe(0);
  await admin.send("CONFIG", ["SET", "maxmemory", "0"]);
  await waitFor(() => lines("state store reachable again") > 0, 15_000, "the store answering again");
  expect(lines("state store unreachable")).toBe(1);
  expect(lines("state store reachable again")).toBe(1);
}, 40_000);
