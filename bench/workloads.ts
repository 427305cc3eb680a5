// The workload table: every server row of the bench (what the load generator does, its unit and
// ftpkit's target) and the Cell a measurement of one row on one server fills.
import type { LoadSpec } from "./load.ts";
import { clearUploads, type DataSet } from "./data-set.ts";
import type { Account } from "./servers.ts";
import { MiB, type Profile, type ServerName } from "./settings.ts";

export interface Cell {
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
  /** Median CPU time (ms) of the server per run, its reaped session processes included. */
  serverCpuMs?: number;
}

export interface Target {
  text: string;
  check(cells: Record<string, Cell>, plainRetr: Record<string, Cell>, raw: Cell | undefined): boolean | undefined;
}

export interface Workload {
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

/** A cell's value when it was measured (not n/a, not an error); the targets and the report compare these. */
export const measured = (c: Cell | undefined) => (c && !c.na && !c.error ? c.value : undefined);

function peers(cells: Record<string, Cell>): number[] {
  return ["vsftpd", "pyftpdlib", "proftpd"].map((s) => measured(cells[s])).filter((x): x is number => x !== undefined);
}

export function workloads(p: Profile, data: DataSet, acct: Account): Workload[] {
  const base = { user: acct.user, pass: acct.pass };
  const bigMiB = p.bigSize / MiB;
  const manyMiB = p.manySize / MiB;
  const ftpTransfer: Target = {
    text: "≥ vsftpd and ≥ 0.95 × raw",
    check: (c, _p, raw) => {
      const f = measured(c.ftpkit);
      const vs = measured(c.vsftpd);
      const r = measured(raw);
      if (f === undefined || vs === undefined || r === undefined) return undefined;
      return f >= vs && f >= 0.95 * r;
    },
  };
  const bestPeer = (better: "higher" | "lower"): Target => ({
    text: better === "higher" ? "≥ best peer" : "≤ best peer",
    check: (c) => {
      const f = measured(c.ftpkit);
      const ps = peers(c);
      if (f === undefined || ps.length === 0) return undefined;
      return better === "higher" ? f >= Math.max(...ps) : f <= Math.min(...ps);
    },
  });
  const vsRatio = (k: number): Target => ({
    text: `≥ ${k.toFixed(1)} × vsftpd`,
    check: (c) => {
      const f = measured(c.ftpkit);
      const vs = measured(c.vsftpd);
      return f === undefined || vs === undefined ? undefined : f >= k * vs;
    },
  });
  const vsPy = (better: "higher" | "lower"): Target => ({
    text: better === "higher" ? "≥ pyftpdlib" : "≤ pyftpdlib",
    check: (c) => {
      const f = measured(c.ftpkit);
      const py = measured(c.pyftpdlib);
      if (f === undefined || py === undefined) return undefined;
      return better === "higher" ? f >= py : f <= py;
    },
  });
  // The same login and upload rows against ftpkit with --metrics (scraped every second) and an upload hook.
  const sameAsPlain = (id: string): Target => ({
    text: `≥ 0.95 × plain ${id} (paired runs)`,
    check: (c) => {
      const f = measured(c.ftpkit);
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
    ...(["LIST", "MLSD"] as const).map(
      (verb): Workload => ({
        id: verb.toLowerCase(),
        label: `${verb} of ${p.listFiles.toLocaleString("en-US")} files`,
        unit: "ms",
        better: "lower",
        target: bestPeer("lower"),
        timeoutMs: 120_000,
        spec: (_s, port) => ({ kind: "listing", port, ...base, verb, path: data.dir, minLines: p.listFiles }),
      }),
    ),
    {
      id: "ftps-retr-1",
      label: `FTPS retr-1 (AUTH TLS, PROT P), ${bigMiB} MiB`,
      unit: "MB/s",
      better: "higher",
      target: {
        text: "≥ 0.7 × its plain retr-1",
        check: (c, plain) => {
          const f = measured(c.ftpkit);
          const pl = measured(plain.ftpkit);
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
