// `bun run bench [--quick] [--only ftpkit,vsftpd] [--workloads retr-1,login-seq,client-get] [--reps N] [--out FILE] [--port-base N] [--workers-redis]`
// `bun run bench --s3 [--s3-env] [--quick] [--reps N]`: only the S3-home rows (bench/s3.ts; starts its own bluestore radosgw, or uses S3_* with --s3-env).
// Starts ftpkit, vsftpd and pyftpdlib with one account and one data set, runs every workload against
// each with our own load generator (bench/load.ts, a separate process), stops every server by PID,
// prints one markdown table (ratios to vsftpd) and writes it to bench/RESULTS.md.
import { cpus, release, totalmem } from "node:os";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { LoadResult, LoadSpec } from "./load.ts";
import { fillPattern } from "./pattern.ts";
import { median } from "./stats.ts";
import { CLIENT_WORKLOADS, clientNotes, ensureTree, isTreeWorkload, renderClientTable, runClientRows, type ClientWorkload } from "./client.ts";
import {
  BENCH_DIR,
  type Account,
  type RunningServer,
  alive,
  chownTree,
  ensurePeers,
  ensureSystemUser,
  makeCert,
  pyOpenSslImportable,
  selfCpuMs,
  spawnPiped,
  startFtpkit,
  startPyftpdlib,
  startRaw,
  startRedis,
  startVsftpd,
  stopServer,
  treePssKiB,
} from "./servers.ts";

// ---------------------------------------------------------------------------------------------
// Settings

interface Profile {
  bigSize: number; // retr-1 / stor-1 / raw
  manyClients: number; // retr-100 / stor-100
  manySize: number;
  loginSeqN: number;
  loginConcN: number;
  loginConc: number;
  loginMaxMs: number; // each login measurement stops after this, whatever its count
  listFiles: number;
  sessions: number; // memory row
  reps: number;
  warmup: number;
}

const MiB = 1 << 20;
const FULL: Profile = {
  bigSize: 1024 * MiB,
  manyClients: 100,
  manySize: 10 * MiB,
  loginSeqN: 2000,
  loginConcN: 5000,
  loginConc: 50,
  loginMaxMs: 6_000,
  listFiles: 10_000,
  sessions: 1000,
  reps: 5,
  warmup: 1,
};
const QUICK: Profile = {
  bigSize: 256 * MiB,
  manyClients: 100,
  manySize: 1 * MiB,
  loginSeqN: 300,
  loginConcN: 500,
  loginConc: 50,
  loginMaxMs: 1_000,
  listFiles: 10_000,
  sessions: 300,
  reps: 2,
  warmup: 1,
};

const ACCOUNT_USER = "ftpbench";
const ACCOUNT_PASS = "bench-Pw-2718";
// FTPKIT_BENCH_PORT_OFFSET moves every port (control and passive), so two checkouts can bench on
// one machine without one measuring the other's server; --port-base N puts them all in N…N+999.
const OFF = Number(process.env.FTPKIT_BENCH_PORT_OFFSET ?? 0) || 0;
let PORTS = { ftpkit: 22121 + OFF, vsftpd: 22122 + OFF, pyftpdlib: 22123 + OFF, pyftpdlibTls: 22124 + OFF, ftpkitOps: 22125 + OFF, ftpkitOpsMetrics: 22126 + OFF, ftpkitWorkers: 22127 + OFF, redis: 22128 + OFF, raw: 22129 + OFF };
const range = (lo: number): [number, number] => [lo + OFF, lo + 999 + OFF];
let PASV: Record<"ftpkit" | "ftpkitOps" | "vsftpd" | "pyftpdlib" | "pyftpdlibTls" | "ftpkitWorkers", [number, number]> = {
  ftpkit: range(40000),
  ftpkitOps: range(44000),
  vsftpd: range(41000),
  pyftpdlib: range(42000),
  pyftpdlibTls: range(43000),
  ftpkitWorkers: range(45000),
};

/** --port-base N: every port within N…N+999 (so a run can live beside another one). */
function relocatePorts(b: number): void {
  PORTS = { ftpkit: b + 121, vsftpd: b + 122, pyftpdlib: b + 123, pyftpdlibTls: b + 124, ftpkitOps: b + 125, ftpkitOpsMetrics: b + 126, ftpkitWorkers: b + 127, redis: b + 128, raw: b + 129 };
  PASV = {
    pyftpdlib: [b, b + 59],
    pyftpdlibTls: [b + 60, b + 119],
    ftpkit: [b + 130, b + 349],
    vsftpd: [b + 350, b + 649],
    ftpkitOps: [b + 650, b + 799],
    ftpkitWorkers: [b + 800, b + 999],
  };
}
const SERVERS = ["ftpkit", "vsftpd", "pyftpdlib"] as const;
type ServerName = (typeof SERVERS)[number];
const CPU_BOUND = 0.8; // load generator CPU / wall above this: its result is a lower bound

interface Args {
  quick: boolean;
  only: ServerName[];
  workloads: string[] | undefined;
  reps: number | undefined;
  out: string;
  s3: boolean;
  /** --s3-env: the S3 rows use the radosgw of S3_* instead of starting their own. */
  s3Env: boolean;
  workersRedis: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, only: [...SERVERS], workloads: undefined, reps: undefined, out: join(BENCH_DIR, "RESULTS.md"), s3: false, s3Env: false, workersRedis: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? "";
    switch (flag) {
      case "--quick":
        a.quick = true;
        break;
      case "--s3":
        a.s3 = true;
        break;
      case "--s3-env":
        a.s3 = a.s3Env = true;
        break;
      case "--only":
        a.only = value().split(",").filter((s): s is ServerName => (SERVERS as readonly string[]).includes(s));
        break;
      case "--workloads":
        a.workloads = value().split(",");
        break;
      case "--reps":
        a.reps = Number(value());
        break;
      case "--out":
        a.out = value();
        break;
      case "--workers-redis":
        a.workersRedis = true;
        break;
      case "--port-base": {
        const b = Number(value());
        if (!Number.isInteger(b) || b < 1024 || b > 64_000) throw new Error("--port-base must be a port between 1024 and 64000");
        relocatePorts(b);
        break;
      }
      case "--help":
      case "-h":
        console.log("usage: bun run bench [--quick] [--only ftpkit,vsftpd,pyftpdlib] [--workloads id,…] [--reps N] [--out FILE] [--port-base N] [--workers-redis] | --s3 [--s3-env] [--quick] [--reps N] [--port-base N]");
        process.exit(0);
      // falls through (never reached)
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Cleanup: every process we start is tracked and stopped by PID, also on Ctrl-C and errors.

const running = new Set<RunningServer>();
const extraStops = new Set<() => Promise<void>>();
let currentLoad: Subprocess | undefined;
let stopping = false;

async function stopEverything(): Promise<void> {
  if (currentLoad && currentLoad.exitCode === null) {
    try {
      process.kill(-currentLoad.pid, "SIGKILL");
    } catch {
      currentLoad.kill("SIGKILL");
    }
  }
  for (const stop of extraStops) await stop().catch(() => {});
  extraStops.clear();
  for (const s of running) await stopServer(s).catch(() => {});
  running.clear();
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${sig}: stopping servers…`);
    void stopEverything().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// Data

/** A file of real (non-sparse, non-zero) bytes, reused when it already has the right size. */
function ensureFile(path: string, size: number, seed: number): void {
  if (existsSync(path) && statSync(path).size === size) return;
  const pattern = fillPattern(seed);
  const fd = openSync(path, "w");
  try {
    for (let pos = 0, chunk = 0; pos < size; pos += MiB, chunk++) {
      pattern.writeUInt32LE(chunk, 0); // no two MiB of the file are equal
      writeSync(fd, pattern, 0, Math.min(MiB, size - pos), pos);
    }
  } finally {
    closeSync(fd);
  }
}

interface DataSet {
  big: string; // virtual paths, as the client sends them
  many: string[];
  dir: string;
  upDir: string; // real path of the upload folder
}

function prepareData(home: string, p: Profile): DataSet {
  mkdirSync(home, { recursive: true });
  const bigName = `big-${p.bigSize}.bin`;
  ensureFile(join(home, bigName), p.bigSize, 1);
  const manyDir = `many-${p.manySize}`;
  mkdirSync(join(home, manyDir), { recursive: true });
  const many: string[] = [];
  for (let i = 0; i < p.manyClients; i++) {
    const name = `f${String(i).padStart(3, "0")}.bin`;
    ensureFile(join(home, manyDir, name), p.manySize, 1000 + i);
    many.push(`/${manyDir}/${name}`);
  }
  const dirName = `dir-${p.listFiles}`;
  const dir = join(home, dirName);
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).length !== p.listFiles) {
    for (let i = 0; i < p.listFiles; i++) writeFileSync(join(dir, `file-${String(i).padStart(5, "0")}.txt`), "x".repeat(i % 100));
  }
  const upDir = join(home, "up");
  rmSync(upDir, { recursive: true, force: true });
  mkdirSync(upDir, { recursive: true });
  return { big: `/${bigName}`, many, dir: `/${dirName}`, upDir };
}

function clearUploads(upDir: string): void {
  for (const f of readdirSync(upDir)) rmSync(join(upDir, f), { force: true });
  Bun.spawnSync(["sync"]); // and whatever writeback is still running ends before the next run starts
}

// ---------------------------------------------------------------------------------------------
// Running the load generator

const LOAD = join(BENCH_DIR, "load.ts");

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text();
}

function lastJson(out: string): LoadResult {
  const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) return { ok: false, error: `no result from the load generator: ${out.trim().slice(-300)}`, wallMs: 0, cpuMs: 0 };
  return JSON.parse(line) as LoadResult;
}

/** Kill a load generator (its whole process group) if it overruns its time. */
function killAfter(proc: Subprocess, ms: number): ReturnType<typeof setTimeout> {
  return setTimeout(() => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      proc.kill("SIGKILL");
    }
  }, ms);
}

async function runLoad(spec: LoadSpec, timeoutMs: number): Promise<LoadResult> {
  const proc = spawnPiped([process.execPath, LOAD, JSON.stringify(spec)]);
  currentLoad = proc;
  const timer = killAfter(proc, timeoutMs);
  const [out, err] = await Promise.all([readAll(proc.stdout), readAll(proc.stderr)]);
  await proc.exited;
  clearTimeout(timer);
  currentLoad = undefined;
  const r = lastJson(out);
  if (!r.ok && err.trim()) r.error = `${r.error} (${err.trim().split("\n").slice(-1)[0]})`;
  return r;
}

/** The memory row: the generator opens N logged-in sessions, we read PSS, then it lets go. */
async function runSessions(spec: Extract<LoadSpec, { kind: "sessions" }>, server: RunningServer): Promise<LoadResult> {
  await Bun.sleep(500);
  const baseline = treePssKiB(server.pid);
  const proc = spawnPiped([process.execPath, LOAD, JSON.stringify(spec)]);
  currentLoad = proc;
  const timer = killAfter(proc, spec.holdMs + 120_000);
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  let loaded: number | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value, { stream: true });
    const m = /^READY (\d+)$/m.exec(out);
    if (m && loaded === undefined) {
      await Bun.sleep(1_000); // let the server finish its per-session setup
      loaded = treePssKiB(server.pid);
      proc.stdin.write("done\n");
      proc.stdin.end();
    }
  }
  await proc.exited;
  clearTimeout(timer);
  currentLoad = undefined;
  const r = lastJson(out);
  if (!r.ok || loaded === undefined) return r.ok ? { ...r, ok: false, error: "sessions never became ready" } : r;
  const n = r.value ?? 0;
  return { ...r, value: (loaded - baseline) / n, unit: "KiB/session", detail: `${n} sessions, PSS ${baseline} → ${loaded} KiB` };
}

// ---------------------------------------------------------------------------------------------
// Workloads

interface Cell {
  value?: number;
  wallMs?: number;
  cpuFrac?: number;
  na?: string;
  error?: string;
  detail?: string;
  /** Operations rows: the plain server's median, measured in the same runs (alternating). */
  paired?: number;
  /** Operations rows: median server CPU per run (ms), ops server / plain server. */
  cpu?: { ops: number; plain: number };
}

interface Target {
  text: string;
  check(cells: Record<string, Cell>, plainRetr: Record<string, Cell>, raw: Cell | undefined): boolean | undefined;
}

interface Workload {
  id: string;
  label: string;
  unit: string;
  better: "higher" | "lower";
  showWall?: boolean;
  target?: Target;
  timeoutMs: number;
  spec(server: ServerName, port: number, rep: number, warm: boolean): LoadSpec;
  after?(): void;
  /** Operations rows: run against a second ftpkit with --metrics and a post-upload hook (ftpkit only). */
  ops?: boolean;
  /** The row the target compares with (default retr-1). */
  baseline?: string;
  /** ftpkit's cell is measured against `ftpkit serve --workers 2 --state redis://…` (issue 12). */
  workers?: boolean;
}

const v = (c: Cell | undefined) => (c && !c.na && !c.error ? c.value : undefined);

function peers(cells: Record<string, Cell>): number[] {
  return ["vsftpd", "pyftpdlib"].map((s) => v(cells[s])).filter((x): x is number => x !== undefined);
}

function workloads(p: Profile, data: DataSet, acct: Account): Workload[] {
  const base = { user: acct.user, pass: acct.pass };
  const bigMiB = p.bigSize / MiB;
  const manyMiB = p.manySize / MiB;
  const ftpTransfer: Target = {
    text: "≥ vsftpd and ≥ 0.95 × raw",
    check: (c, _p, raw) => {
      const f = v(c.ftpkit);
      const vs = v(c.vsftpd);
      const r = v(raw);
      if (f === undefined || vs === undefined || r === undefined) return undefined;
      return f >= vs && f >= 0.95 * r;
    },
  };
  const bestPeer = (better: "higher" | "lower"): Target => ({
    text: better === "higher" ? "≥ best peer" : "≤ best peer",
    check: (c) => {
      const f = v(c.ftpkit);
      const ps = peers(c);
      if (f === undefined || ps.length === 0) return undefined;
      return better === "higher" ? f >= Math.max(...ps) : f <= Math.min(...ps);
    },
  });
  const vsRatio = (k: number): Target => ({
    text: `≥ ${k.toFixed(1)} × vsftpd`,
    check: (c) => {
      const f = v(c.ftpkit);
      const vs = v(c.vsftpd);
      return f === undefined || vs === undefined ? undefined : f >= k * vs;
    },
  });
  const vsPy = (better: "higher" | "lower"): Target => ({
    text: better === "higher" ? "≥ pyftpdlib" : "≤ pyftpdlib",
    check: (c) => {
      const f = v(c.ftpkit);
      const py = v(c.pyftpdlib);
      if (f === undefined || py === undefined) return undefined;
      return better === "higher" ? f >= py : f <= py;
    },
  });
  // The same login and upload rows against ftpkit with --metrics (scraped every second) and an upload hook.
  const sameAsPlain = (id: string): Target => ({
    text: `≥ 0.95 × plain ${id} (paired runs)`,
    check: (c) => {
      const f = v(c.ftpkit);
      const pl = c.ftpkit?.paired;
      return f === undefined || pl === undefined ? undefined : f >= 0.95 * pl;
    },
  });
  const opsRows = (): Workload[] =>
    ["login-conc", "stor-1", "stor-100"].map((id) => {
      const plain = rows.find((w) => w.id === id)!;
      return { ...plain, id: `${id}+ops`, label: `${plain.label}, with --metrics + upload hook`, target: sameAsPlain(id), ops: true, baseline: id, showWall: plain.showWall };
    });
  const upPaths = (server: string, rep: number, n: number) =>
    Array.from({ length: n }, (_, i) => `/up/${server}-${rep}-${String(i).padStart(3, "0")}.bin`);
  const clear = () => clearUploads(data.upDir);
  const rows: Workload[] = [
    {
      id: "retr-1",
      label: `retr-1: 1 client downloads ${bigMiB} MiB`,
      unit: "MB/s",
      better: "higher",
      target: ftpTransfer,
      timeoutMs: 300_000,
      spec: (_s, port) => ({ kind: "retr", port, ...base, paths: [data.big], size: p.bigSize }),
    },
    {
      id: "stor-1",
      label: `stor-1: 1 client uploads ${bigMiB} MiB`,
      unit: "MB/s",
      better: "higher",
      target: ftpTransfer,
      timeoutMs: 300_000,
      spec: (s, port, rep) => ({ kind: "stor", port, ...base, paths: upPaths(s, rep, 1), size: p.bigSize }),
      after: clear,
    },
    {
      id: "retr-100",
      label: `retr-${p.manyClients}: ${p.manyClients} clients × ${manyMiB} MiB down`,
      unit: "MB/s",
      better: "higher",
      showWall: true,
      target: bestPeer("higher"),
      timeoutMs: 300_000,
      spec: (_s, port) => ({ kind: "retr", port, ...base, paths: data.many, size: p.manySize }),
    },
    {
      id: "stor-100",
      label: `stor-${p.manyClients}: ${p.manyClients} clients × ${manyMiB} MiB up`,
      unit: "MB/s",
      better: "higher",
      showWall: true,
      target: bestPeer("higher"),
      timeoutMs: 300_000,
      spec: (s, port, rep) => ({ kind: "stor", port, ...base, paths: upPaths(s, rep, p.manyClients), size: p.manySize }),
      after: clear,
    },
    {
      id: "login-seq",
      label: `login, sequential (≤ ${p.loginSeqN} or ${p.loginMaxMs / 1000} s)`,
      unit: "sessions/s",
      better: "higher",
      target: vsPy("higher"),
      timeoutMs: p.loginMaxMs + 120_000,
      spec: (_s, port, _r, warm) => ({ kind: "login", port, ...base, n: warm ? 20 : p.loginSeqN, concurrency: 1, maxMs: p.loginMaxMs }),
    },
    {
      id: "login-conc",
      label: `login, ${p.loginConc} concurrent (≤ ${p.loginConcN} or ${p.loginMaxMs / 1000} s)`,
      unit: "sessions/s",
      better: "higher",
      target: vsPy("higher"),
      timeoutMs: p.loginMaxMs + 120_000,
      spec: (_s, port, _r, warm) => ({ kind: "login", port, ...base, n: warm ? 100 : p.loginConcN, concurrency: p.loginConc, maxMs: p.loginMaxMs }),
    },
    // Issue 12: the same workloads with ftpkit as 2 worker processes sharing state through Redis.
    {
      id: "retr-100-w2",
      label: `retr-${p.manyClients}, ftpkit --workers 2`,
      unit: "MB/s",
      better: "higher",
      showWall: true,
      target: vsRatio(1.0),
      timeoutMs: 300_000,
      workers: true,
      spec: (_s, port) => ({ kind: "retr", port, ...base, paths: data.many, size: p.manySize }),
    },
    {
      id: "stor-100-w2",
      label: `stor-${p.manyClients}, ftpkit --workers 2`,
      unit: "MB/s",
      better: "higher",
      showWall: true,
      target: vsRatio(1.2),
      timeoutMs: 300_000,
      workers: true,
      spec: (s, port, rep) => ({ kind: "stor", port, ...base, paths: upPaths(s, rep, p.manyClients), size: p.manySize }),
      after: clear,
    },
    {
      id: "login-conc-w2",
      label: `login, ${p.loginConc} concurrent, ftpkit --workers 2`,
      unit: "sessions/s",
      better: "higher",
      target: vsRatio(1.0),
      timeoutMs: p.loginMaxMs + 120_000,
      workers: true,
      spec: (_s, port, _r, warm) => ({ kind: "login", port, ...base, n: warm ? 100 : p.loginConcN, concurrency: p.loginConc, maxMs: p.loginMaxMs }),
    },
    {
      id: "list",
      label: `LIST of ${p.listFiles.toLocaleString("en-US")} files`,
      unit: "ms",
      better: "lower",
      target: bestPeer("lower"),
      timeoutMs: 120_000,
      spec: (_s, port) => ({ kind: "listing", port, ...base, verb: "LIST", path: data.dir, minLines: p.listFiles }),
    },
    {
      id: "mlsd",
      label: `MLSD of ${p.listFiles.toLocaleString("en-US")} files`,
      unit: "ms",
      better: "lower",
      target: bestPeer("lower"),
      timeoutMs: 120_000,
      spec: (_s, port) => ({ kind: "listing", port, ...base, verb: "MLSD", path: data.dir, minLines: p.listFiles }),
    },
    {
      id: "ftps-retr-1",
      label: `FTPS retr-1 (AUTH TLS, PROT P), ${bigMiB} MiB`,
      unit: "MB/s",
      better: "higher",
      target: {
        text: "≥ 0.7 × its plain retr-1",
        check: (c, plain) => {
          const f = v(c.ftpkit);
          const pl = v(plain.ftpkit);
          return f === undefined || pl === undefined ? undefined : f >= 0.7 * pl;
        },
      },
      timeoutMs: 300_000,
      spec: (_s, port) => ({ kind: "retr", port, ...base, paths: [data.big], size: p.bigSize, tls: true }),
    },
    {
      id: "memory",
      label: `memory per idle logged-in session (${p.sessions.toLocaleString("en-US")} open, PSS)`,
      unit: "KiB",
      better: "lower",
      target: vsPy("lower"),
      timeoutMs: 300_000,
      spec: (_s, port) => ({ kind: "sessions", port, ...base, n: p.sessions, concurrency: 50, holdMs: 60_000 }),
    },
  ];
  rows.splice(rows.findIndex((w) => w.id === "ftps-retr-1"), 0, ...opsRows());
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Table

function fmt(x: number, unit: string): string {
  const digits = unit === "ms" ? (x < 100 ? 1 : 0) : unit === "MB/s" || unit === "sessions/s" || unit === "KiB" ? (x < 10 ? 1 : 0) : 1;
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cellText(c: Cell | undefined, w: Workload, vsftpd: Cell | undefined, extra = ""): string {
  if (!c) return "not run";
  if (c.error) return c.error === "not available" ? "not available" : "error†";
  if (c.na) return "n/a";
  if (c.value === undefined) return "—";
  let s = fmt(c.value, w.unit);
  if (w.showWall && c.wallMs !== undefined) s += ` · ${(c.wallMs / 1000).toFixed(2)} s`;
  if (c.cpuFrac !== undefined && c.cpuFrac >= CPU_BOUND) s += " ⚠";
  const ref = v(vsftpd);
  if (ref !== undefined && ref > 0 && c !== vsftpd) s += ` (${(c.value / ref).toFixed(2)}×)`;
  return s + extra;
}

interface Results {
  raw: Cell | undefined;
  cells: Map<string, Record<string, Cell>>;
}

function renderTable(ws: Workload[], r: Results, servers: readonly ServerName[]): { table: string; notes: string[] } {
  const notes: string[] = [];
  const head = `| Workload | Unit | ${servers.join(" | ")} | Target (ftpkit) | Met |`;
  const sep = `|---|---|${servers.map(() => "---:").join("|")}|---|:-:|`;
  const rows = [head, sep];
  if (r.raw) {
    const rawText = r.raw.error ? "error†" : `${fmt(r.raw.value ?? 0, "MB/s")}${(r.raw.cpuFrac ?? 0) >= CPU_BOUND ? " ⚠" : ""}`;
    if (r.raw.error) notes.push(`raw: ${r.raw.error}`);
    rows.push(`| raw loopback limit (Bun read+send, no FTP) | MB/s | ${servers.map(() => rawText).join(" | ")} | ceiling | |`);
  }
  for (const w of ws) {
    const cells = r.cells.get(w.id);
    if (!cells) continue;
    const plain = r.cells.get(w.baseline ?? "retr-1") ?? {};
    const texts = servers.map((s) => {
      let extra = "";
      const c = cells[s];
      if (w.ops && v(c) !== undefined && c?.paired) {
        extra = `, ${Math.round((100 * v(c)!) / c.paired)}% of plain ${fmt(c.paired, w.unit)} in the same runs`;
        if (c.cpu && c.cpu.plain > 0) extra += `; server CPU ${(c.cpu.ops / c.cpu.plain).toFixed(2)}× plain`;
      } else if (w.id === "ftps-retr-1" && v(c) !== undefined && v(plain[s]) !== undefined) {
        extra = `, ${Math.round((100 * v(c)!) / v(plain[s])!)}% of plain`;
      }
      return cellText(c, w, cells.vsftpd, extra);
    });
    for (const s of servers) {
      const c = cells[s];
      if (c?.error && c.error !== "not available") notes.push(`${w.id} / ${s}: ${c.error}`);
      if (c?.na) notes.push(`${w.id} / ${s}: n/a (${c.na})`);
    }
    const met = w.target?.check(cells, plain, r.raw);
    const unit = w.unit === "KiB" ? "KiB/session" : w.unit;
    rows.push(`| ${w.label} | ${unit} | ${texts.join(" | ")} | ${w.target?.text ?? ""} | ${met === undefined ? "—" : met ? "✅" : "❌"} |`);
  }
  return { table: rows.join("\n"), notes };
}

// ---------------------------------------------------------------------------------------------
// Machine description

function machine(): string[] {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const vsftpd = Bun.spawnSync(["sh", "-c", "dpkg-query -W -f '${Version}' vsftpd 2>/dev/null"]).stdout.toString() || "?";
  const pyftpd = Bun.spawnSync(["sh", "-c", "dpkg-query -W -f '${Version}' python3-pyftpdlib 2>/dev/null"]).stdout.toString() || "?";
  const rev = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: BENCH_DIR }).stdout.toString().trim();
  return [
    `- CPU: ${model}, ${cpus().length} cores; RAM ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `- Kernel: Linux ${release()}`,
    `- Bun ${Bun.version}; vsftpd ${vsftpd}; pyftpdlib ${pyftpd} (Debian packages)`,
    `- ftpkit commit ${rev || "?"}; date ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.s3) {
    const { runS3Bench } = await import("./s3.ts");
    const table = await runS3Bench({
      quick: args.quick,
      reps: args.reps,
      useEnv: args.s3Env,
      // The S3 run has no other servers: ftpkit takes its usual ports, its radosgw the raw sender's.
      ports: { ftpkit: PORTS.ftpkit, pasv: PASV.ftpkit, rgw: PORTS.raw },
      onStop: (stop) => extraStops.add(stop),
    }).finally(stopEverything);
    const command = `bun run bench ${process.argv.slice(2).join(" ")}`;
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    const file = join(BENCH_DIR, "RESULTS-S3.md");
    // Keep hand-written findings (a "## Findings" section) across runs, as for RESULTS.md.
    const old = existsSync(file) ? readFileSync(file, "utf8") : "";
    const findings = old.includes("\n## Findings") ? old.slice(old.indexOf("\n## Findings")) : "";
    writeFileSync(file, `# S3 rows\n\n\`${command}\` on ${new Date().toISOString()}, load average after the run ${load}.\n\n${table}\n${findings}`);
    console.log(table);
    return;
  }
  const profile: Profile = { ...(args.quick ? QUICK : FULL) };
  if (args.reps !== undefined && args.reps > 0) profile.reps = args.reps;
  const t0 = performance.now();
  const log = (msg: string) => console.error(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);

  if (process.getuid?.() !== 0) throw new Error("the bench runs as root (it creates a system user for vsftpd and starts it)");
  for (const n of ensurePeers()) log(n);

  const work = join(BENCH_DIR, "work");
  const acct: Account = { user: ACCOUNT_USER, pass: ACCOUNT_PASS, home: join(work, "home") };
  mkdirSync(work, { recursive: true });
  log("preparing data…");
  const data = prepareData(acct.home, profile);
  ensureSystemUser(acct);
  chownTree(acct.home, acct.user);
  const cert = makeCert(join(work, "tls"));

  // Servers
  const servers = new Map<ServerName, RunningServer>();
  const unavailable = new Map<ServerName, string>();
  let pyTls: RunningServer | undefined;
  const starters: Record<ServerName, () => Promise<RunningServer>> = {
    ftpkit: () => startFtpkit({ acct, port: PORTS.ftpkit, pasv: PASV.ftpkit, work, tls: cert }),
    vsftpd: () => startVsftpd({ acct, port: PORTS.vsftpd, pasv: PASV.vsftpd, work, tls: cert }),
    pyftpdlib: () => startPyftpdlib({ acct, port: PORTS.pyftpdlib, pasv: PASV.pyftpdlib, work }),
  };
  for (const name of args.only) {
    try {
      const s = await starters[name]();
      running.add(s);
      servers.set(name, s);
      log(`${name} up on 127.0.0.1:${s.port} (pid ${s.pid})`);
    } catch (e) {
      unavailable.set(name, (e as Error).message);
      log(`${name}: not available — ${(e as Error).message}`);
    }
  }
  if (args.only.includes("pyftpdlib") && cert && pyOpenSslImportable()) {
    try {
      pyTls = await startPyftpdlib({ acct, port: PORTS.pyftpdlibTls, pasv: PASV.pyftpdlibTls, work, tls: cert });
      running.add(pyTls);
    } catch (e) {
      log(`pyftpdlib TLS: not available — ${(e as Error).message}`);
    }
  }

  const results: Results = { raw: undefined, cells: new Map() };
  const wanted = (id: string) => !args.workloads || args.workloads.includes(id);

  // ftpkit --workers 2 and the redis-server its workers share, only when a -w2 row is wanted.
  let ftpkitWorkers: RunningServer | undefined;
  if (args.only.includes("ftpkit") && workloads(profile, data, acct).some((w) => w.workers && wanted(w.id))) {
    try {
      // Default: the workers' state lives in the primary; --workers-redis puts it in a redis-server.
      const extra = ["--workers", "2"];
      if (args.workersRedis) {
        running.add(await startRedis(PORTS.redis, work));
        extra.push("--state", `redis://127.0.0.1:${PORTS.redis}`);
      }
      ftpkitWorkers = await startFtpkit({ acct, port: PORTS.ftpkitWorkers, pasv: PASV.ftpkitWorkers, work, extraArgs: extra });
      running.add(ftpkitWorkers);
      log(`ftpkit --workers 2 up on 127.0.0.1:${ftpkitWorkers.port} (pid ${ftpkitWorkers.pid}, state ${args.workersRedis ? `redis ${PORTS.redis}` : "in the primary"})`);
    } catch (e) {
      log(`ftpkit --workers 2: not available — ${(e as Error).message}`);
    }
  }

  // afterEach runs after every run: uploads are deleted at once, so no run pays for the writeback of
  // the previous runs' dirty pages (6 × 1 GiB kept around exceeded dirty_ratio and throttled to disk speed).
  const measureReps = async (make: (rep: number, warm: boolean) => LoadSpec, timeoutMs: number, server?: RunningServer, afterEach?: () => void): Promise<Cell> => {
    const samples: LoadResult[] = [];
    for (let i = 0; i < profile.warmup + profile.reps; i++) {
      if (server && !alive(server)) return { error: `${server.name} died (see ${server.log})` };
      const warm = i < profile.warmup;
      const r = await runLoad(make(i, warm), timeoutMs);
      afterEach?.();
      if (!r.ok) return { error: r.error ?? "failed" };
      if (r.na) return { na: r.na };
      if (!warm) samples.push(r);
    }
    const value = median(samples.map((s) => s.value ?? 0));
    const mid = samples.find((s) => s.value === value) ?? samples[0]!;
    return {
      value,
      wallMs: median(samples.map((s) => s.wallMs)),
      cpuFrac: median(samples.map((s) => (s.wallMs > 0 ? s.cpuMs / s.wallMs : 0))),
      detail: mid.detail,
    };
  };

  // The ceiling
  if (wanted("raw")) {
    log("raw loopback…");
    try {
      const raw = await startRaw(join(acct.home, data.big), PORTS.raw, work);
      extraStops.add(raw.stop);
      results.raw = await measureReps(() => ({ kind: "raw", port: PORTS.raw, size: profile.bigSize }), 300_000);
      await raw.stop();
      extraStops.delete(raw.stop);
    } catch (e) {
      results.raw = { error: (e as Error).message };
    }
  }

  const ws = workloads(profile, data, acct).filter((w) => wanted(w.id));
  // The operations rows: a second ftpkit with --metrics (scraped every second, like a busy Prometheus)
  // and a post-upload hook (/bin/true: the cost of spawning it, not of what it does).
  let opsServer: RunningServer | undefined;
  let opsError: string | undefined;
  let scraper: ReturnType<typeof setInterval> | undefined;
  if (args.only.includes("ftpkit") && ws.some((w) => w.ops)) {
    try {
      const metricsAddr = `127.0.0.1:${PORTS.ftpkitOpsMetrics}`;
      opsServer = await startFtpkit({ acct, port: PORTS.ftpkitOps, pasv: PASV.ftpkitOps, work, tls: cert, extraArgs: ["--metrics", metricsAddr, "--hook", "upload=/bin/true"] });
      running.add(opsServer);
      log(`ftpkit (metrics + hook) up on 127.0.0.1:${opsServer.port} (pid ${opsServer.pid})`);
      scraper = setInterval(() => void fetch(`http://${metricsAddr}/metrics`).then((r) => r.text()).catch(() => {}), 1000);
    } catch (e) {
      opsError = (e as Error).message;
    }
  }
  for (const w of ws) {
    const row: Record<string, Cell> = {};
    results.cells.set(w.id, row);
    for (const name of SERVERS) {
      if (!args.only.includes(name)) continue;
      if (w.ops && name !== "ftpkit") {
        row[name] = { na: "ftpkit's own operations flags" };
        continue;
      }
      let s = w.ops ? opsServer : w.workers && name === "ftpkit" ? ftpkitWorkers : servers.get(name);
      if (w.ops) {
        const plain = servers.get(name);
        if (!s || !plain) {
          row[name] = { error: opsError ?? "not available" };
          continue;
        }
        // On a shared machine the load drifts between rows: plain and ops runs alternate, in
        // alternating order, and the ratio is taken between the two medians of the same runs.
        log(`${w.id} · ${name} (paired with plain ftpkit)…`);
        const ops = s;
        const samples: { plain: LoadResult[]; ops: LoadResult[] } = { plain: [], ops: [] };
        const cpu: { plain: number[]; ops: number[] } = { plain: [], ops: [] };
        let failed: Cell | undefined;
        for (let i = 0; i < profile.warmup + profile.reps && !failed; i++) {
          const warm = i < profile.warmup;
          const order: Array<["plain" | "ops", RunningServer]> = i % 2 ? [["ops", ops], ["plain", plain]] : [["plain", plain], ["ops", ops]];
          for (const [kind, srv] of order) {
            if (!alive(srv)) failed = { error: `${srv.name} died (see ${srv.log})` };
            if (failed) break;
            const cpu0 = selfCpuMs(srv.pid);
            const r = await runLoad(w.spec(name, srv.port, i, warm), w.timeoutMs);
            await Bun.sleep(200); // post-event hooks of this run are dispatched (their CPU belongs to it)
            const used = selfCpuMs(srv.pid) - cpu0;
            w.after?.();
            if (!r.ok) failed = { error: `${kind}: ${r.error ?? "failed"}` };
            else if (!warm) {
              samples[kind].push(r);
              cpu[kind].push(used);
            }
          }
        }
        const med = (xs: LoadResult[]) => median(xs.map((x) => x.value ?? 0));
        row[name] = failed ?? {
          value: med(samples.ops),
          paired: med(samples.plain),
          cpu: { ops: median(cpu.ops), plain: median(cpu.plain) },
          wallMs: median(samples.ops.map((x) => x.wallMs)),
          cpuFrac: median(samples.ops.map((x) => (x.wallMs > 0 ? x.cpuMs / x.wallMs : 0))),
        };
        const c = row[name]!;
        log(`  ${c.error ? `error: ${c.error}` : `${fmt(c.value ?? 0, w.unit)} ${w.unit} vs plain ${fmt(c.paired ?? 0, w.unit)}; server CPU ${c.cpu?.ops} vs ${c.cpu?.plain} ms per run`}`);
        continue;
      }
      if (!s) {
        row[name] = { error: "not available" };
        continue;
      }
      if (w.id === "ftps-retr-1" && name === "pyftpdlib") {
        if (!pyTls) {
          row[name] = { na: "pyftpdlib TLS needs pyOpenSSL and a certificate" };
          continue;
        }
        s = pyTls;
      }
      if (w.id === "memory") {
        // A fresh process: otherwise earlier workloads leave freed heap that new sessions reuse
        // (pyftpdlib then "costs" 0 KiB per session). One small login run warms the code paths.
        log(`${name}: restarting for the memory row…`);
        await stopServer(s);
        running.delete(s);
        try {
          s = await starters[name]();
        } catch (e) {
          row[name] = { error: `restart failed: ${(e as Error).message}` };
          continue;
        }
        running.add(s);
        servers.set(name, s);
        await runLoad({ kind: "login", port: s.port, user: acct.user, pass: acct.pass, n: 20, concurrency: 5, maxMs: 10_000 }, 60_000);
      }
      log(`${w.id} · ${name}…`);
      const server = s;
      try {
        row[name] =
          w.id === "memory"
            ? await runSessions(w.spec(name, server.port, 0, false) as Extract<LoadSpec, { kind: "sessions" }>, server).then(
                // No ⚠ here: the generator's CPU is spent logging in, not during the measurement.
                (r): Cell => (r.ok ? { value: r.value, wallMs: r.wallMs, detail: r.detail } : { error: r.error ?? "failed" }),
              )
            : await measureReps((rep, warm) => w.spec(name, server.port, rep, warm), w.timeoutMs, server, w.after);
      } finally {
        w.after?.();
      }
      const c = row[name]!;
      log(`  ${c.error ? `error: ${c.error}` : c.na ? `n/a: ${c.na}` : `${fmt(c.value ?? 0, w.unit)} ${w.unit}${c.detail ? ` (${c.detail})` : ""}`}`);
    }
  }

  if (scraper) clearInterval(scraper);
  // Client rows: ftpkit's client vs curl and lftp against the same server (pyftpdlib is left out: it
  // would measure Python, not the clients).
  const clientWs = CLIENT_WORKLOADS.filter((w) => args.workloads?.includes(w) ?? true);
  const clientResults = new Map<string, Map<ClientWorkload, Record<string, { value?: number; error?: string; na?: string }>>>();
  if (clientWs.length > 0) {
    if (clientWs.some(isTreeWorkload)) {
      ensureTree(acct.home);
      chownTree(acct.home, acct.user);
    }
    for (const name of ["ftpkit", "vsftpd"] as const) {
      const s = servers.get(name);
      if (!s) continue;
      log(`client rows against ${name}…`);
      clientResults.set(
        name,
        await runClientRows(clientWs, { server: name, port: s.port, user: acct.user, pass: acct.pass, home: acct.home, big: data.big, bigSize: profile.bigSize, reps: profile.reps, warmup: profile.warmup, work, log }),
      );
    }
  }

  await stopEverything();

  const shown = SERVERS.filter((s) => args.only.includes(s));
  const { table, notes } = renderTable(ws, results, shown);
  if (clientResults.size > 0) notes.push(...clientNotes(clientResults as Parameters<typeof clientNotes>[0]));
  for (const [name, why] of unavailable) notes.unshift(`${name} not available: ${why}`);
  const command = `bun run bench${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  const p = profile;
  const legend = [
    `Each cell is the median of ${p.reps} runs after ${p.warmup} warm-up run(s); (N×) is the ratio to vsftpd of the same number (for ms and KiB lower is better).`,
    `MB = 10^6 bytes. Transfers are timed from PASV to the final 226, after login; retr/stor-${p.manyClients} also show the wall time of the whole batch.`,
    `⚠ = the load generator used ≥ ${CPU_BOUND * 100}% of a core during the measurement: that result is a lower bound for the server.`,
    "n/a = the server lacks the feature (vsftpd has no MLSD; FTPS needs AUTH TLS in FEAT). † = see the notes below.",
  ];
  const out = [
    `Command: \`${command}\`${args.quick ? " (quick mode: smaller sizes and counts, fewer repetitions)" : ""}`,
    "",
    ...machine(),
    "",
    ...(ws.length > 0 ? [table, ""] : []),
    ...(clientResults.size > 0
      ? [
          "Client (MB/s, wall time of the whole command; (N×) is the median over rounds of the ratio to curl's run of the same round, to lftp's for trees):",
          "",
          renderClientTable(clientResults as Parameters<typeof renderClientTable>[0], profile.bigSize / MiB),
          "",
        ]
      : []),
    ...(ws.length > 0 ? legend.map((l) => `- ${l}`) : []),
    ...(notes.length > 0 ? ["", "Notes:", ...notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
  console.log(`\n${out}\n`);

  // Keep hand-written findings (a "## Findings" section) across runs.
  let findings = "";
  if (existsSync(args.out)) {
    const old = readFileSync(args.out, "utf8");
    const at = old.indexOf("\n## Findings");
    if (at >= 0) findings = old.slice(at);
  }
  writeFileSync(args.out, `# ftpkit benchmark results\n\n${out}\n${findings}`);
  log(`wrote ${args.out} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

try {
  await main();
} catch (e) {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  await stopEverything();
}
process.exit(process.exitCode ?? 0);
