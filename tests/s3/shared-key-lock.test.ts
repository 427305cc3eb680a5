// The S3 per-key lock across processes: two `ftpkit serve` processes on one bucket sharing a
// redis-server (as two nodes of a cluster). A DELE, an upload's commit and a rename of one object
// take turns in the store, not only within one process. Skipped only when S3_ENDPOINT is unset.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { random, finalCode, startUpload } from "../helpers/quota.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const KB = 1000;
let bucket: TestBucket | null = null;
let redis: RedisProcess | null = null;
const nodes: ServeProcess[] = [];
const wires: Wire[] = [];
let dir = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await Promise.all(nodes.splice(0).map((n) => n.kill("SIGTERM")));
  await redis?.stop();
  redis = null;
  await bucket?.drop();
  bucket = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

/**
 * Two nodes serving alice (home in a fresh bucket, a 1000 KB quota) with one redis-server; or one
 * `--workers 2` (state in the primary process): both "nodes" are then its port, the kernel spreads the sessions.
 */
async function twoNodes(workers = false, quota = 1000 * KB): Promise<number[]> {
  bucket = await freshBucket();
  dir = mkdtempSync(join(tmpdir(), "ftpkit-s3lock-"));
  const users = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice`, quota }]);
  if (workers) {
    nodes.push(await spawnServe(["--users", users, "--workers", "2"], { cwd: dir, timeoutMs: 30_000 }));
    return [nodes[0]!.port, nodes[0]!.port];
  }
  redis = await startRedis();
  for (let i = 0; i < 2; i++) nodes.push(await spawnServe(["--users", users, "--state", redis.url], { cwd: dir, timeoutMs: 30_000 }));
  return nodes.map((n) => n.port);
}

async function login(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  return w;
}

const avbl = async (w: Wire) => Number((await w.cmd("AVBL")).lines[0]);

/**
 * AVBL on `w` once it is `bytes` (settlements reach the store after the replies, so polled, at most
 * 10 s), and still `bytes` a moment later: a settlement counted twice would move it on.
 */
async function avblBecomes(w: Wire, bytes: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await avbl(w)) !== bytes && Date.now() < deadline) await Bun.sleep(50);
  await Bun.sleep(200);
  expect(await avbl(w)).toBe(bytes);
}

describe.skipIf(!HAVE_S3)("the S3 per-key lock across processes", () => {
  for (const workers of [false, true]) test(`six DELEs of one object on ${workers ? "two workers (state in the primary)" : "two nodes"} at once: exactly one 250, and the quota gets its size back once`, async () => {
    const [a, b] = await twoNodes(workers);
    const w = await login(a!);
    expect(finalCode(await w.transfer("STOR keep.bin", random(300 * KB)))).toBe(226);
    expect(finalCode(await w.transfer("STOR victim.bin", random(300 * KB)))).toBe(226);
    expect(await avbl(w)).toBe(400 * KB);
    const sessions = await Promise.all([a, b, a, b, a, b].map((p) => login(p!)));
    const codes = (await Promise.all(sessions.map((s) => s.cmd("DELE victim.bin")))).map((r) => r.code).sort();
    expect(codes).toEqual([250, 550, 550, 550, 550, 550]);
    // Each node agrees: keep.bin's 300 KB are still counted (six credits of 300 KB made it 0).
    // A DELE's settlement is sent without being waited for.
    for (const s of [sessions[0]!, sessions[1]!]) await avblBecomes(s, 700 * KB);
    expect(await bucket!.keys()).toEqual(["alice/keep.bin"]);
  }, 60_000);

  test("two STORs of one new name, then two overwrites of it, one on each node at once: one creates it, and the usage counts the object once", async () => {
    const [a, b] = await twoNodes();
    const [x, y] = await Promise.all([login(a!), login(b!)]);
    // A STOR that found no object commits only if there is still none: the second is refused (each
    // used to see no object before it, answer 226, and add its 400 KB): 450 before its 150 while the
    // first holds the new name, 550 at its commit if it planned before that.
    let codes = (await Promise.all([x.transfer("STOR new.bin", random(400 * KB)), y.transfer("STOR new.bin", random(400 * KB))])).map(finalCode);
    expect(codes.sort()[0]).toBe(226);
    expect([450, 550]).toContain(codes[1]!);
    await avblBecomes(x, 600 * KB); // settlements are sent without being waited for
    // Two overwrites by 100 KB: the 400 KB they replace are credited once (each would credit them).
    codes = (await Promise.all([x.transfer("STOR new.bin", random(100 * KB)), y.transfer("STOR new.bin", random(100 * KB))])).map(finalCode);
    expect(codes).toEqual([226, 226]);
    await avblBecomes(x, 900 * KB);
    await avblBecomes(y, 900 * KB);
  }, 60_000);

  test("two uploads of one name on two nodes near the quota: the object stored is byte for byte the upload that got 226", async () => {
    const MB = 1000 * KB;
    const [a, b] = await twoNodes(false, 30 * MB);
    const [x, y] = await Promise.all([login(a!), login(b!)]);
    expect(finalCode(await x.transfer("STOR keep.bin", random(15 * MB)))).toBe(226);
    const sha = (d: Uint8Array) => new Bun.CryptoHasher("sha256").update(d).digest("hex");
    // Together they cross the quota, so each node's admissions wait for leases from redis-server:
    // chunks that arrived meanwhile were handed to storage out of order (two 512 KiB pieces swapped).
    for (let round = 0; round < 4; round++) {
      const data = [random(12 * MB), random(9 * MB)];
      const codes = (await Promise.all([x.transfer("STOR same.bin", data[0]), y.transfer("STOR same.bin", data[1])])).map(finalCode);
      const won = codes.indexOf(226);
      if (won >= 0) expect(sha(new Uint8Array(await bucket!.api.client().file("alice/same.bin").arrayBuffer()))).toBe(sha(data[won]!));
      if (won >= 0) expect((await x.cmd("DELE same.bin")).code).toBe(250);
    }
  }, 120_000);

  for (const workers of [false, true]) test(`STOUs on ${workers ? "two workers (state in the primary)" : "two nodes"} whose uploads overlap: each gets a name of its own and stores its bytes`, async () => {
    const [a, b] = await twoNodes(workers);
    const sessions = await Promise.all([a, b, a, b].map((p) => login(p!)));
    // Every 150 is in before any upload ends (all of them once chose STOU.1; all but one failed at the commit).
    const uploads = await Promise.all(sessions.map((w) => startUpload(w, "STOU")));
    expect(uploads.map((u) => u.first.code)).toEqual([150, 150, 150, 150]);
    const names = uploads.map((u) => /^FILE: (.+)$/.exec(u.first.lines[0]!)?.[1] ?? "");
    expect(new Set(names).size).toBe(4);
    const bodies = names.map((_, i) => random(10 * KB + i));
    await Promise.all(uploads.map((u, i) => u.send(bodies[i]!)));
    expect(await Promise.all(uploads.map((u) => u.finish()))).toEqual([226, 226, 226, 226]);
    const client = bucket!.api.client();
    for (const [i, name] of names.entries()) expect(Buffer.from(await client.file(`alice/${name}`).arrayBuffer()).equals(Buffer.from(bodies[i]!))).toBe(true);
  }, 60_000);

  test("redis-server unreachable: a DELE gets 450 (try again) and deletes nothing", async () => {
    const [a] = await twoNodes();
    const w = await login(a!);
    expect(finalCode(await w.transfer("STOR f.bin", random(10 * KB)))).toBe(226);
    await redis!.stop();
    redis = null;
    const r = await w.cmd("DELE f.bin");
    expect(r.code).toBe(450);
    expect(r.lines.join(" ")).toContain("try again");
    expect(await bucket!.keys()).toEqual(["alice/f.bin"]);
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("two servers in one process (the package API), each with its own state", () => {
  test("a server without shared state is not refused when the other server's store goes down: its S3 DELE takes no lease there", async () => {
    const { createServer } = await import("../../server/index.ts");
    bucket = await freshBucket();
    dir = mkdtempSync(join(tmpdir(), "ftpkit-s3lock-"));
    const users = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }]);
    const plain = createServer({ usersFile: users, host: "127.0.0.1", port: 0, quiet: true });
    redis = await startRedis();
    const clustered = createServer({ usersFile: users, host: "127.0.0.1", port: 0, quiet: true, state: redis.url });
    try {
      const { port } = await plain.listen();
      await clustered.listen(); // the newest server: its store was used for every server's S3 locks
      const w = await login(port);
      expect(finalCode(await w.transfer("STOR f.bin", random(10 * KB)))).toBe(226);
      await redis.stop();
      redis = null;
      // Before: 450 'shared state unreachable', from a store this server never used.
      expect((await w.cmd("DELE f.bin")).code).toBe(250);
      expect(await bucket.keys()).toEqual([]);
    } finally {
      await clustered.close().catch(() => {});
      await plain.close();
    }
  }, 60_000);
});
