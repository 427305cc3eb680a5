// The store for `--workers` without --state: the primary process keeps it in memory and runs, in
// TypeScript, the same operations RedisState sends to Redis as Lua scripts (scripts.ts), one at a
// time (so each is atomic, as in Redis). Workers reach it over their IPC channel (ipc-client.ts);
// what a script publishes (a ban) the primary passes on to every worker over the same channels.
import { IMPLS } from "./memory-scripts.ts";

type Args = string[];
/** One script's operation on the store (its KEYS and ARGV as Redis would pass them). */
export type Impl = (store: MemoryStore, keys: string[], argv: Args) => unknown;

const BY_TEXT = new Map(IMPLS);
const BY_SHA = new Map(IMPLS.map(([text, impl]) => [new Bun.CryptoHasher("sha1").update(text).digest("hex"), impl]));

/**
 * Strings, hashes and sorted sets (as maps) with per-key expiry: just what the scripts use. Times are
 * this process's monotonic clock (they never leave it: scripts answer with durations), so a step of
 * the wall clock neither expires every node's connection table and quota leases at once nor keeps them.
 */
export class MemoryStore {
  private values = new Map<string, string | Map<string, string> | Map<string, number>>();
  private expiry = new Map<string, number>();
  private sweeps = 0;
  private readonly listeners = new Set<(channel: string, message: string) => void>();

  /** Hear every PUBLISH (the --workers primary passes them on to each worker over IPC). */
  subscribe(listener: (channel: string, message: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** As Redis's PUBLISH inside a script: every listener hears it before the script's answer goes out. */
  publish(channel: string, message: string): void {
    for (const l of this.listeners) l(channel, message);
  }

  /**
   * The nodes whose id starts with `prefix` (RedisState's `host:pid:tag`, node-id.ts) are gone: the primary saw that
   * worker exit. Their quota leases and their place in the node table end now, and the next LEASE
   * and CONN_OPEN treat them as a dead node's, as they do past --state-ttl. Until then SITE QUOTA on
   * the other workers left out the bytes the dead one's upload had put on disk, and its sessions'
   * connection slots stayed taken (with --max-connections 1, every newcomer got 421 for 15 s).
   * They also leave the users' --max-user-rate sets, so the survivors' shares grow at their next beat.
   */
  nodeGone(prefix: string): void {
    for (const [key, value] of this.values) {
      if (!(value instanceof Map) || !this.live(key)) continue;
      const rated = /node-rates:(.*)$/.exec(key)?.[1];
      if (rated !== undefined) {
        // The node's index of the users' --max-user-rate sets it is in (RATE_NODES): it leaves them.
        if (!rated.startsWith(prefix)) continue;
        for (const rateKey of value.keys()) {
          const z = this.values.get(rateKey);
          if (z instanceof Map) z.delete(rated);
        }
        this.del(key);
      } else if (key.endsWith(":leases")) {
        const leases = value as Map<string, string>;
        for (const [node, lease] of leases) if (node.startsWith(prefix)) leases.set(node, `${lease.split(":")[0]}:0`);
      } else if (key.endsWith("nodes")) {
        const nodes = value as Map<string, number>;
        for (const node of nodes.keys()) if (node.startsWith(prefix)) nodes.set(node, 0);
      } else if (key.endsWith(`locks-of:${prefix}`)) {
        // The S3 key locks it held (KEY_LOCK's index): each given back if still under its token.
        for (const [lock, token] of value as Map<string, string>) if (this.get(lock) === token) this.del(lock);
        this.del(key);
      }
    }
  }

  /** Run one command as Redis would answer it (EVALSHA/EVAL of our scripts, PING, DEL, ZREM). */
  exec(command: string, args: Args): unknown {
    // Expired keys are also dropped now and then, so keys nobody reads again do not pile up.
    if (++this.sweeps % 10_000 === 0) this.sweep();
    switch (command) {
      case "PING":
        return "PONG";
      case "GET":
        return this.get(args[0]!) ?? null;
      case "DEL":
        for (const k of args) this.del(k);
        return args.length;
      case "ZREM":
        this.zset(args[0]!).delete(args[1]!);
        return 1;
      case "EVAL":
      case "EVALSHA": {
        const [script, n, ...rest] = args;
        const impl = command === "EVAL" ? BY_TEXT.get(script!) : BY_SHA.get(script!);
        if (!impl) throw new Error("NOSCRIPT no such script in the memory store");
        const k = Number(n);
        return impl(this, rest.slice(0, k), rest.slice(k));
      }
      default:
        throw new Error(`ERR unknown command ${command}`);
    }
  }

  private live(key: string): boolean {
    const exp = this.expiry.get(key);
    if (exp !== undefined && exp <= performance.now()) {
      this.del(key);
      return false;
    }
    return this.values.has(key);
  }

  get(key: string): string | undefined {
    return this.live(key) ? (this.values.get(key) as string) : undefined;
  }

  /** Milliseconds `key` has left (Redis's PTTL), 0 when it has no expiry or is gone. */
  ttlLeft(key: string): number {
    const exp = this.live(key) ? this.expiry.get(key) : undefined;
    return exp === undefined ? 0 : Math.max(0, exp - performance.now());
  }

  set(key: string, value: string, ttlMs?: number): void {
    this.values.set(key, value);
    if (ttlMs) this.expiry.set(key, performance.now() + ttlMs);
    else this.expiry.delete(key);
  }

  hash(key: string): Map<string, string> {
    if (!this.live(key)) this.values.set(key, new Map<string, string>());
    return this.values.get(key) as Map<string, string>;
  }

  zset(key: string): Map<string, number> {
    if (!this.live(key)) this.values.set(key, new Map<string, number>());
    return this.values.get(key) as Map<string, number>;
  }

  /** Make `key` last at least `ttlMs` more (an index of entries that live that long). */
  keep(key: string, ttlMs: number): void {
    const exp = this.expiry.get(key);
    if (this.values.has(key) && (exp === undefined || exp < performance.now() + ttlMs)) this.expiry.set(key, performance.now() + ttlMs);
  }

  expire(key: string, ttlMs: number): void {
    if (this.values.has(key)) this.expiry.set(key, performance.now() + ttlMs);
  }

  del(key: string): void {
    this.values.delete(key);
    this.expiry.delete(key);
  }

  private sweep(): void {
    const now = performance.now();
    for (const [k, exp] of this.expiry) if (exp <= now) this.del(k);
  }
}

/** A StoreClient on a MemoryStore in this process (tests; the primary itself does not serve). */
export function memoryClient(store: MemoryStore) {
  return () => ({
    onclose: null as ((error: Error) => void) | null,
    async connect() {},
    async send(command: string, args: string[]) {
      return store.exec(command, args);
    },
    unsubscribe: null as (() => void) | null,
    async subscribe(channel: string, listener: (message: string, channel: string) => void) {
      this.unsubscribe = store.subscribe((c, m) => c === channel && listener(m, c));
    },
    close() {
      this.unsubscribe?.();
    },
  });
}
