// Connections refused while the --state store is unreachable are logged like the other refusals:
// the first few of each 10 s window, the rest summed up (a balancer's health checks come every second).
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type FtpServer } from "../../server/index.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { captureLogger } from "../tls/helpers.ts";

let redis: RedisProcess | null = null;
let server: FtpServer | null = null;
let root = "";
afterEach(async () => {
  await server?.close(0);
  server = null;
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
});

test("20 connections refused with 421 while the store is down write 5 'connection refused' lines and one summary of 15", async () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-state-refusals-"));
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw" }]);
  redis = await startRedis();
  const log = captureLogger();
  server = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, state: redis.url, logger: log });
  const { port } = await server.listen();
  await redis.stop();
  redis = null;
  for (let i = 0; i < 20; i++) {
    const w = await Wire.connect(port);
    expect((await w.read(5000))?.code).toBe(421);
    w.close();
  }
  // Before: 20 lines, one per connection.
  expect(log.events.filter((e) => e.event === "connection refused")).toHaveLength(5);
  await server.close(0);
  server = null;
  const summaries = log.events.filter((e) => e.event === "connections refused (summary)");
  expect(summaries.map((e) => e.fields.count)).toEqual([15]);
}, 30_000);
