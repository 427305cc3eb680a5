import { RedisClient } from "bun";
import { hostname } from "node:os";
import type { Ledger } from "../vfs/quota.ts";
import { RedisLedger, type LedgerStore } from "./redis-ledger.ts";
import { BAN_FAIL, BANS_LOAD, BANS_RESTATE, CONN_CLOSE, CONN_OPEN, FAIL, KEY_LOCK, KEY_RENEW, KEY_UNLOCK, NODE_ALIVE, NODE_SYNC, RATE_NODES } from "./scripts.ts";
import type { SharedKeyLock } from "../storage/s3-key-lock.ts";
import type { Admission, BanPolicy, BanVerdict, ConnectionLimits, SharedBan, SharedState } from "./types.ts";
import { stateUrlForLogs } from "./url.ts";
import { diagnoseStore } from "./diagnose.ts";

/** What RedisState needs of a connection to the store: Bun's RedisClient, or a worker's line to its primary. */
export interface StoreClient {
  connect(): Promise<void>;
  send(command: string, args: string[]): Promise<unknown>;
  close(): void;
  onclose: ((error: Error) => void) | null;
  /** Hear what is published on `channel` (Redis: a connection of its own, in subscriber mode). */
  subscribe?(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
}

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
  log?: (event: string, fields?: Record<string, string | number | boolean | undefined>) => void;
}

/**
 * Several nodes (processes or hosts) acting as one server through Redis or Valkey. Every check-and-add
 * is one Lua script (atomic in the store). Each node heartbeats every third of `nodeTtlMs`: restates
 * its connection counts, renews its quota leases and flushes what the store missed while away. If the
 * store cannot be reached: new connections and logins get 421, running transfers go on within their
 * leases, and the client reconnects with back-off.
 */
export class RedisState implements SharedState, LedgerStore, SharedKeyLock {
  readonly kind = "redis";
  readonly prefix: string;
  readonly node = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  readonly leaseTtlMs: number;
  readonly keepMs: number;
  private readonly timeoutMs: number;
  private client: StoreClient;
  private timer: ReturnType<typeof setInterval> | null = null;
  private reconnectAt = 0;
  private backoffMs = 250;
  private down = false;
  /** start() reached the store: from then on a lost connection is an outage, logged. */
  private started = false;
  private connCounts = new Map<string, number>();
  private connTotal = 0;
  private connDirty = false;
  private ledgers = new Set<RedisLedger>();
  private userSessions = new Map<string, number>();
  private shares = new Map<string, number>();
  /** The defender's listener for bans (watchBans); null: no ban traffic at all. */
  private banListener: ((ban: SharedBan) => void) | null = null;
  /** The connection hearing ban announcements (null: none yet, or lost: the heartbeat subscribes again). */
  private subscriber: StoreClient | null = null;
  /** The store's ban count as last seen whole: the heartbeat reloads the bans when the store's differs. */
  private banSeq = -1;
  private failures = 0;
  private readonly log: NonNullable<RedisStateOptions["log"]>;

  constructor(private readonly opts: RedisStateOptions) {
    this.prefix = opts.prefix ?? "ftpkit:";
    this.leaseTtlMs = opts.nodeTtlMs ?? 15_000;
    this.keepMs = opts.keepMs ?? 60_000;
    this.timeoutMs = opts.commandTimeoutMs ?? 2000;
    this.log = opts.log ?? (() => {});
    this.client = this.newClient();
  }

  private newClient(): StoreClient {
    // No offline queue: while the store is away, commands fail at once instead of piling up.
    const client: StoreClient = this.opts.client
      ? this.opts.client()
      : new RedisClient(this.opts.url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: this.timeoutMs });
    client.onclose = () => this.markDown("connection closed");
    return client;
  }

  private markDown(reason: string): void {
    if (this.down) return;
    this.down = true;
    this.connDirty = true;
    // A store not reached at start-up is the start's one error line, not an outage before it.
    if (this.started) this.log("state store unreachable", { reason });
  }

  async start(): Promise<void> {
    try {
      await this.withTimeout(this.client.connect());
      await this.send("PING", []);
      if (this.banListener) {
        // Without announcements (a store refusing SUBSCRIBE) the heartbeat still finds every new ban.
        await this.subscribeBans().catch((e: Error) => this.log("ban announcements unavailable", { reason: e.message }));
        await this.loadBans();
      }
    } catch (err) {
      this.client.close();
      const why = (!this.opts.client && (await diagnoseStore(this.opts.url, this.timeoutMs))) || (err as Error).message;
      const e = new Error(`cannot reach the state store at ${stateUrlForLogs(this.opts.url)}: ${why}`);
      e.name = "StateStartError";
      throw e;
    }
    this.down = false;
    this.started = true;
    await this.sync();
    this.timer = setInterval(() => void this.heartbeat(), Math.max(200, this.leaseTtlMs / 3));
    (this.timer as { unref?: () => void }).unref?.();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.subscriber) {
      this.subscriber.onclose = null;
      this.subscriber.close();
      this.subscriber = null;
    }
    try {
      for (const l of this.ledgers) l.dispose();
      await Promise.all([...this.ledgers].map((l) => l.flush()));
      await this.send("ZREM", [`${this.prefix}nodes`, this.node]);
      await this.send("DEL", [`${this.prefix}conns:${this.node}`]);
      for (const user of this.userSessions.keys()) await this.eval(RATE_NODES, [`${this.prefix}rate:${user}`], [this.node, this.leaseTtlMs, 0]);
    } catch {
      /* the store is away: our entries expire on their own */
    }
    // Our own hang-up is no outage: a clean stop used to log "state store unreachable".
    this.client.onclose = null;
    this.down = true;
    this.client.close();
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout>;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  private async send(cmd: string, args: string[]): Promise<unknown> {
    if (this.down) throw new Error("state store unreachable");
    try {
      return await this.withTimeout(this.client.send(cmd, args));
    } catch (err) {
      if (!/ERR|WRONGTYPE|NOSCRIPT/.test((err as Error).message)) this.markDown((err as Error).message);
      throw err;
    }
  }

  private shas = new Map<string, string>();

  /** EVALSHA (the store keeps compiled scripts); the full text only when the store does not know it yet. */
  async eval(script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    let sha = this.shas.get(script);
    if (!sha) this.shas.set(script, (sha = new Bun.CryptoHasher("sha1").update(script).digest("hex")));
    const rest = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await this.send("EVALSHA", [sha, ...rest]);
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      return this.send("EVAL", [script, ...rest]);
    }
  }

  /** Keep this node alive in the store; after an outage, reconnect with back-off and restate everything. */
  private async heartbeat(): Promise<void> {
    if (this.down) {
      if (Date.now() < this.reconnectAt) return;
      this.reconnectAt = Date.now() + this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, 5000);
      try {
        this.client.close();
        this.client = this.newClient();
        await this.withTimeout(this.client.connect());
        this.down = false;
        this.backoffMs = 250;
        this.log("state store reachable again", {});
      } catch {
        return;
      }
    }
    try {
      // Restating the counts races connections being admitted meanwhile: only after an outage.
      if (this.connDirty) await this.sync();
      else await this.eval(NODE_ALIVE, [`${this.prefix}nodes`], [this.node, this.leaseTtlMs]);
      await Promise.all([...this.ledgers].filter((l) => l.active).map((l) => l.flush()));
      for (const [user, n] of this.userSessions) await this.refreshShare(user, n > 0);
      if (this.banListener) await this.checkBans();
    } catch {
      /* marked down; retried at the next beat */
    }
  }

  /** Restate this node's connection counts (after an outage the store may have dropped them). */
  private async sync(): Promise<void> {
    const fields: string[] = ["total", String(this.connTotal)];
    for (const [ip, n] of this.connCounts) fields.push(`ip:${ip}`, String(n));
    await this.eval(NODE_SYNC, [`${this.prefix}nodes`, `${this.prefix}conns:${this.node}`], [this.node, this.leaseTtlMs, ...fields]);
    this.connDirty = false;
  }

  reachable(): boolean {
    return !this.down;
  }

  async openConnection(ip: string, limits: ConnectionLimits): Promise<Admission> {
    try {
      if (this.connDirty) await this.sync();
      const r = Number(
        await this.eval(CONN_OPEN, [`${this.prefix}nodes`], [this.node, ip, limits.maxConnections, limits.maxPerIp, this.leaseTtlMs, this.prefix]),
      );
      if (r === 1) return "server-full";
      if (r === 2) return "ip-full";
      this.connTotal++;
      this.connCounts.set(ip, (this.connCounts.get(ip) ?? 0) + 1);
      return "ok";
    } catch {
      return "unavailable";
    }
  }

  closeConnection(ip: string): Promise<void> {
    this.connTotal = Math.max(0, this.connTotal - 1);
    const n = (this.connCounts.get(ip) ?? 1) - 1;
    if (n <= 0) this.connCounts.delete(ip);
    else this.connCounts.set(ip, n);
    const key = `${this.prefix}conns:${this.node}`;
    return this.eval(CONN_CLOSE, [key], [`ip:${ip}`]).then(
      () => {},
      () => void (this.connDirty = true),
    );
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

  async noteLoginFailure(ip: string, windowMs: number): Promise<number> {
    return Number(await this.eval(FAIL, [`${this.prefix}fail:${ip}`], [windowMs]));
  }

  private get banChannel(): string {
    return `${this.prefix}bans`;
  }

  async banFailure(key: string, policy: BanPolicy): Promise<BanVerdict> {
    const p = this.prefix;
    const reply = (await this.eval(
      BAN_FAIL,
      [`${p}banfails:${key}`, `${p}ban:${key}`, `${p}bans`, `${p}bans:seq`],
      [policy.banAfter, policy.windowMs, policy.banMs, policy.maxMs, `${this.node}:${++this.failures}`, this.banChannel, key],
    )) as unknown[];
    const [kind, ms, repeat, failures, seq] = reply.map(Number) as [number, number, number, number, number];
    // The 530 waits (at most 250 ms) until this node hears its own announcement: the store sent the
    // others theirs at the same moment. Without it, the reply was seen handled before the
    // announcement the store had sent ahead of it, and the guesser's next connection let in elsewhere.
    if (kind === 1) await this.announced(seq);
    return { key, ms, repeat, failures, outcome: kind === 1 ? "banned" : kind === 2 ? "already" : "counted" };
  }

  watchBans(listener: (ban: SharedBan) => void, held?: () => SharedBan[]): void {
    this.banListener = listener;
    this.banHeld = held ?? null;
  }

  private banHeld: (() => SharedBan[]) | null = null;

  /** The subscription being made (heartbeats overlap when a connect outlasts one: they share it). */
  private subscribing: Promise<void> | null = null;
  private closing = false;

  /** Listen for bans as other nodes take them (pub/sub: no round trip on the connect path). */
  private subscribeBans(): Promise<void> {
    if (this.subscriber || this.closing) return Promise.resolve();
    // One at a time: each overlapping heartbeat made its own, and all but the last stayed open, subscribed and unclosable.
    this.subscribing ??= this.subscribeOnce().finally(() => (this.subscribing = null));
    return this.subscribing;
  }

  private async subscribeOnce(): Promise<void> {
    // Redis: a second connection (one in subscriber mode runs no other command); the primary's store: the same line.
    const sub: StoreClient = this.opts.client
      ? this.opts.client()
      : new RedisClient(this.opts.url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: this.timeoutMs });
    if (!sub.subscribe) return; // only the heartbeat's check, then
    sub.onclose = () => {
      if (this.subscriber === sub) this.subscriber = null;
    };
    try {
      await this.withTimeout(sub.connect());
      await this.withTimeout(sub.subscribe(this.banChannel, (message) => this.banAnnounced(message)));
    } catch (err) {
      sub.onclose = null;
      sub.close();
      throw err;
    }
    if (this.closing) {
      // close() ran meanwhile: nothing would ever end this one.
      sub.onclose = null;
      sub.close();
      return;
    }
    this.subscriber = sub;
  }

  /** Ban announcements waited for (banFailure), by their number. */
  private readonly hearing = new Map<number, () => void>();

  /** Resolves once the announcement numbered `seq` was heard here, or after 250 ms (no subscription, or lost). */
  private announced(seq: number): Promise<void> {
    if (!this.subscriber || !(seq > this.heardSeq)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, 250);
      const hearing = this.hearing;
      function done() {
        clearTimeout(timer);
        hearing.delete(seq);
        resolve();
      }
      this.hearing.set(seq, done);
    });
  }

  /** The highest announcement number heard. */
  private heardSeq = 0;

  private banAnnounced(message: string): void {
    const [key, ms, repeat, seq] = message.split(" ");
    if (!key || !Number.isFinite(Number(ms))) return;
    this.heardSeq = Math.max(this.heardSeq, Number(seq));
    this.hearing.get(Number(seq))?.();
    // Announcements in a row keep the count current; a gap (missed while away) makes the heartbeat reload.
    if (Number(seq) === this.banSeq + 1) this.banSeq = Number(seq);
    this.banListener?.({ key, ms: Number(ms), repeat: Number(repeat) });
  }

  /** Every ban in force, from the store. */
  private async loadBans(): Promise<void> {
    const reply = (await this.eval(BANS_LOAD, [`${this.prefix}bans`, `${this.prefix}bans:seq`], [this.prefix])) as unknown[];
    this.banSeq = Number(reply[0]);
    this.heardSeq = Math.min(this.heardSeq, this.banSeq); // a store restarted empty counts from 1 again
    for (let i = 1; i + 2 < reply.length; i += 3) this.banListener?.({ key: String(reply[i]), ms: Number(reply[i + 1]), repeat: Number(reply[i + 2]) });
  }

  private async restateBans(): Promise<void> {
    const bans = this.banHeld?.() ?? [];
    if (bans.length === 0) return;
    const p = this.prefix;
    await this.eval(BANS_RESTATE, [`${p}bans`, `${p}bans:seq`], [p, ...bans.flatMap((b) => [b.key, Math.ceil(b.ms), b.repeat])]);
  }

  /** Heartbeat: subscribe again if the subscription was lost, and reload the bans if any was missed meanwhile. */
  private async checkBans(): Promise<void> {
    await this.subscribeBans().catch(() => {});
    const seq = Number((await this.send("GET", [`${this.prefix}bans:seq`])) ?? 0);
    // The count went back: the store restarted empty (or evicted it) and no longer knows the bans in
    // force. Without them a node started since let a banned address in (and its guesses counted
    // from 0 there) while the nodes that kept their copy refused it. Ours go back in.
    if (seq < this.banSeq) await this.restateBans();
    if (seq !== this.banSeq) await this.loadBans();
  }

  /** S3 per-key lock (s3-key-lock.ts) across every node: a lease with a token (SET NX PX). */
  async tryLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.eval(KEY_LOCK, [`${this.prefix}lock:${name}`], [token, ttlMs])) != null;
  }

  async renew(name: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.eval(KEY_RENEW, [`${this.prefix}lock:${name}`], [token, ttlMs])) === 1;
  }

  async unlock(name: string, token: string): Promise<void> {
    await this.eval(KEY_UNLOCK, [`${this.prefix}lock:${name}`], [token]);
  }

  get keyLock(): SharedKeyLock {
    return this;
  }

  userRateShare(user: string, active: boolean): void {
    if (!this.opts.shareRates) return;
    const n = Math.max(0, (this.userSessions.get(user) ?? 0) + (active ? 1 : -1));
    if (n === 0) this.userSessions.delete(user);
    else this.userSessions.set(user, n);
    // The first session here and the last one change the user's node count at once; others wait for the beat.
    if ((active && n === 1) || n === 0) void this.refreshShare(user, n > 0).catch(() => {});
  }

  private async refreshShare(user: string, active: boolean): Promise<void> {
    const reply = await this.eval(RATE_NODES, [`${this.prefix}rate:${user}`], [this.node, this.leaseTtlMs, active ? 1 : 0]);
    const nodes = Number(reply);
    if (!Number.isFinite(nodes)) return;
    if (active) this.shares.set(user, 1 / Math.max(1, nodes));
    else this.shares.delete(user);
  }

  rateShare(user: string): number {
    return this.shares.get(user) ?? 1;
  }
}
