// RNTO onto a name a running upload has reserved on an S3 home: 450 (file busy), as a second STOR of
// it gets, on the same server and on another node sharing state; the upload then ends 226 with its
// bytes. Before, the rename took the name and the upload ended "451 File exists", its data dropped.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type FtpServer } from "../../server/index.ts";
import { reservedNames } from "../../server/storage/s3-name-claim.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { finalCode, random, startUpload } from "../helpers/quota.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const KB = 1000;
let bucket: TestBucket | null = null;
let redis: RedisProcess | null = null;
const servers: FtpServer[] = [];
const wires: Wire[] = [];
let dir = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  for (const s of servers.splice(0)) await s.close(0);
  await redis?.stop();
  redis = null;
  await bucket?.drop();
  bucket = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

/** One server, or two sharing a redis-server (two nodes of a cluster on one bucket): their ports. */
async function serve(nodes: 1 | 2): Promise<number[]> {
  bucket = await freshBucket();
  dir = mkdtempSync(join(tmpdir(), "ftpkit-s3rnto-"));
  const usersFile = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice`, quota: 10_000 * KB }]);
  if (nodes === 2) redis = await startRedis();
  for (let i = 0; i < nodes; i++) {
    const s = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, ...(redis ? { state: redis.url } : {}) });
    await s.listen();
    servers.push(s);
  }
  return servers.map((s) => s.address.port);
}

async function login(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  expect((await w.cmd("TYPE I")).code).toBe(200);
  return w;
}

describe.skipIf(!HAVE_S3)("RNTO onto a name a running upload reserved, on an S3 home", () => {
  for (const nodes of [1, 2] as const) {
    test(`${nodes === 1 ? "one server" : "another node sharing state"}: 450, the upload ends 226 with all its bytes, and the rename works once it has ended`, async () => {
      const [a, b] = await serve(nodes);
      const uploader = await login(a!);
      const mover = await login(b ?? a!);
      expect(finalCode(await mover.transfer("STOR w.bin", random(KB)))).toBe(226);
      expect((await mover.cmd("MKD d")).code).toBe(257);
      const up = await startUpload(uploader, "STOR nx.bin");
      await up.send(random(100 * KB));
      expect((await mover.cmd("RNFR w.bin")).code).toBe(350);
      const file = await mover.cmd("RNTO nx.bin");
      expect(file.code).toBe(450);
      expect(file.lines.join(" ")).toContain("being uploaded by another session");
      // A directory onto it too: its objects would sit under the name the upload then completes.
      expect((await mover.cmd("RNFR d")).code).toBe(350);
      expect((await mover.cmd("RNTO nx.bin")).code).toBe(450);
      await up.send(random(10));
      expect(await up.finish()).toBe(226);
      expect((await mover.cmd("SIZE nx.bin")).lines[0]).toBe(String(100 * KB + 10));
      expect((await mover.cmd("SIZE w.bin")).lines[0]).toBe(String(KB));
      // Ended, the name is a file like any other: RNTO over it replaces it.
      expect((await mover.cmd("RNFR w.bin")).code).toBe(350);
      expect((await mover.cmd("RNTO nx.bin")).code).toBe(250);
      expect((await mover.cmd("SIZE nx.bin")).lines[0]).toBe(String(KB));
      expect(reservedNames()).toBe(0);
    }, 60_000);
  }
});
