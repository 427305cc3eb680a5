// The scripts' operations of MemoryStore (memory-store.ts) but the S3 ones (memory-s3-locks.ts):
// quota leases and usage, connection counts, node liveness, failures, rate nodes and bans, each the
// TypeScript twin of a Lua script in scripts.ts. Apart from the store they run on: they change as
// the scripts do, the store only when the data types they use do.
import type { Impl } from "./memory-store.ts";
import * as S from "./scripts.ts";
import { S3_LOCK_IMPLS } from "./memory-s3-locks.ts";

const num = (s: string | undefined) => Number(s ?? 0);

/** Every script's operation, by the script's text. */
export const IMPLS: Array<[string, Impl]> = [
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
    S.CONN_COUNTS,
    (db, [nodesKey], [prefix, ...ips]) => {
      const now = performance.now();
      const out = ips.map(() => 0);
      for (const [n, exp] of db.zset(nodesKey!)) {
        if (exp <= now) continue;
        const h = db.hash(`${prefix}conns:${n}`);
        ips.forEach((ip, i) => (out[i]! += num(h.get(`ip:${ip}`))));
      }
      return out;
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
