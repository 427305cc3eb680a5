import { STALE_UPLOAD_MS } from "./storage/s3-sweep.ts";

/** Typed server settings with safe defaults (issue #2: port 2121, 500 connections, 120 s idle). */
export interface ServerOptions {
  usersFile: string;
  host: string;
  port: number;
  /** Inclusive passive port range; undefined = any free port. */
  pasvPorts?: readonly [number, number];
  /** Address announced in PASV replies (NAT); default: the control connection's local address. */
  pasvAddress?: string;
  maxConnections: number;
  maxPerIp: number;
  idleTimeoutSec: number;
  /** A connection must have logged in this long after connecting, or it is closed (slowloris). */
  loginTimeoutSec: number;
  /** USER/PASS attempts one connection may make; the next failure gets 421 and the connection closes. */
  maxLoginAttempts: number;
  /** Implicit TLS: the handshake must finish this soon after accept, or the socket is closed. */
  tlsHandshakeTimeoutMs: number;
  welcome: string;
  goodbye: string;
  logFormat: "text" | "json";
  /** Silence logs (tests). */
  quiet: boolean;
  /** Bytes per second per session (0 = unlimited). */
  maxRate: number;
  /** Bytes per second shared by all sessions of one user (0 = unlimited). */
  maxUserRate: number;
  /** How long running transfers may finish after SIGINT/SIGTERM. */
  shutdownGraceSec: number;
  /** Delay added to every failed login (ms). */
  failedLoginDelayMs: number;
  /** Bytes of file data one user may hash per second for HASH/XMD5… (bounded CPU). */
  hashBytesPerSec: number;
  /** How long a data connection may wait to be made (PASV accept, PORT connect, TLS handshake). */
  dataTimeoutMs: number;
  /**
   * Entries that sorted listings (LIST -t, NLST -r…, read whole before they are sent) may hold at once
   * in this process; a listing that would go beyond gets 450. ~280 bytes each: 1,000,000 is ~280 MiB.
   */
  maxSortedEntries: number;
  /**
   * Estimated heap bytes the name lists of running listings (each directory's names, read whole to be
   * sent sorted) may hold at once in this process; a list shared by listings of one unchanged
   * directory counts once. A listing beyond gets 450 (one alone is always let through).
   */
  maxListedNameBytes: number;
  /**
   * A transfer whose data connection moves no byte this long is aborted (426). vsftpd's
   * data_connection_timeout, 300 s: an upload fed by a pipe (`mysqldump | gzip | curl -T -`) can be
   * silent for minutes while its producer works.
   */
  stallTimeoutMs: number;
  /** Endpoint of the object store for s3:// homes and mounts (default: S3_ENDPOINT / AWS_ENDPOINT_URL). */
  s3Endpoint?: string;
  /**
   * Multipart uploads under an S3 place that began this long ago and whose newest part is as old
   * are aborted (a crashed server's, or one whose start the server never heard of): see s3-sweep.ts.
   */
  s3StaleUploadMs: number;
  /** --proxy-protocol --proxy-from: balancer addresses (CIDR list) whose PROXY header is required; unset = no PROXY protocol. */
  proxyFrom?: string;
  /** --state redis://HOST:PORT[/DB]: share limits and quotas with other nodes; unset = in memory. */
  state?: string;
  /** Shared state: a node silent this long is forgotten, its leases returned (default 15 s; tests shorten it). */
  stateTtlMs?: number;
  /** Listen with SO_REUSEPORT (--workers: several processes accept on one port). */
  reusePort?: boolean;
  /** This process is worker N of `serve --workers` (0-based): its session ids read "N-count". */
  worker?: number;
}

export const DEFAULT_OPTIONS: ServerOptions = {
  usersFile: "users.ini",
  host: "0.0.0.0",
  port: 2121,
  maxConnections: 500,
  maxPerIp: 50,
  idleTimeoutSec: 120,
  loginTimeoutSec: 30,
  maxLoginAttempts: 3,
  tlsHandshakeTimeoutMs: 10_000,
  welcome: "ftpkit FTP server ready",
  goodbye: "Goodbye",
  logFormat: "text",
  quiet: false,
  maxRate: 0,
  maxUserRate: 0,
  shutdownGraceSec: 10,
  failedLoginDelayMs: 400,
  hashBytesPerSec: 512 * 1024 * 1024,
  dataTimeoutMs: 30_000,
  maxSortedEntries: 1_000_000,
  maxListedNameBytes: 256 * 1024 * 1024,
  stallTimeoutMs: 300_000,
  s3StaleUploadMs: STALE_UPLOAD_MS,
};
