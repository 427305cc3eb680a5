// ftpkit serve --workers 2 (issue 12): two processes on one control port share caps and quotas.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFtpkit, waitFor } from "../helpers/peers.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { parseEpsvReply } from "../../protocol/address.ts";
import { SourcedWire } from "../ops/helpers.ts";
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

  test("a crowd that fills every slot without logging in is evicted for a newcomer from another address, on either worker", async () => {
    // 40: each worker holds about half of the crowd (SO_REUSEPORT's hash), and a newcomer evicts only
    // on its own worker, from an address holding at least two there. With 20, a split as uneven as
    // 17/3 (~0.3% of runs) can leave a worker too few to evict for the newcomers that land on it (the
    // likely cause of one CI failure: a newcomer's connection closed before its USER's reply).
    const { port } = await start(0, ["--max-connections", "40", "--max-per-ip", "100"]);
    const crowd: SourcedWire[] = [];
    for (let i = 0; i < 40; i++) {
      const w = await SourcedWire.connect(port, "127.0.0.2");
      crowd.push(w);
      expect((await w.read())?.code).toBe(220);
    }
    // Each newcomer lands on either worker (SO_REUSEPORT), which holds about half of the crowd.
    for (let i = 0; i < 6; i++) {
      const w = await SourcedWire.connect(port, `127.0.0.${10 + i}`);
      crowd.push(w);
      // The whole greeting, so a refusal says which (a worker left with too few of the crowd to evict, or another).
      const greeting = await w.read();
      const shown = greeting ? `${greeting.code} ${greeting.lines.join(" ")}` : "closed";
      expect({ newcomer: i, code: greeting?.code, shown }).toEqual({ newcomer: i, code: 220, shown });
      expect((await w.cmd("USER alice"))?.code).toBe(331);
      expect((await w.cmd("PASS alice-pw"))?.code).toBe(230);
    }
    for (const w of crowd) w.close();
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

  test("the listening line names the state store without its password", async () => {
    if (mode === "redis") redis = await startRedis();
    const url = redis && `redis://default:s3cret-pw@127.0.0.1:${redis.port}`; // the default user takes any password
    mode = "memory"; // the --state flag is the one given here
    await start(0, url ? ["--state", url] : []);
    const out = serve!.stdout() + serve!.stderr();
    expect(out).toContain(url ? `state redis://…@127.0.0.1:${redis!.port}` : "state in the primary process");
    expect(out).not.toContain("s3cret-pw");
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

for (const how of ["--state", "$FTPKIT_STATE"] as const) {
  test(`a store password given by ${how} is on no worker's command line nor in its environment (they get it on their standard input), and hooks never see it`, async () => {
    redis = await startRedis();
    const url = `redis://default:s3cret-pw@127.0.0.1:${redis.port}`; // the default user takes any password
    root = mkdtempSync(join(tmpdir(), "ftpkit-workers-"));
    const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw" }]);
    const flag = how === "--state" ? ["--state", url] : [];
    // A login hook dumps the FTPKIT_* variables it gets: the store's URL is not among them.
    const dump = join(root, "dump.ts");
    writeFileSync(dump, `require("node:fs").appendFileSync(process.argv[2], JSON.stringify(Object.keys(process.env).filter((k) => k.startsWith("FTPKIT_"))) + "\\n");`);
    const hook = ["--hook", `login=${process.execPath} ${dump} ${join(root, "env.jsonl")}`];
    serve = await spawnServe(["--users", users, "--workers", "2", ...flag, ...hook], { cwd: root, timeoutMs: 30_000, env: how === "--state" ? {} : { FTPKIT_STATE: url } });
    expect(serve.stdout() + serve.stderr()).toContain(`state redis://…@127.0.0.1:${redis.port}`);
    const pids = workerPids();
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.toContain("s3cret-pw");
    // Any process of the same user (a hook) can read a worker's environment as it began.
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/environ`, "utf8")).not.toContain("s3cret-pw");
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/environ`, "utf8")).not.toContain("login=");
    // Both workers serve, sharing the store.
    for (let i = 0; i < 4; i++) expect((await (await connect(serve.port)).login("alice", "alice-pw")).code).toBe(230);
    const envFile = join(root, "env.jsonl");
    await waitFor(() => existsSync(envFile) && readFileSync(envFile, "utf8").trim().split("\n").length === 4, 15_000, "4 login hooks");
    for (const line of readFileSync(envFile, "utf8").trim().split("\n")) {
      expect(JSON.parse(line)).toContain("FTPKIT_EVENT");
      expect(JSON.parse(line)).not.toContain("FTPKIT_STATE");
      expect(JSON.parse(line)).not.toContain("FTPKIT_WORKER_SECRETS");
    }
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.toContain("--hook");
  }, 40_000);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("a worker that cannot start while the store is down is retried less and less often, and comes back with the store", async () => {
  mode = "redis";
  await start(0);
  const [victim] = workerPids();
  const port = redis!.port;
  await redis!.stop();
  redis = null;
  process.kill(victim!, "SIGKILL");
  const exits = () => (serve!.stdout() + serve!.stderr()).split("\n").filter((l) => /worker \d exited/.test(l)).length;
  await waitFor(() => exits() >= 1, 10_000, "the worker's exit");
  const first = Date.now();
  // Restarts after 1, 1, 2, then 4 s: the fourth exit announces 4 s, some 4 s after the first (at a
  // fixed second there had been 4 more starts by then, each failing with its error line).
  await waitFor(() => /restarting it in 4 s/.test(serve!.stdout() + serve!.stderr()), 20_000, "the restart 4 s later");
  expect(Date.now() - first).toBeGreaterThanOrEqual(3_500);
  expect(exits()).toBe(4);
  redis = await startRedis(port);
  const listening = () => (serve!.stdout() + serve!.stderr()).split("\n").filter((l) => /worker listening/.test(l)).length;
  // The next start is due 4 s after that line; the budget allows two more failed starts (8 and 16 s)
  // on a loaded machine, and a miss shows the server's log (CI once timed out here with no clue why).
  try {
    await waitFor(() => listening() === 3, 32_000, "the worker listening again");
  } catch (err) {
    throw new Error(`${(err as Error).message}; the server's log:\n${(serve!.stdout() + serve!.stderr()).split("\n").slice(-40).join("\n")}`);
  }
}, 90_000);

test("SIGTERM to the primary and its workers at once (systemd stopping the unit) lets a running download finish", async () => {
  mode = "memory";
  const { port, home } = await start(0, ["--max-rate", "1MB"]);
  const body = random(2500 * KB);
  writeFileSync(join(home, "big.bin"), body);
  const w = await connect(port);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  const epsv = await w.cmd("EPSV");
  const chunks: Buffer[] = [];
  let firstBytes!: () => void;
  let closed!: () => void;
  const started = new Promise<void>((r) => (firstBytes = r));
  const ended = new Promise<void>((r) => (closed = r));
  await Bun.connect({
    hostname: "127.0.0.1",
    port: parseEpsvReply(epsv.lines[0]!),
    socket: { data: (_s, c) => void (chunks.push(Buffer.from(c)), firstBytes()), close: () => closed(), error: () => closed() },
  });
  expect((await w.cmd("RETR big.bin")).code).toBe(150);
  await started;
  // systemd's default KillMode=control-group signals every process of the unit, not just the main one.
  for (const pid of [serve!.proc.pid, ...workerPids()]) process.kill(pid, "SIGTERM");
  await ended;
  expect((await w.read(10_000))?.code).toBe(226);
  expect(Buffer.concat(chunks).equals(Buffer.from(body))).toBe(true);
  expect(await serve!.proc.exited).toBe(0);
}, 60_000);

test("a second serve --workers on the port a running one serves is refused (in use, exit 1), and the first keeps every connection", async () => {
  mode = "memory";
  const { port } = await start(0);
  // Before, both listened with SO_REUSEPORT: the kernel gave the second about half of the new
  // connections, each server with its own quotas and limits.
  const second = await runFtpkit(["serve", "--users", join(root, "users.ini"), "--port", String(port), "--workers", "2", "--host", "127.0.0.1"], { cwd: root, timeoutMs: 20_000 });
  expect(second.code).toBe(1);
  expect(second.stderr).toContain(`port ${port} is already in use`);
  const pids = workerPids();
  expect(pids).toHaveLength(2);
  for (let i = 0; i < 6; i++) {
    const w = await connect(port);
    expect((await w.login("alice", "alice-pw")).code).toBe(230);
  }
  // All six reached the first server: its log has their six logins.
  const logins = () => ((serve!.stdout() + serve!.stderr()).match(/INFO {2}login session=/g) ?? []).length;
  await waitFor(() => logins() >= 6, 5000, "six logins in the first server's log");
}, 60_000);

test("--workers 0 is refused with one clear line", async () => {
  const r = await runFtpkit(["serve", "--port", "0", "--workers", "0"]);
  expect(r.code).toBe(2);
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
    // A session is logged from its first command (a connection that says nothing is a health check).
    expect((await w.cmd("NOOP")).code).toBe(200);
    await waitFor(() => ids().length > i, 5000, "session start line");
  }
  const seen = ids();
  expect(new Set(seen.map((id) => String(id).split("-")[0]))).toEqual(new Set(["0", "1"]));
  for (const id of seen) expect(String(id)).toMatch(/^[01]-\d+$/);
  // Each worker counts from 1, so without the prefix both would log session 1.
  expect(new Set(seen).size).toBe(seen.length);
}, 60_000);

/** One session on each of the two workers (the server started with --log-format json), not logged in yet. */
async function onEachWorker(port: number): Promise<[Wire, Wire]> {
  const workerOf = () =>
    serve!
      .stdout()
      .split("\n")
      .filter((l) => l.includes('"event":"session start"'))
      .map((l) => String(JSON.parse(l).session).split("-")[0]);
  // SO_REUSEPORT spreads connections by address hash: connect until one session sits on each worker.
  const on = new Map<string, Wire>();
  for (let i = 0; i < 60 && on.size < 2; i++) {
    const w = await connect(port);
    expect((await w.read())?.code).toBe(220);
    expect((await w.cmd("NOOP")).code).toBe(200);
    await waitFor(() => workerOf().length > i, 5000, "session start line");
    const worker = workerOf()[i]!;
    if (!on.has(worker)) on.set(worker, w);
  }
  return [on.get("0")!, on.get("1")!];
}

test("a STOR of a new name reserved on one worker gets 450 before any 150 on the other; the first lands whole", async () => {
  mode = "memory";
  const { port, home } = await start(0, ["--log-format", "json"]);
  const [a, b] = await onEachWorker(port);
  for (const w of [a, b]) {
    expect((await w.cmd("USER alice")).code).toBe(331);
    expect((await w.cmd("PASS alice-pw")).code).toBe(230);
    expect((await w.cmd("TYPE I")).code).toBe(200);
  }
  // A's STOR is answered, its data connection not made yet: the name is A's on both workers.
  const aPort = parseEpsvReply((await a.cmd("EPSV")).lines[0]!);
  expect((await a.cmd("STOR new.bin")).code).toBe(150);
  // Before, B got 150 too, then 550 once its data connection was up (A's exclusive create won).
  const bPort = parseEpsvReply((await b.cmd("EPSV")).lines[0]!);
  const bData = await Bun.connect({ hostname: "127.0.0.1", port: bPort, socket: { data() {} } });
  const refused = await b.cmd("STOR new.bin");
  bData.end();
  expect(refused.code).toBe(450);
  expect((await b.cmd("NOOP")).code).toBe(200);
  const body = random(100 * KB);
  const aData = await Bun.connect({ hostname: "127.0.0.1", port: aPort, socket: { data() {} } });
  aData.write(body);
  aData.shutdown();
  aData.end();
  expect((await a.read(5000))?.code).toBe(226);
  expect(Buffer.compare(readFileSync(join(home, "new.bin")), body)).toBe(0);
  // Created: a STOR of it now is an overwrite, from either worker.
  expect(finalCode(await b.transfer("STOR new.bin", new Uint8Array([66])))).toBe(226);
  expect(readFileSync(join(home, "new.bin")).toString()).toBe("B");
}, 60_000);

test("uploads of a name on one worker racing renames of it on the other leave the quota equal to what is on disk", async () => {
  mode = "memory";
  const { port, home } = await start(10_000 * KB, ["--log-format", "json"]);
  const [a, b] = await onEachWorker(port);
  for (const w of [a, b]) {
    expect((await w.cmd("USER alice")).code).toBe(331);
    expect((await w.cmd("PASS alice-pw")).code).toBe(230);
  }
  const used = async () => Number(/used (\d+) of/.exec((await a.cmd("SITE QUOTA")).lines.join("\n"))![1]);
  const before = (await used()) - du(home);
  let uploading = true;
  // Between a rename's look at its target ("free") and the rename, the other worker's upload
  // created it, and the rename replaced that file without giving its bytes back (before: 3 to 9
  // files of 5,000 bytes per 300 rounds, SITE QUOTA above what du measured).
  const renames = (async () => {
    while (uploading) {
      if ((await b.cmd("RNFR y")).code === 350) await b.cmd("RNTO z");
      if ((await b.cmd("RNFR z")).code === 350) await b.cmd("RNTO y");
    }
  })();
  for (let i = 0; i < 200; i++) await a.transfer("STOR y", random(5 * KB));
  uploading = false;
  await renames;
  expect((await used()) - du(home)).toBe(before);
}, 120_000);

test("SIGHUP to the primary reloads every worker and stops nothing", async () => {
  mode = "memory";
  const dir = mkdtempSync(join(tmpdir(), "ftpkit-workers-hup-"));
  const welcome = join(dir, "welcome.txt");
  writeFileSync(welcome, "Welcome v1");
  const { port } = await start(0, ["--welcome", `@${welcome}`]);
  const pids = workerPids();
  expect(pids).toHaveLength(2);
  writeFileSync(welcome, "Welcome v2");
  process.kill(serve!.proc.pid, "SIGHUP");
  const reloads = () => (serve!.stdout() + serve!.stderr()).split("\n").filter((l) => / reloaded /.test(l)).length;
  await waitFor(() => reloads() === 2 || serve!.proc.exitCode !== null, 15_000, "both workers reloaded");
  expect(serve!.proc.exitCode).toBeNull();
  expect(pids.every(alive)).toBe(true);
  // SO_REUSEPORT spreads connections over both workers: every greeting is the new banner.
  for (let i = 0; i < 6; i++) {
    const w = await connect(port);
    expect((await w.read())?.lines.join(" ")).toContain("Welcome v2");
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

test("with --port 0 the first stdout line is the URL, before the workers' own lines", async () => {
  mode = "memory";
  const { port } = await start(0);
  await waitFor(() => (serve!.stdout().match(/worker listening/g) ?? []).length === 2, 15_000, "both workers' lines");
  expect(serve!.stdout().split("\n")[0]).toBe(`ftp://127.0.0.1:${port}/`);
}, 40_000);

// Each worker sweeps its temp directory once, at its first upload or usage walk: a worker killed
// mid-overwrite left its temp file to the survivor, which had swept already and never did again
// (chaos rounds, kill -9 of one worker of `--workers 2`: 3 of 9 left it past the next uploads).
test("a worker killed mid-overwrite: the other sweeps its temp file at its next upload, before the dead one is replaced", async () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-workers-"));
  const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw" }]);
  const home = join(root, "home/alice");
  writeFileSync(join(home, "old.bin"), random(200 * KB));
  serve = await spawnServe(["--users", users, "--workers", "2", "--max-rate", "100KB"], { cwd: root, timeoutMs: 30_000 });
  // Both workers upload once (the kernel spreads the sessions: 8 all on one worker is 1 in 128).
  const first = await Promise.all(Array.from({ length: 8 }, () => connect(serve!.port)));
  for (const w of first) expect((await w.login("alice", "alice-pw")).code).toBe(230);
  await Promise.all(first.map((w, i) => w.transfer(`STOR small${i}.bin`, random(100))));
  const temps = () => readdirSync(join(home, ".ftpkit-tmp")).filter((n) => !n.startsWith("@name."));
  expect(temps()).toEqual([]);
  const w = await connect(serve.port);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  void w.transfer("STOR old.bin", random(2000 * KB)).catch(() => null);
  await waitFor(() => temps().length === 1, 10_000, "the overwrite's temp file");
  const owner = Number(temps()[0]!.split(".").at(-2));
  expect(workerPids()).toContain(owner);
  process.kill(owner, "SIGKILL");
  await waitFor(() => /worker \d exited/.test(serve!.stdout() + serve!.stderr()), 10_000, "the primary to see the worker exit");
  // Within the second before the dead worker is replaced, every session lands on the other one.
  const after = await connect(serve.port);
  expect((await after.login("alice", "alice-pw")).code).toBe(230);
  expect(finalCode(await after.transfer("STOR after.bin", random(100)))).toBe(226);
  expect(temps()).toEqual([]);
  expect(readFileSync(join(home, "old.bin")).length).toBe(200 * KB);
}, 60_000);
