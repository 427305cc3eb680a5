// ftpkit serve --workers 2: a worker killed in the middle of an upload leaves bytes on disk that no
// settlement counted, and connection slots of sessions that are gone; the primary sees it die, and the
// quota and the connection caps account for it at once (its memory store; with --state, the survivors tell redis-server).
import { afterEach, describe, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { waitFor } from "../helpers/peers.ts";
import { random } from "../helpers/quota.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const KB = 1000;
let serve: ServeProcess | null = null;
let redis: RedisProcess | null = null;
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
  if (root) rmSync(root, { recursive: true, force: true });
});

async function login(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  return w;
}

/** The workers the primary's listening line names. */
function workerPids(): number[] {
  return /listening on ftp:\S+ \(\d+ workers, pids ([\d ]+),/.exec(serve!.stdout() + serve!.stderr())![1]!.split(" ").map(Number);
}

/** The worker (of those the primary's listening line names) that has `file` open. */
function holderOf(file: string): number | undefined {
  return workerPids().find((pid) => readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }));
}

const usedOf = async (w: Wire) => Number(/used (\d+) of/.exec((await w.cmd("SITE QUOTA")).lines.join("\n"))![1]);

/**
 * What `probe` gives within a short while (the survivors tell redis-server as the primary tells them,
 * beside the test's next step): a second, against the 15 s of --state-ttl before.
 */
async function soon<T>(probe: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 1500;
  for (;;) {
    const v = await probe();
    if (done(v) || Date.now() > deadline) return v;
    await Bun.sleep(50);
  }
}

/**
 * Serve alice (10 MB quota) on --workers 2 with `extra` (and with --state for `mode` redis), and kill
 * the worker running her upload once 300 KB of it are on disk.
 */
async function killMidUpload(mode: "memory" | "redis", extra: string[], every = false): Promise<void> {
  if (mode === "redis") extra = [...extra, "--state", (redis = await startRedis()).url];
  root = mkdtempSync(join(tmpdir(), "ftpkit-workers-crash-"));
  const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota: 10_000 * KB }]);
  const partial = join(root, "home/alice/partial.bin");
  serve = await spawnServe(["--users", users, "--workers", "2", ...extra], { cwd: root, timeoutMs: 30_000 });
  const a = await login(serve.port);
  const data = await Bun.connect({ hostname: "127.0.0.1", port: parseEpsvReply((await a.cmd("EPSV")).lines[0]!), socket: { data() {} } });
  sockets.push(data);
  expect((await a.cmd("STOR partial.bin")).code).toBe(150);
  const chunk = random(300 * KB);
  let off = 0;
  await waitFor(() => {
    if (off < chunk.length) off += Math.max(0, data.write(chunk.subarray(off)));
    try {
      return lstatSync(partial).size === 300 * KB;
    } catch {
      return false;
    }
  }, 10_000, "300 KB on disk");
  const victim = holderOf(partial);
  expect(victim).toBeNumber();
  // `every`: all the workers at once (none left to tell the store), the one running the upload first.
  for (const pid of every ? [victim!, ...workerPids().filter((p) => p !== victim)] : [victim!]) process.kill(pid, "SIGKILL");
  const exits = every ? 2 : 1;
  await waitFor(() => (serve!.stdout() + serve!.stderr()).match(/worker \d exited/g)?.length === exits, 10_000, "the primary to see the workers exit");
}

for (const mode of ["memory", "redis"] as const) describe(`state ${mode === "memory" ? "in the primary process" : "in redis-server"}`, () => {
  // Within the second before the dead worker is replaced, every session below lands on the other one.
  test("a worker killed mid-upload: SITE QUOTA on the other counts the bytes it left at once, not after --state-ttl", async () => {
    await killMidUpload(mode, []);
    const b = await login(serve!.port);
    // Before: 0 for the next 15 s (--state-ttl), the dead worker's lease still counted as alive.
    expect(await soon(() => usedOf(b), (used) => used === 300 * KB)).toBe(300 * KB);
  }, 60_000);

  test("a worker killed with a session open: under --max-connections 1 a newcomer gets in at once, not after --state-ttl", async () => {
    await killMidUpload(mode, ["--max-connections", "1"]);
    // Before: 421 for the next 15 s, the dead worker's session still holding the one slot.
    const loginCode = async () => {
      const w = await Wire.connect(serve!.port);
      wires.push(w);
      return (await w.login("alice", "alice-pw").catch((err: Error) => ({ code: err.message }))).code;
    };
    expect(await soon(loginCode, (code) => code === 230)).toBe(230);
  }, 60_000);
});

describe("state in redis-server, every worker killed at once", () => {
  test("SITE QUOTA on a replacement counts the bytes the killed upload left at once, not after --state-ttl", async () => {
    await killMidUpload("redis", [], true);
    // No worker was left to tell redis-server: the replacements are told as they start.
    const loggedIn = async () => {
      const w = await Wire.connect(serve!.port).catch(() => null);
      if (w) wires.push(w);
      return w && (await w.login("alice", "alice-pw").catch(() => ({ code: 0 }))).code === 230 ? w : null;
    };
    let b: Wire | null = null;
    for (const deadline = Date.now() + 10_000; !b && Date.now() < deadline; ) b = (await loggedIn()) ?? (await Bun.sleep(100), null);
    if (!b) throw new Error("no replacement worker took a login within 10 s");
    // Before: 0 for the 15 s of --state-ttl from the kill.
    expect(await soon(() => usedOf(b!), (used) => used === 300 * KB)).toBe(300 * KB);
  }, 60_000);
});
