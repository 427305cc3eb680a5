// S3 name claims held in a shared store (--workers, --state): their leases are renewed while the
// upload runs, by one timer per store for all its live claims, which stops with the last claim.
import { afterEach, expect, test } from "bun:test";
import type { SharedKeyLock } from "../../server/storage/s3-key-lock.ts";
import { renewingStores, reservedNames, S3NameClaim } from "../../server/storage/s3-name-claim.ts";

/** A store whose leases expire as a real one's do (the name is free again once the TTL passed unrenewed). */
function expiringStore() {
  const leases = new Map<string, { token: string; until: number }>();
  const live = (name: string) => {
    const l = leases.get(name);
    return l && l.until > Date.now() ? l : undefined;
  };
  let renews = 0;
  const store: SharedKeyLock = {
    async tryLock(name, token, ttlMs) {
      if (live(name)) return false;
      leases.set(name, { token, until: Date.now() + ttlMs });
      return true;
    },
    async renew(name, token, ttlMs) {
      const l = live(name);
      if (l?.token !== token) return false;
      renews++;
      l.until = Date.now() + ttlMs;
      return true;
    },
    async unlock(name, token) {
      if (leases.get(name)?.token === token) leases.delete(name);
    },
  };
  return { store, renews: () => renews, held: (name: string) => live(`new-name\n${name}`) !== undefined };
}

const timing = { leaseMs: 150, renewMs: 40 };
const realSetInterval = globalThis.setInterval;
const realClearInterval = globalThis.clearInterval;
afterEach(() => {
  globalThis.setInterval = realSetInterval;
  globalThis.clearInterval = realClearInterval;
});

test("a claim held past its lease's TTL is still held in the store (renewed), and free once it ends", async () => {
  const s = expiringStore();
  const claim = await S3NameClaim.take("b/STOU.1", s.store, timing);
  const end = claim.start();
  await Bun.sleep(timing.leaseMs * 3);
  expect(s.held("b/STOU.1")).toBe(true);
  expect(s.renews()).toBeGreaterThan(0);
  // Another process asking for the name is refused while the claim lives.
  expect(await s.store.tryLock("new-name\nb/STOU.1", "other", timing.leaseMs)).toBe(false);
  end();
  await Bun.sleep(0);
  expect(s.held("b/STOU.1")).toBe(false);
  expect(reservedNames()).toBe(0);
  expect(renewingStores()).toBe(0);
}, 5000);

test("three live claims in one store share one renewal timer, cleared when the last ends", async () => {
  const started: unknown[] = [];
  const cleared: unknown[] = [];
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    const t = realSetInterval(...args);
    started.push(t);
    return t;
  }) as typeof setInterval;
  globalThis.clearInterval = ((t: Parameters<typeof clearInterval>[0]) => {
    cleared.push(t);
    realClearInterval(t);
  }) as typeof clearInterval;
  const s = expiringStore();
  const claims = await Promise.all(["x/a", "x/b", "x/c"].map((n) => S3NameClaim.take(n, s.store, timing)));
  expect(started.length).toBe(1);
  expect(renewingStores()).toBe(1);
  await Bun.sleep(timing.leaseMs * 2);
  for (const n of ["x/a", "x/b", "x/c"]) expect(s.held(n)).toBe(true);
  claims[0]!.release();
  claims[1]!.release();
  expect(cleared).toEqual([]); // one claim still lives
  claims[2]!.release();
  expect(cleared).toEqual(started);
  expect(renewingStores()).toBe(0);
  expect(reservedNames()).toBe(0);
}, 5000);

test("a claim without a shared store starts no timer", async () => {
  const claim = await S3NameClaim.take("local/only", null, timing);
  expect(renewingStores()).toBe(0);
  claim.release();
  expect(reservedNames()).toBe(0);
});
