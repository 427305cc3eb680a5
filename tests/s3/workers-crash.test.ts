// ftpkit serve --workers 2 with an S3 home (radosgw): a worker killed mid-upload leaves a pending
// multipart upload and the lease of the new name it was uploading. The primary sees it die and tells
// the survivor, which aborts that upload and frees the name at once (not after a day and 15 s), and
// leaves a live worker's upload alone. Skipped only without S3_ENDPOINT.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { waitFor } from "../helpers/peers.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const MB = 1_000_000;
let serve: ServeProcess | null = null;
let redis: RedisProcess | null = null;
let bucket: TestBucket | null = null;
let root = "";
const wires: Wire[] = [];
const sockets: Array<{ end(): void }> = [];

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  for (const s of sockets.splice(0)) s.end();
  await serve?.kill("SIGTERM");
  serve = null;
  await redis?.stop();
  redis = null;
  await bucket?.drop();
  bucket = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

async function login(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  return w;
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the server's log ends:\n${((serve?.stdout() ?? "") + (serve?.stderr() ?? "")).slice(-4000)}`);
    await Bun.sleep(50);
  }
}

/**
 * The pending uploads under alice/ that have a part stored. A worker notes its upload in the shared
 * state once the store has created it, so an upload merely listed may be one whose note has not yet
 * reached the state (killed then, it waits for the day's sweep: a known limit); by its first stored
 * part the note went out long before. Waiting on the listing alone failed 1 run in ~20 under load.
 */
async function withAPart(): Promise<Array<{ key: string; id: string }>> {
  const out: Array<{ key: string; id: string }> = [];
  for (const u of await bucket!.pending("alice/")) if ((await bucket!.parts(u.key, u.id)) > 0) out.push(u);
  return out;
}

function workerPids(): number[] {
  return /listening on ftp:\S+ \(\d+ workers, pids ([\d ]+),/.exec(serve!.stdout() + serve!.stderr())![1]!.split(" ").map(Number);
}

/** The socket inodes of TCP connections whose local port is `port` (/proc/net/tcp and tcp6). */
function inodesOnPort(port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const out = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1]!.endsWith(`:${hex}`)) out.add(f[9]!);
    }
  }
  return out;
}

/** The worker that holds a socket on local port `port` (the passive port of the upload it runs). */
function holderOfPort(port: number): number | undefined {
  const inodes = inodesOnPort(port);
  return workerPids().find((pid) => readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return !!m && inodes.has(m[1]!);
    } catch {
      return false;
    }
  }));
}

/** Start a STOR of `name` on `w` and send `bytes` of it without ending; returns the passive port. */
async function startUpload(w: Wire, name: string, bytes: number): Promise<number> {
  const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  let drained: () => void = () => {};
  const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, drain: () => drained() } });
  sockets.push(data);
  expect((await w.cmd(`STOR ${name}`)).code).toBe(150);
  const chunk = new Uint8Array(bytes).fill(7);
  let off = 0;
  while (off < chunk.length) {
    off += Math.max(0, data.write(chunk.subarray(off)));
    if (off < chunk.length) await new Promise<void>((r) => ((drained = r), setTimeout(r, 50)));
  }
  return port;
}

for (const mode of ["memory", "redis"] as const) describe.skipIf(!HAVE_S3)(`state ${mode === "memory" ? "in the primary process" : "in redis-server"}`, () => {
  test("a worker killed mid-upload: the survivor aborts its pending multipart uploads and frees the name at once; a live worker's upload is kept", async () => {
    bucket = await freshBucket();
    root = mkdtempSync(join(tmpdir(), "ftpkit-s3-workers-crash-"));
    const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }]);
    const extra = mode === "redis" ? ["--state", (redis = await startRedis()).url] : [];
    serve = await spawnServe(["--users", users, "--workers", "2", ...extra], { cwd: root, timeoutMs: 30_000 });
    // serve's "listening" line comes with worker 0's: until worker 1 listens too, every session is worker 0's.
    await waitFor(() => /worker listening worker=1 /.test(serve!.stdout() + serve!.stderr()), 15_000, "worker 1 listening");
    // Uploads until both workers run one (sessions are spread by the kernel).
    const uploads: Array<{ key: string; pid: number }> = [];
    for (let i = 0; new Set(uploads.map((u) => u.pid)).size < 2 && i < 16; i++) {
      const port = await startUpload(await login(serve.port), `big${i}.bin`, 12 * MB);
      const pid = holderOfPort(port)!;
      expect(pid).toBeNumber();
      uploads.push({ key: `alice/big${i}.bin`, pid });
    }
    const victim = uploads[0]!.pid;
    const mine = (u: { key: string }) => uploads.find((x) => x.key === u.key)?.pid === victim;
    // Past its first 8 MiB part, each upload is a multipart upload in the bucket.
    await until(async () => new Set((await withAPart()).map((u) => u.key)).size === uploads.length, 20_000, "every multipart upload started, a part stored");
    const before = await bucket.pending("alice/");
    expect(before.some(mine) && !before.every(mine)).toBe(true);
    process.kill(victim, "SIGKILL");
    await waitFor(() => /worker \d exited/.test(serve!.stdout() + serve!.stderr()), 10_000, "the primary to see the worker exit");
    // Before: kept until the stale-upload sweep, a day later.
    await until(async () => !(await bucket!.pending("alice/")).some(mine), 5_000, "the dead worker's uploads aborted");
    // The live worker's are still there.
    expect(await bucket.pending("alice/")).toEqual(before.filter((u) => !mine(u)));
    // Logged once the abort is answered, and relayed by the primary: it may reach us after the bucket shows it.
    await waitFor(() => (serve!.stdout() + serve!.stderr()).includes("dead worker's multipart upload aborted"), 5_000, "the abort's log line");
    // Before: 450 (file busy) for the 15 s the dead worker's lease on the new name still ran.
    const w = await login(serve.port);
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    sockets.push(data);
    expect((await w.cmd(`STOR ${uploads[0]!.key.slice("alice/".length)}`)).code).toBe(150);
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("state in the primary process, every worker killed at once", () => {
  test("a replacement worker aborts the dead workers' pending multipart uploads", async () => {
    bucket = await freshBucket();
    root = mkdtempSync(join(tmpdir(), "ftpkit-s3-workers-crash-"));
    const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }]);
    serve = await spawnServe(["--users", users, "--workers", "2"], { cwd: root, timeoutMs: 30_000 });
    await startUpload(await login(serve.port), "big.bin", 12 * MB);
    await until(async () => (await withAPart()).length === 1, 20_000, "the multipart upload started, a part stored");
    const pids = workerPids();
    for (const pid of pids) process.kill(pid, "SIGKILL");
    await waitFor(() => (serve!.stdout() + serve!.stderr()).match(/worker \d exited/g)?.length === 2, 10_000, "the primary to see both exit");
    // No survivor was told: a replacement is, as it starts (after 1 s). Before: kept for a day.
    // 20 s: a replacement starts 1 s after the exits, then loads and sweeps; a full run's load once took it past 10 s.
    await until(async () => (await bucket!.pending("alice/")).length === 0, 20_000, "the upload aborted by a replacement");
    // Logged once the abort is answered, and relayed by the primary: it may reach us after the bucket shows it.
    await waitFor(() => (serve!.stdout() + serve!.stderr()).includes("dead worker's multipart upload aborted"), 5_000, "the abort's log line");
  }, 60_000);
});
