// ftpkit serve --workers 2 (issue 12): two processes on one control port share caps and quotas.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFtpkit, waitFor } from "../helpers/peers.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { du, finalCode, random } from "../helpers/quota.ts";

const KB = 1000;


let redis: RedisProcess | null = null;
let serve: ServeProcess | null = null;
let root = "";
const wires: Wire[] = [];

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await serve?.kill("SIGTERM");
  serve = null;
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
});

let mode: "redis" | "memory" = "redis";

async function start(quota: number, extra: string[] = []): Promise<{ port: number; home: string }> {
  root = mkdtempSync(join(tmpdir(), "ftpkit-workers-"));
  const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota }]);
  const state = mode === "redis" ? ["--state", (redis = await startRedis()).url] : [];
  serve = await spawnServe(["--users", users, "--workers", "2", ...state, ...extra], { cwd: root, timeoutMs: 30_000 });
  return { port: serve.port, home: join(root, "home/alice") };
}

async function connect(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  return w;
}

/** Worker PIDs as the primary's listening line names them. */
function workerPids(): number[] {
  const line = /listening on ftp:\S+ \(\d+ workers, pids ([\d ]+),/.exec(serve!.stdout() + serve!.stderr());
  return line ? line[1]!.split(" ").map(Number) : [];
}

for (const m of ["redis", "memory"] as const) describe(`ftpkit serve --workers 2, state ${m === "redis" ? "in redis-server" : "in the primary process"}`, () => {
  beforeEach(() => {
    mode = m;
  });

  test("6 sessions upload at once against a 1 MB quota: never above it, the crossing uploads get 552", async () => {
    const { port, home } = await start(1000 * KB);
    expect(workerPids()).toHaveLength(2);
    const sessions = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async () => {
        const w = await connect(port);
        expect((await w.login("alice", "alice-pw")).code).toBe(230);
        return w;
      }),
    );
    const codes = (await Promise.all(sessions.map((w, i) => w.transfer(`STOR part${i}.bin`, random(400 * KB))))).map(finalCode);
    expect(codes.every((c) => c === 226 || c === 552)).toBe(true);
    expect(codes.filter((c) => c === 552).length).toBeGreaterThanOrEqual(4);
    expect(du(home)).toBeLessThanOrEqual(1000 * KB);
  }, 60_000);

  test("--max-connections 3 holds over both workers", async () => {
    const { port } = await start(0, ["--max-connections", "3"]);
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await (await connect(port)).read())?.code);
    expect(codes.filter((c) => c === 220)).toHaveLength(3);
    expect(codes.filter((c) => c === 421)).toHaveLength(3);
  }, 40_000);

  test("passive data connections reach the worker that owns the session (sliced --pasv-ports)", async () => {
    const base = 26_000 + Math.floor(Math.random() * 45) * 20;
    const { port } = await start(0, ["--pasv-ports", `${base}-${base + 19}`]);
    expect(serve!.stdout() + serve!.stderr()).toContain(`passive ports ${base}-${base + 9}, ${base + 10}-${base + 19}`);
    for (let i = 0; i < 6; i++) {
      const w = await connect(port);
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      const r = await w.transfer("LIST");
      expect(r.final?.code).toBe(226);
    }
  }, 40_000);

  test("stopping the primary stops its workers", async () => {
    await start(0);
    const pids = workerPids();
    expect(pids).toHaveLength(2);
    expect(await serve!.kill("SIGTERM")).toBe(0);
    serve = null;
    await waitFor(() => pids.every((pid) => !alive(pid)), 15_000, "workers gone");
  }, 40_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("--workers 0 is refused with one clear line", async () => {
  const r = await runFtpkit(["serve", "--port", "0", "--workers", "0"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("--workers must be auto or a whole number");
});

test("session ids in the log are unique across workers and name the worker", async () => {
  mode = "memory";
  const { port } = await start(0, ["--log-format", "json"]);
  const ids = () =>
    serve!
      .stdout()
      .split("\n")
      .filter((l) => l.includes('"event":"session start"'))
      .map((l) => JSON.parse(l).session as unknown);
  // SO_REUSEPORT spreads connections by address hash: connect until both workers have logged one.
  for (let i = 0; i < 60 && new Set(ids().map((id) => String(id).split("-")[0])).size < 2; i++) {
    const w = await connect(port);
    expect((await w.read())?.code).toBe(220);
    await waitFor(() => ids().length > i, 5000, "session start line");
  }
  const seen = ids();
  expect(new Set(seen.map((id) => String(id).split("-")[0]))).toEqual(new Set(["0", "1"]));
  for (const id of seen) expect(String(id)).toMatch(/^[01]-\d+$/);
  // Each worker counts from 1, so without the prefix both would log session 1.
  expect(new Set(seen).size).toBe(seen.length);
}, 60_000);

test("SIGHUP to the primary reloads every worker and stops nothing", async () => {
  mode = "memory";
  const { port } = await start(0);
  const pids = workerPids();
  expect(pids).toHaveLength(2);
  process.kill(serve!.proc.pid, "SIGHUP");
  await waitFor(() => (serve!.stdout().match(/INFO +reloaded /g) ?? []).length === 2, 15_000, "both workers reloaded");
  expect(serve!.proc.exitCode).toBeNull();
  expect(pids.every(alive)).toBe(true);
  const w = await connect(port);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
}, 40_000);

test("with --port 0 the first stdout line is the URL, before the workers' own lines", async () => {
  mode = "memory";
  const { port } = await start(0);
  await waitFor(() => (serve!.stdout().match(/worker listening/g) ?? []).length === 2, 15_000, "both workers' lines");
  expect(serve!.stdout().split("\n")[0]).toBe(`ftp://127.0.0.1:${port}/`);
}, 40_000);
