// The load generator: `bun bench/load.ts '<json spec>'` runs one measurement and prints one JSON line.
// It runs as its own process so its CPU time (process.cpuUsage) is isolated from the driver's.
import { BenchFtpError, FtpLite } from "./ftp-lite.ts";
import { fillPattern } from "./pattern.ts";

export type LoadSpec =
  | { kind: "raw"; port: number; size: number }
  | { kind: "retr"; port: number; user: string; pass: string; paths: string[]; size: number; tls?: boolean }
  | { kind: "stor"; port: number; user: string; pass: string; paths: string[]; size: number }
  | { kind: "login"; port: number; user: string; pass: string; n: number; concurrency: number; maxMs: number }
  | { kind: "listing"; port: number; user: string; pass: string; verb: "LIST" | "MLSD"; path: string; minLines: number }
  | { kind: "sessions"; port: number; user: string; pass: string; n: number; concurrency: number; holdMs: number };

/** What one measurement prints. `value` is in `unit`; `na` means the server lacks the feature. */
export interface LoadResult {
  ok: boolean;
  value?: number;
  unit?: string;
  wallMs: number;
  cpuMs: number;
  na?: string;
  error?: string;
  detail?: string;
}

const HOST = "127.0.0.1";
const PATTERN = fillPattern(0x9e3779b9);

// vsftpd listens with a backlog of 32: a burst of 100 connects overflows it and the kernel drops the
// handshake's last ACK, leaving clients "connected" with no greeting for 30+ s. Real clients do not
// arrive in the same millisecond either, so at most CONNECT_GATE connects wait for their 220 at once.
const CONNECT_GATE = 16;
let connecting = 0;
const gateQueue: Array<() => void> = [];

async function connect(port: number): Promise<FtpLite> {
  if (connecting >= CONNECT_GATE) await new Promise<void>((resolve) => gateQueue.push(resolve));
  connecting++;
  try {
    return await FtpLite.connect(HOST, port);
  } finally {
    connecting--;
    gateQueue.shift()?.();
  }
}

async function session(port: number, user: string, pass: string, tls = false): Promise<FtpLite> {
  const c = await connect(port);
  if (tls) await c.startTls();
  await c.login(user, pass);
  await c.expect("TYPE I", 200);
  return c;
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` in flight. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>, deadline = Infinity): Promise<number> {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < n && performance.now() < deadline) {
      const i = next++;
      await task(i);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return done;
}

function measure<T>(fn: () => Promise<T>): Promise<{ result: T; wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return fn().then((result) => {
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { result, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
  });
}

function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

async function raw(spec: Extract<LoadSpec, { kind: "raw" }>): Promise<LoadResult> {
  const m = await measure(
    () =>
      new Promise<number>((resolve, reject) => {
        let bytes = 0;
        const t = setTimeout(() => reject(new BenchFtpError("raw transfer timeout")), 300_000);
        Bun.connect({
          hostname: HOST,
          port: spec.port,
          socket: {
            data: (_s, chunk) => {
              bytes += chunk.length;
            },
            end: (s) => s.close(),
            close: () => {
              clearTimeout(t);
              resolve(bytes);
            },
            error: (_s, err) => reject(err),
            connectError: (_s, err) => reject(err),
          },
        }).catch(reject);
      }),
  );
  if (m.result !== spec.size) throw new BenchFtpError(`raw: got ${m.result} of ${spec.size} bytes`);
  return { ok: true, value: mbps(m.result, m.wallMs), unit: "MB/s", wallMs: m.wallMs, cpuMs: m.cpuMs };
}

async function retr(spec: Extract<LoadSpec, { kind: "retr" }>): Promise<LoadResult> {
  if (spec.tls) {
    const probe = await FtpLite.connect(HOST, spec.port);
    const feats = await probe.features();
    await probe.quit();
    if (!feats.some((f) => f.startsWith("AUTH") && f.includes("TLS"))) {
      return { ok: true, na: "no AUTH TLS in FEAT", wallMs: 0, cpuMs: 0 };
    }
  }
  // Log in everyone first: the measurement is the transfers, not the password hashing.
  const clients = await Promise.all(spec.paths.map(() => session(spec.port, spec.user, spec.pass, spec.tls)));

  const m = await measure(() => Promise.all(clients.map((c, i) => c.retr(spec.paths[i]!))));
  await Promise.all(clients.map((c) => c.quit()));
  const bad = m.result.findIndex((b) => b !== spec.size);
  if (bad >= 0) throw new BenchFtpError(`RETR ${spec.paths[bad]}: got ${m.result[bad]} of ${spec.size} bytes`);
  const total = spec.size * spec.paths.length;
  return { ok: true, value: mbps(total, m.wallMs), unit: "MB/s", wallMs: m.wallMs, cpuMs: m.cpuMs };
}

async function stor(spec: Extract<LoadSpec, { kind: "stor" }>): Promise<LoadResult> {
  const clients = await Promise.all(spec.paths.map(() => session(spec.port, spec.user, spec.pass)));
  const m = await measure(() => Promise.all(clients.map((c, i) => c.stor(spec.paths[i]!, spec.size, PATTERN))));
  // The size check: the server must have stored every byte.
  const sizes = await Promise.all(clients.map((c, i) => c.cmd(`SIZE ${spec.paths[i]}`)));
  await Promise.all(clients.map((c) => c.quit()));
  const bad = sizes.findIndex((r) => r.code === 213 && Number(r.text.slice(4)) !== spec.size);
  if (bad >= 0) throw new BenchFtpError(`STOR ${spec.paths[bad]}: server has ${sizes[bad]!.text}`);
  const total = spec.size * spec.paths.length;
  return { ok: true, value: mbps(total, m.wallMs), unit: "MB/s", wallMs: m.wallMs, cpuMs: m.cpuMs };
}

async function login(spec: Extract<LoadSpec, { kind: "login" }>): Promise<LoadResult> {
  const deadline = performance.now() + spec.maxMs;
  const m = await measure(() =>
    pool(
      spec.n,
      spec.concurrency,
      async () => {
        const c = await connect(spec.port);
        await c.login(spec.user, spec.pass);
        await c.quit();
      },
      deadline,
    ),
  );
  return {
    ok: true,
    value: m.result / (m.wallMs / 1000),
    unit: "sessions/s",
    wallMs: m.wallMs,
    cpuMs: m.cpuMs,
    detail: `${m.result} sessions`,
  };
}

async function listing(spec: Extract<LoadSpec, { kind: "listing" }>): Promise<LoadResult> {
  const c = await session(spec.port, spec.user, spec.pass);
  if (spec.verb === "MLSD") {
    const feats = await c.features();
    if (!feats.some((f) => f.startsWith("MLST"))) {
      await c.quit();
      return { ok: true, na: "no MLST in FEAT", wallMs: 0, cpuMs: 0 };
    }
  }
  const m = await measure(() => c.listing(spec.verb, spec.path));
  await c.quit();
  if (m.result.lines < spec.minLines) {
    throw new BenchFtpError(`${spec.verb}: ${m.result.lines} lines, expected at least ${spec.minLines}`);
  }
  return { ok: true, value: m.wallMs, unit: "ms", wallMs: m.wallMs, cpuMs: m.cpuMs, detail: `${m.result.lines} lines` };
}

async function sessions(spec: Extract<LoadSpec, { kind: "sessions" }>): Promise<LoadResult> {
  const open: FtpLite[] = [];
  const m = await measure(() =>
    pool(spec.n, spec.concurrency, async () => {
      const c = await connect(spec.port);
      open.push(c);
      await c.login(spec.user, spec.pass);
    }),
  );
  // The driver measures the server now; it writes a line (or closes stdin) when done.
  console.log(`READY ${open.length}`);
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, spec.holdMs);
    process.stdin.once("data", () => {
      clearTimeout(t);
      resolve();
    });
    process.stdin.once("end", () => {
      clearTimeout(t);
      resolve();
    });
  });
  for (const c of open) c.close();
  return { ok: true, value: open.length, unit: "sessions", wallMs: m.wallMs, cpuMs: m.cpuMs };
}

/** Runs one spec. Exported so a test or the driver could call it in-process. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  switch (spec.kind) {
    case "raw":
      return raw(spec);
    case "retr":
      return retr(spec);
    case "stor":
      return stor(spec);
    case "login":
      return login(spec);
    case "listing":
      return listing(spec);
    case "sessions":
      return sessions(spec);
  }
}

if (import.meta.main) {
  const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec;
  // A hard stop: whatever happens, this process ends by itself.
  const HARD_LIMIT_MS = Number(process.env.BENCH_LOAD_LIMIT_MS ?? 900_000);
  setTimeout(() => {
    console.log(JSON.stringify({ ok: false, error: `load generator hit its ${HARD_LIMIT_MS} ms limit`, wallMs: 0, cpuMs: 0 }));
    process.exit(2);
  }, HARD_LIMIT_MS).unref();
  try {
    const r = await runLoad(spec);
    console.log(JSON.stringify(r));
    process.exit(0);
  } catch (e) {
    const r: LoadResult = { ok: false, error: (e as Error).message ?? String(e), wallMs: 0, cpuMs: 0 };
    console.log(JSON.stringify(r));
    process.exit(1);
  }
}
