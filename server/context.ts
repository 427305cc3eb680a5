import type { UserRecord } from "./auth/types.ts";
import type { ContainingLedger, NestedLimit } from "./auth/nested-limits.ts";
import type { Logger } from "./log.ts";
import type { ServerOptions } from "./options.ts";
import type { QuotaRegistry } from "./vfs/quota.ts";
import type { MountPlans } from "./vfs/mounts.ts";
import type { SharedState } from "./state/types.ts";
import type { HashCache } from "./data/hash-cache.ts";
import type { RateLimiter } from "./data/rate.ts";
import type { UserLimits } from "./user-limits.ts";
import type { Session } from "./session.ts";
import type { Socket } from "bun";
import type { DataConnection, DataSocketState } from "./data/connection.ts";
import type { CommandSpec } from "./commands/types.ts";
import type { ServerEvents } from "./ops/events.ts";
import type { Cidr } from "../protocol/cidr.ts";
import type { NameListBudget } from "./storage/name-budget.ts";

/** What the server hands each session: settings, users, shared ledgers and caches. */
export interface LoginService {
  start(): Promise<void>;
  /** `abandoned`: the client has gone (asked when the password check's turn comes: it is then skipped). */
  login(user: string, password: string, remoteIp: string, abandoned?: () => boolean): Promise<UserRecord | null>;
  close(): void;
  /** Bring the users to what the file says now, as a login would (FTPS: USER's require_tls check). */
  refresh?(): Promise<void>;
  /** The user as currently loaded, if any (FTPS: per-user require_tls at USER time). */
  lookup?(name: string): UserRecord | undefined;
  /** Does any account require TLS? (FTPS: refuse every named USER alike, so existence does not leak.) */
  anyRequiresTls?(): boolean;
  /** For /readyz: is a users file loaded, how many users, and a few homes to check. */
  /** `stale`: the file on disk could not be read (broken, gone) since the users served were loaded. */
  health?(): { loaded: boolean; users: number; homes: string[]; stale?: boolean };
  /** The directories a mount of some account limits (drop boxes), for the loaded users: see PlaceOptions.limitedDirs. */
  limitedDirs?(): ReadonlySet<string>;
  /** The homes and mounts holding one of those directories below them: see PlaceOptions.nestedLimits. */
  nestedLimits?(): ReadonlyMap<string, readonly NestedLimit[]>;
  /** The ledgers of the places above each home and mount: see PlaceOptions.containers. */
  containers?(): ReadonlyMap<string, readonly ContainingLedger[]>;
  /** Every distinct home and mount place of the loaded users (start-up report of object stores). */
  places?(): string[];
  /** SIGHUP: read the users file again now; `ok` false = it is broken and the previous users stay. */
  reload?(): Promise<{ ok: boolean; users: number }>;
  /**
   * Failed logins from this address in the back-off window (it runs from the last failure) as last
   * counted on every process sharing state: the login-failed event's count. Bans count their own,
   * within --ban-window.
   */
  failuresFrom?(remoteIp: string): number;
}

export interface ServerContext {
  options: ServerOptions;
  auth: LoginService;
  quotas: QuotaRegistry;
  /** The users' mount plans (vfs/mounts.ts): kept while used, and a little after. */
  plans: MountPlans;
  /** What several processes share (connection slots, ledgers, login failures, user rates); in memory by default. */
  state: SharedState;
  log: Logger;
  /** What happened, for metrics, hooks, the defender and the xferlog (server/ops). */
  events: ServerEvents;
  hashCache: HashCache;
  sessions: Set<Session>;
  /** The limiters each account's logged-in sessions share; let go with the account's last session. */
  userLimits: UserLimits;
  /** Rate limiters for a session of `user` that logged in (counted until endSession): its own bucket (--max-rate) and the user's shared one (--max-user-rate). */
  limitersFor(user: string): RateLimiter[];
  /** The per-user budget for HASH work (bytes/s), so one client cannot burn the CPU. */
  hashLimiter(user: string): RateLimiter;
  shuttingDown: boolean;
  /**
   * The .ftpkit-tmp directories this server made (not shared with other processes), by real root:
   * each removed, if empty, when it stops, through a fresh open of the root (the entries hold no
   * descriptor: local-jail.ts removeOwnDirIfEmpty) and only while the path names the directory it
   * was made in. A root replaced under its path (a deploy's swap) gets its entry again when the
   * server makes one in the new directory.
   */
  tempDirsMade: Map<string, () => void>;
  /**
   * "session end" lines waiting for the line of a transfer the close cut (control-lifecycle.ts
   * endSession); close() writes those still waiting at its end, so none is lost at exit.
   */
  endsAwaitingTransfer: Set<() => void>;
  /** What the name lists of this server's listings hold at once, against options.maxListedNameBytes. */
  nameLists: NameListBudget;
  /** FEAT lines (without the leading space), generated from the command table. */
  featureLines(session: Session): string[];
  /** Verb → row of the command table. */
  commandTable(): ReadonlyMap<string, CommandSpec>;
  /** FTPS: wrap a new data socket (TLS under PROT P); default is a plain DataConnection. */
  adoptDataSocket?: (session: Session, socket: Socket<DataSocketState>, peerIp: string) => DataConnection;
  startedAt: number;
  /** FTPS policy: an FtpError when USER must wait for AUTH TLS (--require-tls, per user too). */
  loginTlsRefusal?: (session: Session, user: string) => Promise<Error | null>;
  /** FTPS policy: an FtpError when this session may not open a data connection now (PROT C under require-tls). */
  dataTlsRefusal?: (session: Session) => Error | null;
  /** Parsed --proxy-from: balancers whose connections start with a PROXY header (control port, and passive ports they forward). */
  proxyFrom?: readonly Cidr[];
  /** FTPS, when configured (issue #4). */
  tls?: unknown;
}
