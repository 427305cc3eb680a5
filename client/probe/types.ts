// What `ftpkit test` checks, in the order it reports them. Required items decide the exit status.

import type { OptionWords } from "../option-words.ts";

export type ProbeStatus = "pass" | "fail" | "n/a";

export interface ProbeItem {
  id: string;
  title: string;
  /** A failed required item makes the probe fail (exit status 1); optional ones are only reported. */
  required: boolean;
  status: ProbeStatus;
  /** One line: what was seen. */
  reason: string;
}

export interface ProbeOptions {
  host: string;
  port: number;
  /** Default: anonymous. */
  user?: string;
  password?: string;
  /** Run every session over TLS: explicit (AUTH TLS) or implicit (ftps://). */
  tls?: "explicit" | "implicit";
  /** Extra trusted PEM certificates, or accept any certificate (as `ftpkit get`). */
  ca?: string[];
  insecure?: boolean;
  /** How TLS errors name `ca` and `insecure` (default: `ftpkit test`'s flags; the package API: its options). */
  words?: OptionWords;
  /** Directory to create the scratch directory in (default: the login directory). */
  dir?: string;
  /** Longest wait for one reply (default 10 s). */
  timeoutMs?: number;
  /** Called as each item is decided, for live output. */
  onItem?: (item: ProbeItem) => void;
  /**
   * Ctrl-C or SIGTERM ended the probe: called with the items decided so far (the scratch directory
   * removed, or said to be left) just before the process exits 130 or 143.
   */
  onInterrupted?: (report: ProbeReport) => void;
}

export interface ProbeReport {
  target: string;
  user: string;
  tls: "none" | "explicit" | "implicit";
  /** First line of the greeting, and SYST. */
  server: string;
  items: ProbeItem[];
  /** Required items that failed (non-zero exit status when > 0). */
  requiredFailed: number;
  /** The scratch directory the probe wrote in, and whether it is gone again. */
  scratch: { path: string | null; removed: boolean; note?: string };
  durationMs: number;
  /** Set when Ctrl-C or SIGTERM ended the probe: the items then are those decided before it. */
  interrupted?: "SIGINT" | "SIGTERM";
}

/** id → title and whether it is required, in report order. */
export const CATALOGUE: readonly { id: string; title: string; required: boolean }[] = [
  { id: "greeting", title: "Greeting (220)", required: true },
  { id: "feat", title: "FEAT", required: false },
  { id: "login", title: "Login (USER/PASS)", required: true },
  { id: "pwd", title: "PWD", required: true },
  { id: "epsv", title: "EPSV", required: false },
  { id: "pasv", title: "PASV", required: false },
  { id: "passive", title: "Passive data (PASV or EPSV)", required: true },
  { id: "eprt", title: "EPRT (active data)", required: false },
  { id: "stor", title: "STOR", required: true },
  { id: "list", title: "LIST", required: true },
  { id: "retr", title: "RETR", required: true },
  { id: "utf8", title: "UTF8", required: false },
  { id: "size-mdtm", title: "SIZE and MDTM", required: false },
  { id: "mlsx", title: "MLSD/MLST facts", required: false },
  { id: "rest", title: "REST STREAM (download, upload)", required: false },
  { id: "appe", title: "APPE", required: false },
  { id: "rename", title: "RNFR/RNTO", required: false },
  { id: "hash", title: "HASH", required: false },
  { id: "xdigests", title: "XMD5/XSHA1/XSHA256/XSHA512/XCRC", required: false },
  { id: "type-a", title: "TYPE A line endings", required: false },
  { id: "abor", title: "ABOR during a transfer", required: false },
  { id: "stat", title: "STAT during a transfer", required: false },
  { id: "long-line", title: "Long command line", required: false },
  { id: "port-bounce", title: "PORT and EPRT bounce refused (RFC 2577)", required: false },
  { id: "pasv-theft", title: "Passive connection theft refused", required: false },
  { id: "tls", title: "AUTH TLS, PBSZ, PROT P", required: false },
  { id: "tls-reuse", title: "TLS session reuse on data connections", required: false },
  { id: "idle", title: "Idle timeout advertised", required: false },
];
