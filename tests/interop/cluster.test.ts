// A real topology on loopback (issue 12): HAProxy (TCP mode, send-proxy-v2) in front of 3
// `ftpkit serve` nodes sharing one redis-server and one file store — a directory, and a radosgw
// bucket (S3 homes; skipped only when S3_ENDPOINT is unset, see tests/helpers/s3.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digest, runFtpkit, spawnFtpkit, waitFor } from "../helpers/peers.ts";
import { startHaproxy, type Haproxy } from "../helpers/haproxy.ts";
import { freePort, startRedis, type RedisProcess } from "../helpers/redis.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { run } from "./run.ts";
import { finalCode, random } from "../helpers/quota.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";

const KB = 1000;
const QUOTA = 3000 * KB;

/** Where the nodes' homes live, as the tests put and inspect files there. */
interface FileStore {
  readonly label: string;
  readonly skip: boolean;
  /** The home of `user` for the users file. */
  home(user: string): Promise<string>;
  put(user: string, name: string, bytes: Uint8Array): Promise<void>;
  bytes(user: string, name: string): Promise<Uint8Array>;
  /** 0 when the file does not exist. */
  size(user: string, name: string): Promise<number>;
  drop(): Promise<void>;
}

function directoryStore(): FileStore {
  return {
    label: "one directory",
    skip: false,
    home: async (user) => join(root, "home", user),
    put: async (user, name, bytes) => writeFileSync(join(root, "home", user, name), bytes),
    bytes: async (user, name) => readFileSync(join(root, "home", user, name)),
    size: async (user, name) => (existsSync(join(root, "home", user, name)) ? statSync(join(root, "home", user, name)).size : 0),
    drop: async () => {},
  };
}

function bucketStore(): FileStore {
  let bucket: TestBucket | null = null;
  const client = () => bucket!.api.client();
  return {
    label: "one radosgw bucket (S3 homes)",
    skip: !HAVE_S3,
    async home(user) {
      bucket ??= await freshBucket();
      return `s3://${bucket.name}/${user}`;
    },
    put: async (user, name, bytes) => void (await client().write(`${user}/${name}`, bytes)),
    bytes: async (user, name) => new Uint8Array(await client().file(`${user}/${name}`).arrayBuffer()),
    size: async (user, name) => ((await client().exists(`${user}/${name}`)) ? client().size(`${user}/${name}`) : 0),
    drop: async () => {
      await bucket?.drop();
      bucket = null;
    },
  };
}

let root = "";
let redis: RedisProcess;
let nodes: Array<ServeProcess | null> = [];
let haproxy: Haproxy | undefined;
let port = 0;

for (const store of [directoryStore(), bucketStore()]) describe.skipIf(store.skip)(`3 nodes behind HAProxy (send-proxy-v2), one Redis, ${store.label}`, () => {
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "ftpkit-cluster-"));
    const users = await makeUsersFile(root, [
      { name: "alice", password: "alice-pw", quota: QUOTA, home: await store.home("alice") },
      { name: "bob", password: "bob-pw", home: await store.home("bob") },
    ]);
    redis = await startRedis();
    const args = ["--users", users, "--state", redis.url, "--proxy-protocol", "--proxy-from", "127.0.0.1", "--max-rate", "2MB"];
    nodes = await Promise.all([0, 1, 2].map(() => spawnServe(args, { cwd: root, timeoutMs: 30_000 })));
    port = freePort();
    haproxy = await startHaproxy(root, port, nodes.map((n) => n!.port));
  }, 60_000);

  afterAll(async () => {
    await haproxy?.stop();
    await Promise.all(nodes.map((n) => n?.kill()));
    await redis?.stop();
    await store.drop();
    rmSync(root, { recursive: true, force: true });
  });

  const url = (user: string, pass: string, path: string) => `ftp://${user}:${pass}@127.0.0.1:${port}/${path}`;

    test("upload through the balancer, download through it: byte-identical", async () => {
      const src = join(root, "src.bin");
      writeFileSync(src, random(1500 * KB));
      const up = await run(["curl", "-sS", "--max-time", "30", "-T", src, url("bob", "bob-pw", "up.bin")]);
      expect(up.code).toBe(0);
      const dst = join(root, "dst.bin");
      const down = await run(["curl", "-sS", "--max-time", "30", "-o", dst, url("bob", "bob-pw", "up.bin")]);
      expect(down.code).toBe(0);
      expect(digest(readFileSync(dst))).toBe(digest(readFileSync(src)));
      // Stored once, in the shared store, whole.
      expect(digest(await store.bytes("bob", "up.bin"))).toBe(digest(readFileSync(src)));
    }, 60_000);

    test("put -r and get -r of a tree through the balancer, in block mode (one kept data connection per worker): byte-identical", async () => {
      const src = join(root, "tree-src");
      const files = new Map<string, Uint8Array>();
      for (const dir of ["a", "a/b", "c"]) mkdirSync(join(src, dir), { recursive: true });
      for (let i = 0; i < 12; i++) {
        const rel = `${["a", "a/b", "c"][i % 3]}/f${i}.bin`;
        files.set(rel, random(i === 0 ? 0 : 20 * KB + i * 997));
        writeFileSync(join(src, rel), files.get(rel)!);
      }
      const env = { FTPKIT_PASSWORD: "bob-pw" };
      const put = await runFtpkit(["put", "-r", src, `ftp://bob@127.0.0.1:${port}/tree`, "--parallel", "3", "--verbose"], { cwd: root, env, timeoutMs: 40_000 });
      expect(put.code).toBe(0);
      // The nodes took MODE B behind the balancer: the tree moved over kept data connections.
      expect(put.stderr).toMatch(/< 200 Mode set to B/);
      const dst = join(root, "tree-dst");
      const get = await runFtpkit(["get", "-r", `ftp://bob@127.0.0.1:${port}/tree`, dst, "--parallel", "3"], { cwd: root, env, timeoutMs: 40_000 });
      expect(get.code).toBe(0);
      for (const [rel, bytes] of files) {
        expect(digest(await store.bytes("bob", `tree/${rel}`))).toBe(digest(bytes));
        expect(digest(readFileSync(join(dst, rel)))).toBe(digest(bytes));
      }
    }, 60_000);

    test("6 clients of one user upload at once through different nodes: the quota holds", async () => {
      const sessions = await Promise.all(
        [0, 1, 2, 3, 4, 5].map(async () => {
          const w = await Wire.connect(port);
          expect((await w.login("alice", "alice-pw")).code).toBe(230);
          return w;
        }),
      );
      try {
        const codes = (await Promise.all(sessions.map((w, i) => w.transfer(`STOR q${i}.bin`, random(1000 * KB))))).map(finalCode);
        expect(codes.every((c) => c === 226 || c === 552)).toBe(true);
        expect(codes.filter((c) => c === 552).length).toBeGreaterThanOrEqual(3);
        let stored = 0;
        for (let i = 0; i < 6; i++) stored += await store.size("alice", `q${i}.bin`);
        expect(stored).toBeLessThanOrEqual(QUOTA);
      } finally {
        for (const w of sessions) w.close();
      }
      // The sessions were spread: every node logged alice in.
      for (const n of nodes) expect(n!.stdout() + n!.stderr()).toMatch(/login .*user=alice/);
    }, 60_000);

    test("failed logins on some nodes slow the next failure on another (back-off counted by the real client address)", async () => {
      const fail = async () => {
        const w = await Wire.connect(port);
        const started = performance.now();
        const r = await w.login("bob", "wrong");
        w.close();
        return { code: r.code, ms: performance.now() - started };
      };
      for (let i = 0; i < 4; i++) expect((await fail()).code).toBe(530);
      // Round robin put those 4 on 3 nodes; alone, none of them saw more than 2. Shared: 400 ms + 4 × 250 ms.
      const fifth = await fail();
      expect(fifth.code).toBe(530);
      expect(fifth.ms).toBeGreaterThanOrEqual(1300);
    }, 60_000);

    test("kill -9 of the node serving a download, then curl -C - completes through the others", async () => {
      const size = 6_000 * KB;
      const original = random(size);
      await store.put("bob", "big.bin", original);
      const dst = join(root, "big.part");
      // Successful logins of bob per node (not "login failed" lines), to find the node that serves.
      const logins = (n: ServeProcess | null) => (n!.stdout() + n!.stderr()).match(/INFO +login session=\d+ ip=\S+ user=bob/g)?.length ?? 0;
      const before = nodes.map(logins);
      // The client reads slowly (500 KB/s, ~12 s), so the node is surely killed mid-download.
      const first = Bun.spawn(["curl", "-sS", "--max-time", "40", "--limit-rate", "500K", "-o", dst, url("bob", "bob-pw", "big.bin")], {
        stdout: "pipe",
        stderr: "pipe",
      });
      try {
        await waitFor(() => {
          try {
            return statSync(dst).size > 500 * KB;
          } catch {
            return false;
          }
        }, 20_000, "download under way");
        let serving = -1;
        await waitFor(() => (serving = nodes.findIndex((n, i) => logins(n) > before[i]!)) >= 0, 10_000, "the serving node's login line");
        await nodes[serving]!.kill("SIGKILL");
        nodes[serving] = null;
        expect(await first.exited).not.toBe(0);
      } finally {
        try {
          process.kill(first.pid, "SIGKILL");
        } catch {}
      }
      const partial = statSync(dst).size;
      expect(partial).toBeLessThan(size);
      const resumed = await run(["curl", "-sS", "--max-time", "40", "-C", "-", "-o", dst, url("bob", "bob-pw", "big.bin")], { timeoutMs: 45_000 });
      expect(resumed.code).toBe(0);
      expect(digest(readFileSync(dst))).toBe(digest(original));
    }, 90_000);

    test("kill -9 of the node serving `ftpkit get` (and of the client), then `ftpkit resume` completes through the others", async () => {
      const size = 12_000 * KB; // ~6 s at the nodes' 2 MB/s
      const original = random(size);
      await store.put("bob", "big2.bin", original);
      const cwd = mkdtempSync(join(root, "client-"));
      const part = join(cwd, "big2.bin.ftpkit-part");
      const logins = (n: ServeProcess | null) => (n ? (n.stdout() + n.stderr()).match(/INFO +login session=\d+ ip=\S+ user=bob/g)?.length ?? 0 : 0);
      const before = nodes.map(logins);
      const env = { FTPKIT_PASSWORD: "bob-pw" };
      const get = spawnFtpkit(["get", `ftp://bob@127.0.0.1:${port}/big2.bin`], { cwd, env });
      try {
        await waitFor(() => (existsSync(part) ? statSync(part).size : 0) > 1_000 * KB, 20_000, "download under way");
        let serving = -1;
        await waitFor(() => (serving = nodes.findIndex((n, i) => n !== null && logins(n) > before[i]!)) >= 0, 10_000, "the serving node's login line");
        // The node dies, and so does the client (left alone, `ftpkit get` would retry and resume by itself).
        await nodes[serving]!.kill("SIGKILL");
        nodes[serving] = null;
        get.kill(9);
        await get.exited;
      } finally {
        get.kill(9);
      }
      expect(statSync(part).size).toBeLessThan(size);
      const r = await runFtpkit(["resume"], { cwd, env, timeoutMs: 40_000 });
      expect(r.code).toBe(0);
      expect(existsSync(part)).toBe(false);
      expect(digest(readFileSync(join(cwd, "big2.bin")))).toBe(digest(original));
    }, 90_000);
});
