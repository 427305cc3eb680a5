// The store for `--workers` without --state: the primary process keeps it in memory and runs, in
// TypeScript, the same operations RedisState sends to Redis as Lua scripts (scripts.ts), one at a
// time (so each is atomic, as in Redis). Workers reach it over their IPC channel (ipc-client.ts);
// what a script publishes (a ban) the primary passes on to every worker over the same channels.
import * as S from "./scripts.ts";
import { S3_LOCK_IMPLS } from "./memory-s3-locks.ts";

type Args = string[];
/** One script's operation on the store (its KEYS and ARGV as Redis would pass them). */
export type Impl = (store: MemoryStore, keys: string[], argv: Args) => unknown;

const num = (s: string | undefined) => Number(s ?? 0);

const IMPLS: Array<[string, Impl]> = [
  ...S3_LOCK_IMPLS,
  [
    S.LEASE,
    (db, [usedKey, leasesKey, , measureKey], [node, limit, want, min, holdArg, ttl, keep]) => {
      const now = performance.now();
      const leases = db.hash(leasesKey!);
      let others = 0;
      let dead = 0;
      for (const [n, v] of [...leases]) {
        if (n === node || n === S.DEAD_MARK) continue;
        const [b, exp] = v.split(":").map(Number) as [number, number];
        if (exp < now) {
          leases.delete(n);
          dead += b;
        } else others += b;
      }
      let hold = num(holdArg);
      if ((dead > 0 || leases.has(S.DEAD_MARK)) && others === 0 && hold === 0) {
        db.del(usedKey!);
        leases.delete(S.DEAD_MARK);
        return [-1, 0, 0];
      }
      const usedText = db.get(usedKey!);
      if (usedText === undefined) return [-1, 0, 0];
      const used = Number(usedText) + dead;
      if (dead > 0) {
        db.set(usedKey!, String(used));
        leases.set(S.DEAD_MARK, "1");
      }
      const free = num(limit) - Math.max(0, used) - others - hold;
      const grant = free >= num(min) ? Math.min(num(want), free) : 0;
      hold += grant;
      if (hold > 0) leases.set(node!, `${hold}:${now + num(ttl)}`);
      else leases.delete(node!);
      db.expire(usedKey!, num(keep));
      db.expire(leasesKey!, num(keep));
      if (!measureKey) return [grant, Math.max(0, used), others];
      db.expire(measureKey, num(keep));
      return [grant, Math.max(0, used), others, db.get(measureKey) ?? ""];
    },
  ],
  [
    S.SETTLE,
    (db, [usedKey, leasesKey, , appliedKey, measureKey], [node, delta, holdArg, ttl, keep, seqArg, recount]) => {
      // A batch resent after its answer was lost is not applied again: see SETTLE in scripts.ts.
      const seq = num(seqArg ?? "0");
      let fresh = true;
      if (seq > 0 && appliedKey) {
        if (seq <= num(db.get(appliedKey) ?? "0")) fresh = false;
        else db.set(appliedKey, String(seq), num(keep));
      }
      const usedText = db.get(usedKey!);
      let u = -1;
      if (usedText !== undefined) {
        // Kept exact, below 0 too: see SETTLE in scripts.ts.
        const sum = Number(usedText) + (fresh ? num(delta) : 0);
        if (fresh) db.set(usedKey!, String(sum), num(keep));
        u = Math.max(0, sum);
        if (recount === "1") db.hash(leasesKey!).set(S.DEAD_MARK, "1");
      }
      const measure = measureKey ? (db.get(measureKey) ?? "") : "";
      if (measureKey && usedText !== undefined) db.expire(measureKey, num(keep));
      const hold = num(holdArg);
      const leases = db.hash(leasesKey!);
      if (hold > 0) leases.set(node!, `${hold}:${performance.now() + num(ttl)}`);
      else leases.delete(node!);
      db.expire(leasesKey!, num(keep));
      // A crashed node's lease counted whole (LEASE): measure again once nobody holds anything.
      if (hold === 0 && leases.has(S.DEAD_MARK)) {
        const now = performance.now();
        const live = [...leases].some(([n, v]) => n !== S.DEAD_MARK && Number(v.split(":")[1]) >= now);
        if (!live) {
          db.del(usedKey!);
          leases.delete(S.DEAD_MARK);
          u = -1;
        }
      }
      return measureKey ? [u, measure] : u;
    },
  ],
  [
    S.CONN_OPEN,
    (db, [nodesKey], [node, ip, maxConn, maxPerIp, ttl, prefix]) => {
      const now = performance.now();
      const nodes = db.zset(nodesKey!);
      nodes.set(node!, now + num(ttl));
      for (const [n, exp] of [...nodes]) {
        if (exp <= now) {
          db.del(`${prefix}conns:${n}`);
          nodes.delete(n);
        }
      }
      let total = 0;
      let fromIp = 0;
      for (const n of nodes.keys()) {
        const h = db.hash(`${prefix}conns:${n}`);
        total += num(h.get("total"));
        fromIp += num(h.get(`ip:${ip}`));
      }
      if (total >= num(maxConn)) return 1;
      if (fromIp >= num(maxPerIp)) return 2;
      const mine = db.hash(`${prefix}conns:${node}`);
      mine.set("total", String(num(mine.get("total")) + 1));
      mine.set(`ip:${ip}`, String(num(mine.get(`ip:${ip}`)) + 1));
      return 0;
    },
  ],
  [
    S.CONN_CLOSE,
    (db, [key], [field]) => {
      const h = db.hash(key!);
      const total = num(h.get("total"));
      if (total > 0) h.set("total", String(total - 1));
      const n = num(h.get(field!)) - 1;
      if (n <= 0) h.delete(field!);
      else h.set(field!, String(n));
      return 0;
    },
  ],
  [
    S.NODE_SYNC,
    (db, [nodesKey, mineKey], [node, ttl, ...fields]) => {
      db.zset(nodesKey!).set(node!, performance.now() + num(ttl));
      db.del(mineKey!);
      const h = db.hash(mineKey!);
      for (let i = 0; i + 1 < fields.length; i += 2) h.set(fields[i]!, fields[i + 1]!);
      return 0;
    },
  ],
  [
    S.NODE_ALIVE,
    (db, [nodesKey], [node, ttl]) => {
      db.zset(nodesKey!).set(node!, performance.now() + num(ttl));
      return 0;
    },
  ],
  [
    S.FAIL,
    (db, [key], [windowMs]) => {
      const n = num(db.get(key!)) + 1;
      db.set(key!, String(n), num(windowMs));
      return n - 1;
    },
  ],
  [
    S.RATE_NODES,
    (db, [key, indexKey], [node, ttl, active]) => {
      const now = performance.now();
      const z = db.zset(key!);
      for (const [n, exp] of [...z]) if (exp <= now) z.delete(n);
      if (active === "1") {
        z.set(node!, now + num(ttl));
        if (indexKey) {
          db.hash(indexKey).set(key!, "1");
          db.expire(indexKey, num(ttl));
        }
      } else {
        z.delete(node!);
        if (indexKey) db.hash(indexKey).delete(key!);
      }
      db.expire(key!, num(ttl));
      return z.size;
    },
  ],
  [
    S.BAN_FAIL,
    (db, [failsKey, banKey, indexKey, seqKey], [banAfter, windowMs, banMs, maxMs, member, channel, key]) => {
      const now = performance.now();
      const [till, bans] = (db.get(banKey!) ?? "0:0").split(":").map(Number) as [number, number];
      if (till > now) return [2, till - now, bans, 0];
      const fails = db.zset(failsKey!);
      for (const [m, t] of [...fails]) if (t <= now - num(windowMs)) fails.delete(m);
      fails.set(member!, now);
      db.expire(failsKey!, num(windowMs));
      const n = fails.size;
      if (n < num(banAfter)) return [0, 0, bans, n];
      db.del(failsKey!);
      const ms = Math.floor(Math.min(num(banMs) * 2 ** Math.min(bans, 40), num(maxMs)));
      db.set(banKey!, `${now + ms}:${bans + 1}`, ms + num(maxMs));
      const index = db.zset(indexKey!);
      for (const [k, t] of [...index]) if (t <= now) index.delete(k);
      index.set(key!, now + ms);
      const seq = num(db.get(seqKey!)) + 1;
      db.set(seqKey!, String(seq));
      db.publish(channel!, `${key} ${ms} ${bans + 1} ${seq}`);
      return [1, ms, bans + 1, n, seq];
    },
  ],
  [
    S.BANS_LOAD,
    (db, [indexKey, seqKey], [prefix]) => {
      const now = performance.now();
      const out: Array<string | number> = [num(db.get(seqKey!))];
      const index = db.zset(indexKey!);
      for (const [k, t] of [...index]) {
        if (t <= now) {
          index.delete(k);
          continue;
        }
        const v = db.get(`${prefix}ban:${k}`);
        if (!v) continue;
        const [till, bans] = v.split(":").map(Number) as [number, number];
        if (till > now) out.push(k, till - now, bans);
      }
      return out;
    },
  ],
  [
    S.BANS_RESTATE,
    (db, [indexKey, seqKey], [prefix, ...bans]) => {
      const now = performance.now();
      const index = db.zset(indexKey!);
      for (let i = 0; i + 2 < bans.length; i += 3) {
        const [k, ms, repeat] = [bans[i]!, num(bans[i + 1]), num(bans[i + 2])];
        const key = `${prefix}ban:${k}`;
        const [till, before] = (db.get(key) ?? "0:0").split(":").map(Number) as [number, number];
        if (till > now) continue;
        db.set(key, `${now + ms}:${Math.max(before, repeat)}`, Math.max(ms, db.ttlLeft(key)));
        index.set(k, now + ms);
      }
      const seq = num(db.get(seqKey!)) + 1;
      db.set(seqKey!, String(seq));
      return seq;
    },
  ],
  [
    S.SET_USED,
    (db, [key, measureKey], [bytes, keep, measure]) => {
      if (db.get(key!) !== undefined) return null;
      db.set(key!, bytes!, num(keep));
      if (measureKey) db.set(measureKey, measure ?? "", num(keep));
      return "OK";
    },
  ],
  [
    S.NODE_GONE,
    (db, _keys, [prefix]) => {
      db.nodeGone(prefix!);
      return 0;
    },
  ],
];

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
