// The state several ftpkit processes must share to act as one server (issue 12): connection slots,
// quota ledgers, failed-login counts, bans and per-user bandwidth. One process keeps it in memory
// (LocalState, the default); several share it through Redis (RedisState, --state redis://…).
import type { Ledger } from "../vfs/quota.ts";
import type { SharedKeyLock } from "../storage/s3-key-lock.ts";

/** The answer to a new connection. "unavailable": the shared store cannot be reached (421). */
export type Admission = "ok" | "server-full" | "ip-full" | "unavailable";

export interface ConnectionLimits {
  maxConnections: number;
  maxPerIp: number;
}

/** How bans are taken (the defender's settings: --ban-after, --ban-window, --ban-time, --ban-max). */
export interface BanPolicy {
  banAfter: number;
  windowMs: number;
  banMs: number;
  maxMs: number;
}

/** A ban in force: its key (IPv4 address or IPv6 /64), the milliseconds it has left, and which repeat it is. */
export interface SharedBan {
  key: string;
  ms: number;
  repeat: number;
}

/** What the store made of a failed login: a ban it took now, one already in force, or only counted. */
export interface BanVerdict extends SharedBan {
  outcome: "banned" | "already" | "counted";
  failures: number;
}

export interface SharedState {
  /** "local" or "redis" (logs, STAT). */
  readonly kind: string;
  /** Connect and start background work; throws a clear error when the store is unreachable at start. */
  start(): Promise<void>;
  /** Stop background work, give back leases and connection slots; the store keeps nothing of ours. */
  close(): Promise<void>;
  /** Take a connection slot for `ip` if every node together is under both caps. Sync in-process. */
  openConnection(ip: string, limits: ConnectionLimits): Admission | Promise<Admission>;
  /** False while a shared store cannot be reached (new connections and logins then get 421): /readyz says so. */
  reachable?(): boolean;
  /**
   * Connections of each address (as openConnection's `ip`) over every node, in one round trip: asked
   * only when openConnection said "server-full", to choose whom to evict (connection-gate.ts).
   * Absent: one process, whose own counts are all there is.
   */
  connectionCounts?(ips: readonly string[]): Promise<Map<string, number>>;
  /** Give back a slot taken by openConnection ("ok"); a shared store's promise settles once the store has it (never rejects). */
  closeConnection(ip: string): void | Promise<void>;
  /** The ledger for `key`: created on first use, measured with `measure` when the store has no usage yet. */
  createLedger(key: string, limit: number, measure: () => Promise<number>): Ledger;
  /**
   * Record a failed login from `ip`; resolves to the number of earlier failures in the window.
   * Absent: the authenticator counts in memory (one process).
   */
  noteLoginFailure?(ip: string, windowMs: number): Promise<number>;
  /**
   * Count a failed login toward a ban of `key`, for every node sharing the store; a ban it takes is
   * announced to all of them (watchBans) before this resolves. Rejects when the store is unreachable
   * (the caller then bans on its own). Absent: each process bans alone.
   */
  banFailure?(key: string, policy: BanPolicy): Promise<BanVerdict>;
  /**
   * Hear of every ban in force on the store: those there at start and after an outage, and each new
   * one as it is taken (by this node or another). Called before start(). `held`: the bans in force
   * here, restated to a store found to have lost them (restarted empty, evicting).
   */
  watchBans?(listener: (ban: SharedBan) => void, held?: () => SharedBan[]): void;
  /** The S3 per-key lock across every node (server/storage/s3-key-lock.ts). Absent: per process. */
  readonly keyLock?: SharedKeyLock;
  /** Sessions of `user` on this node changed: the user's rate share is recomputed (shared --max-user-rate). */
  userRateShare(user: string, active: boolean): void;
  /** This node's share (0–1] of a user's --max-user-rate: 1 / number of nodes serving the user. */
  rateShare(user: string): number;
  /**
   * Process `pid` on this host, a worker of this --workers run, is dead (a --workers sibling the primary saw
   * exit): its connection slots and quota leases end now, not after --state-ttl. Absent: one process.
   */
  nodeGone?(pid: number): Promise<void>;
  /**
   * The S3 multipart uploads process `pid` (as for nodeGone) had in progress, as SharedKeyLock.noteUpload
   * noted them; each is handed out once, to the first caller (the one that aborts them).
   */
  uploadsOf?(pid: number): Promise<string[]>;
}
