// The connection of a node to the shared state store (Redis, Valkey, or the --workers primary's
// memory store over IPC): commands with a deadline, scripts by EVALSHA, the outage flag, and
// reconnection with back-off. What is kept in the store is the other redis-*.ts modules' concern.
import { RedisClient } from "bun";
import { diagnoseStore } from "./diagnose.ts";
import { stateUrlForLogs } from "./url.ts";

/** What RedisState needs of a connection to the store: Bun's RedisClient, or a worker's line to its primary. */
export interface StoreClient {
  connect(): Promise<void>;
  send(command: string, args: string[]): Promise<unknown>;
  close(): void;
  onclose: ((error: Error) => void) | null;
  /** Hear what is published on `channel` (Redis: a connection of its own, in subscriber mode). */
  subscribe?(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
}

export type StateLog = (event: string, fields?: Record<string, string | number | boolean | undefined>) => void;

/** What the parts of the shared state use of the store: key names and atomic scripts. */
export interface StoreContext {
  /** Key prefix, so several clusters can share one Redis. */
  readonly prefix: string;
  /**
   * What sets this cluster's publish/subscribe channels apart: keys live in the URL's database, but
   * channels are the server's, shared by every database ("" for database 0 and for no URL).
   */
  readonly channelScope: string;
  /** This node's name in the store. */
  readonly node: string;
  /** A node that stops heartbeating is forgotten after this long. */
  readonly leaseTtlMs: number;
  eval(script: string, keys: string[], args: (string | number)[]): Promise<unknown>;
  send(cmd: string, args: string[]): Promise<unknown>;
}

export interface StoreLinkOptions {
  /** redis://… (shown in errors); with `client`, only a name. */
  url: string;
  /** Another way to reach the store (--workers without --state: the primary's memory store over IPC). */
  client?: () => StoreClient;
  /** A command not answered within this is a failure (the store is unreachable). */
  timeoutMs: number;
  log: StateLog;
  /** The connection was lost: what the store holds of this node may be gone when it is back. */
  onDown: () => void;
}

export class StoreLink {
  private client: StoreClient;
  private down = false;
  /** start() reached the store: from then on a lost connection is an outage, logged. */
  private started = false;
  /**
   * The outage was logged and the store has not answered a command since. A connection alone is not
   * the store back: one that takes connections but refuses every write (OOM at maxmemory, a read-only
   * replica after a failover, NOAUTH) logged "reachable again" and "unreachable" at every heartbeat.
   */
  private outage = false;
  private reconnectAt = 0;
  private backoffMs = 250;
  private readonly shas = new Map<string, string>();

  constructor(private readonly opts: StoreLinkOptions) {
    this.client = this.connection();
  }

  /** A new connection to the store, not yet connected, that no outage is tied to (a subscriber's). */
  newClient(): StoreClient {
    // No offline queue: while the store is away, commands fail at once instead of piling up.
    return this.opts.client
      ? this.opts.client()
      : new RedisClient(this.opts.url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: this.opts.timeoutMs });
  }

  private connection(): StoreClient {
    const client = this.newClient();
    client.onclose = () => this.markDown("connection closed");
    return client;
  }

  private markDown(reason: string): void {
    if (this.down) return;
    this.down = true;
    this.opts.onDown();
    // A store not reached at start-up is the start's one error line, not an outage before it.
    if (!this.started || this.outage) return;
    this.outage = true;
    this.opts.log("state store unreachable", { reason });
  }

  reachable(): boolean {
    return !this.down;
  }

  /** Connect and PING (start-up). */
  async connect(): Promise<void> {
    await this.withTimeout(this.client.connect());
    await this.send("PING", []);
  }

  /** The start failed with `err`: close, and say why in one error (the store's address, never its password). */
  async startError(err: unknown): Promise<Error> {
    this.client.close();
    const why = (!this.opts.client && (await diagnoseStore(this.opts.url, this.opts.timeoutMs))) || (err as Error).message;
    const e = new Error(`cannot reach the state store at ${stateUrlForLogs(this.opts.url)}: ${why}`);
    e.name = "StateStartError";
    return e;
  }

  /** The start succeeded. */
  markStarted(): void {
    this.down = false;
    this.started = true;
  }

  /** Heartbeat: true when the store can be used, after reconnecting with back-off if it was lost. */
  async up(): Promise<boolean> {
    if (!this.down) return true;
    if (performance.now() < this.reconnectAt) return false;
    this.reconnectAt = performance.now() + this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5000);
    try {
      this.client.close();
      this.client = this.connection();
      await this.withTimeout(this.client.connect());
      this.down = false;
      this.backoffMs = 250;
      this.diagnosed = false;
      return true;
    } catch {
      // Once an outage: why the store still refuses us, if it says (a password set since, a database
      // gone), where the log said only "connection closed" for as long as it lasted.
      if (!this.diagnosed && !this.opts.client && this.outage) {
        this.diagnosed = true;
        const why = await diagnoseStore(this.opts.url, this.opts.timeoutMs);
        if (why) this.opts.log("state store refuses to reconnect", { reason: why });
      }
      return false;
    }
  }

  /** This outage's reconnect failure was looked into (and its cause logged if the store said one). */
  private diagnosed = false;

  /** Hang up: our own, no outage (a clean stop used to log "state store unreachable"). */
  close(): void {
    this.client.onclose = null;
    this.down = true;
    this.client.close();
  }

  withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout>;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async send(cmd: string, args: string[]): Promise<unknown> {
    if (this.down) throw new Error("state store unreachable");
    try {
      const reply = await this.withTimeout(this.client.send(cmd, args));
      // Not a reply sent before the outage and answered after it was logged: the link is still down
      // (new clients get 421) until the heartbeat reconnects, and the store may stay away.
      if (this.outage && !this.down) {
        this.outage = false;
        this.opts.log("state store reachable again", {});
      }
      return reply;
    } catch (err) {
      if (!/ERR|WRONGTYPE|NOSCRIPT/.test((err as Error).message)) this.markDown((err as Error).message);
      throw err;
    }
  }

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
}
