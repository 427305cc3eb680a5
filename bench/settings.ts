// The bench's settings: the FULL and QUICK profiles, the one account every server gets, the ports
// (moved by FTPKIT_BENCH_PORT_OFFSET or --port-base) and the command-line flags of `bun run bench`.
import { join } from "node:path";
import { BENCH_DIR } from "./servers.ts";

export interface Profile {
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

export const MiB = 1 << 20;
export const FULL: Profile = {
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
export const QUICK: Profile = {
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

export const ACCOUNT_USER = "ftpbench";
export const ACCOUNT_PASS = "bench-Pw-2718";
// FTPKIT_BENCH_PORT_OFFSET moves every port (control and passive), so two checkouts can bench on
// one machine without one measuring the other's server; --port-base N puts them all in N…N+999.
const OFF = Number(process.env.FTPKIT_BENCH_PORT_OFFSET ?? 0) || 0;
// `let`: relocatePorts reassigns both, and importers see the new values (ES module bindings are live).
export let PORTS = { ftpkit: 22121 + OFF, vsftpd: 22122 + OFF, pyftpdlib: 22123 + OFF, pyftpdlibTls: 22124 + OFF, ftpkitOps: 22125 + OFF, ftpkitOpsMetrics: 22126 + OFF, ftpkitWorkers: 22127 + OFF, redis: 22128 + OFF, raw: 22129 + OFF, proftpd: 22130 + OFF, proftpdTls: 22131 + OFF };
const range = (lo: number): [number, number] => [lo + OFF, lo + 999 + OFF];
export let PASV: Record<"ftpkit" | "ftpkitOps" | "vsftpd" | "pyftpdlib" | "pyftpdlibTls" | "ftpkitWorkers" | "proftpd" | "proftpdTls", [number, number]> = {
  ftpkit: range(40000),
  ftpkitOps: range(44000),
  vsftpd: range(41000),
  pyftpdlib: range(42000),
  pyftpdlibTls: range(43000),
  ftpkitWorkers: range(45000),
  proftpd: [46000 + OFF, 46899 + OFF],
  proftpdTls: [46900 + OFF, 46999 + OFF],
};

/** --port-base N: every port within N…N+999 (so a run can live beside another one). */
function relocatePorts(b: number): void {
  PORTS = { ftpkit: b + 121, vsftpd: b + 122, pyftpdlib: b + 123, pyftpdlibTls: b + 124, ftpkitOps: b + 125, ftpkitOpsMetrics: b + 126, ftpkitWorkers: b + 127, redis: b + 128, raw: b + 129, proftpd: b + 120, proftpdTls: b + 119 };
  PASV = {
    pyftpdlib: [b, b + 59],
    pyftpdlibTls: [b + 60, b + 118],
    ftpkit: [b + 130, b + 329],
    vsftpd: [b + 330, b + 529],
    proftpd: [b + 530, b + 629],
    proftpdTls: [b + 630, b + 679],
    ftpkitOps: [b + 680, b + 819],
    ftpkitWorkers: [b + 820, b + 999],
  };
}
export const SERVERS = ["ftpkit", "vsftpd", "pyftpdlib", "proftpd"] as const;
export type ServerName = (typeof SERVERS)[number];
export const CPU_BOUND = 0.8; // load generator CPU / wall above this: its result is a lower bound

export interface Args {
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

export function parseArgs(argv: string[]): Args {
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
        console.log("usage: bun run bench [--quick] [--only ftpkit,vsftpd,pyftpdlib,proftpd] [--workloads id,…] [--reps N] [--out FILE] [--port-base N] [--workers-redis] | --s3 [--s3-env] [--quick] [--reps N] [--port-base N]");
        process.exit(0);
      // falls through (never reached)
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  return a;
}
