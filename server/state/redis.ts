// Several nodes (processes or hosts) acting as one server through Redis or Valkey: RedisState is the
// SharedState the server sees, made of one part per concern, all over one connection (redis-link.ts):
// connection slots (redis-slots.ts), failed logins and bans (redis-bans.ts), quota leases
// (redis-ledger.ts), user rate shares (redis-rates.ts) and the S3 per-key lock (here: three scripts).
import type { Ledger } from "../vfs/quota.ts";
import { RedisBans } from "./redis-bans.ts";
import { RedisLedger, type LedgerStore } from "./redis-ledger.ts";
import { StoreLink, type StateLog, type StoreClient, type StoreContext } from "./redis-link.ts";
import { RedisRates } from "./redis-rates.ts";
import { RedisSlots } from "./redis-slots.ts";
import { KEY_LOCK, KEY_RENEW, KEY_UNLOCK, NODE_GONE, UPLOAD_NOTE, UPLOADS_CLAIM } from "./scripts.ts";
import { nodeIdPrefix } from "./node-id.ts";
import type { SharedKeyLock } from "../storage/s3-key-lock.ts";
import type { Admission, BanPolicy, BanVerdict, ConnectionLimits, SharedBan, SharedState } from "./types.ts";

export type { StoreClient } from "./redis-link.ts";

export interface RedisStateOptions {
  /** redis://… (shown in errors); with `client`, only a name. */
  url: string;
  /** Another way to reach the store (--workers without --state: the primary's memory store over IPC). */
  client?: () => StoreClient;
  /** Key prefix, so several clusters can share one Redis (default "ftpkit:"). */
  prefix?: string;
  /** A node that stops heartbeating is forgotten (its slots, leases, rate shares) after this long. */
  nodeTtlMs?: number;
  /** How long the store keeps a ledger's usage after the last node let it go. */
  keepMs?: number;
  /** A command not answered within this is a failure (the store is unreachable). */
  commandTimeoutMs?: number;
  /** --max-user-rate is set: track which nodes serve each user (else no round trips for it). */
  shareRates?: boolean;
  log?: StateLog;
}

/**
 * Every check-and-add is one Lua script (atomic in the store). Each node heartbeats every third of
 * `nodeTtlMs`: restates its connection counts, renews its quota leases and flushes what the store
 * missed while away. If the store cannot be reached: new connections and logins get 421, running
 * transfers go on within their leases, and the client reconnects with back-off.
 */
/** How long a process's index of its multipart uploads outlives its newest entry (a process that dies unseen). */
const UPLOAD_NOTE_KEEP_MS = 48 * 3_600_000;

export class RedisState implements SharedState, LedgerStore, SharedKeyLock, StoreContext {
  readonly kind = "redis";
  readonly prefix: string;
  readonly channelScope: string;
  /** `host:pid:[run tag]random`: a dead --workers worker's nodes are found by their `host:pid:tag` (nodeGone, node-id.ts). */
  readonly node = `${nodeIdPrefix(process.pid)}${Math.random().toString(36).slice(2, 8)}`;
  readonly leaseTtlMs: number;
  readonly keepMs: number;
  private readonly link: StoreLink;
  private readonly slots: RedisSlots;
  private readonly bans: RedisBans;
  private readonly rates: RedisRates;
  private readonly ledgers = new Set<RedisLedger>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(opts: RedisStateOptions) {
    this.prefix = opts.prefix ?? "ftpkit:";
    this.channelScope = opts.client ? "" : channelScopeOf(opts.url);
    this.leaseTtlMs = opts.nodeTtlMs ?? 15_000;
    this.keepMs = opts.keepMs ?? 60_000;
    const log = opts.log ?? (() => {});
    this.slots = new RedisSlots(this);
    const onDown = () => {
      this.slots.markDirty();
      this.bans.storeLost();
    };
    this.link = new StoreLink({ url: opts.url, client: opts.client, timeoutMs: opts.commandTimeoutMs ?? 2000, log, onDown });
    this.bans = new RedisBans(this, this.link, log);
    this.rates = new RedisRates(this, opts.shareRates ?? false);
  }

  async start(): Promise<void> {
    try {
      await this.link.connect();
      if (this.bans.watching) await this.bans.start();
    } catch (err) {
      throw await this.link.startError(err);
    }
    this.link.markStarted();
    await this.slots.sync();
    this.timer = setInterval(() => void this.heartbeat(), Math.max(200, this.leaseTtlMs / 3));
    (this.timer as { unref?: () => void }).unref?.();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.bans.close();
    try {
      for (const l of this.ledgers) l.dispose();
      await Promise.all([...this.ledgers].map((l) => l.flush()));
      await this.slots.leave();
      await this.rates.leave();
    } catch {
      /* the store is away: our entries expire on their own */
    }
    this.link.close();
  }

  /** Keep this node alive in the store; after an outage, reconnect with back-off and restate everything. */
  private async heartbeat(): Promise<void> {
    if (!(await this.link.up())) return;
    try {
      await this.slots.beat();
      await Promise.all([...this.ledgers].filter((l) => l.active).map((l) => l.flush()));
      await this.rates.beat();
      await this.bans.check();
    } catch {
      /* marked down; retried at the next beat */
    }
  }

  send(cmd: string, args: string[]): Promise<unknown> {
    return this.link.send(cmd, args);
  }

  eval(script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    return this.link.eval(script, keys, args);
  }

  reachable(): boolean {
    return this.link.reachable();
  }

  openConnection(ip: string, limits: ConnectionLimits): Promise<Admission> {
    return this.slots.open(ip, limits);
  }

  connectionCounts(ips: readonly string[]): Promise<Map<string, number>> {
    return this.slots.clusterCounts(ips);
  }

  closeConnection(ip: string): Promise<void> {
    return this.slots.close(ip);
  }

  createLedger(key: string, limit: number, measure: () => Promise<number>): Ledger {
    const ledger = new RedisLedger(this, key, limit, measure);
    this.ledgers.add(ledger);
    const dispose = ledger.dispose.bind(ledger);
    ledger.dispose = () => {
      dispose();
      this.ledgers.delete(ledger);
    };
    return ledger;
  }

  noteLoginFailure(ip: string, windowMs: number): Promise<number> {
    return this.bans.noteLoginFailure(ip, windowMs);
  }

  banFailure(key: string, policy: BanPolicy): Promise<BanVerdict> {
    return this.bans.banFailure(key, policy);
  }

  watchBans(listener: (ban: SharedBan) => void, held?: () => SharedBan[]): void {
    this.bans.watch(listener, held);
  }

  /** SharedState.nodeGone: NODE_GONE for the nodes of process `pid` on this host, in this --workers run. */
  async nodeGone(pid: number): Promise<void> {
    await this.eval(NODE_GONE, [`${this.prefix}nodes`], [nodeIdPrefix(pid), this.prefix]);
  }

  /** SharedState.uploadsOf: the multipart uploads process `pid` (a dead --workers sibling) noted, taken once. */
  async uploadsOf(pid: number): Promise<string[]> {
    const all = await this.eval(UPLOADS_CLAIM, [`${this.prefix}uploads-of:${nodeIdPrefix(pid)}`], []);
    return Array.isArray(all) ? all.map(String) : [];
  }

  /** This process's index of its S3 key locks (NODE_GONE gives them back if it dies). */
  private get lockIndex(): string {
    return `${this.prefix}locks-of:${nodeIdPrefix(process.pid)}`;
  }

  /** S3 per-key lock (s3-key-lock.ts) across every node: a lease with a token (SET NX PX). */
  async tryLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.eval(KEY_LOCK, [`${this.prefix}lock:${name}`, this.lockIndex], [token, ttlMs])) != null;
  }

  async renew(name: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.eval(KEY_RENEW, [`${this.prefix}lock:${name}`, this.lockIndex], [token, ttlMs])) === 1;
  }

  async unlock(name: string, token: string): Promise<void> {
    await this.eval(KEY_UNLOCK, [`${this.prefix}lock:${name}`, this.lockIndex], [token]);
  }

  /** SharedKeyLock.noteUpload: kept in this process's index for as long as an upload may be pending (a day, renewed by each new one). */
  async noteUpload(entry: string, live: boolean): Promise<void> {
    await this.eval(UPLOAD_NOTE, [`${this.prefix}uploads-of:${nodeIdPrefix(process.pid)}`], [entry, live ? 1 : 0, UPLOAD_NOTE_KEEP_MS]);
  }

  get keyLock(): SharedKeyLock {
    return this;
  }

  userRateShare(user: string, active: boolean): void {
    this.rates.userRateShare(user, active);
  }

  rateShare(user: string): number {
    return this.rates.rateShare(user);
  }
}

/**
 * "@N" for redis://…/N with N > 0, else "". Redis keeps keys per database but publishes to every
 * client of the server: two clusters on databases 0 and 1 of one Redis heard each other's bans and
 * refused each other's clients (and stored the other's bans as their own).
 */
export function channelScopeOf(url: string): string {
  let db = "";
  try {
    db = new URL(url).pathname.replace(/^\//, "");
  } catch {
    return "";
  }
  return /^[1-9]\d*$/.test(db) ? `@${db}` : "";
}
