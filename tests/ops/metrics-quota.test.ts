// ftpkit_quota_used_bytes / ftpkit_quota_limit_bytes: the largest users by name, the rest summed as
// user="_other", and never two series with one label set (Prometheus refuses a duplicate sample).
import { expect, test } from "bun:test";
import type { ServerContext } from "../../server/context.ts";
import { Metrics, QUOTA_USERS_SHOWN } from "../../server/ops/metrics.ts";
import { HashCache } from "../../server/data/hash-cache.ts";

/** Metrics over sessions of these users (one each), as their quota ledgers say. */
function metricsFor(users: Array<{ name: string; used: number; limit: number }>): Metrics {
  const sessions = new Set(users.map((u) => ({ user: { name: u.name }, mounts: [{ ledger: { used: u.used, limit: u.limit } }] })));
  const ctx = { sessions, hashCache: new HashCache() } as unknown as ServerContext;
  return new Metrics(() => ctx, { activeBans: () => 0, hookQueue: () => 0 });
}

/** The samples of one metric: label text → value. Throws on a label set seen twice. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const [series, value] = [line.slice(0, line.lastIndexOf(" ")), Number(line.slice(line.lastIndexOf(" ") + 1))];
    if (out.has(series)) throw new Error(`duplicate sample: ${series}`);
    out.set(series, value);
  }
  return out;
}

test("a user named _other among more users than are shown: one _other series, summing it with the rest", () => {
  // _other uses the most, so it would be the first shown by name; 5 more users than are shown.
  const users = [{ name: "_other", used: 1_000_000, limit: 0 }];
  for (let i = 0; i < QUOTA_USERS_SHOWN + 5; i++) users.push({ name: `u${i}`, used: 1000 + i, limit: 10 });
  const text = metricsFor(users).registry.render();
  const used = samples(text, "ftpkit_quota_used_bytes");
  const limit = samples(text, "ftpkit_quota_limit_bytes");
  expect(used.size).toBe(QUOTA_USERS_SHOWN + 1);
  // Shown by name: the 50 largest of the others (u5 to u54); summed: _other itself and u0 to u4.
  expect(used.get('ftpkit_quota_used_bytes{user="_other"}')).toBe(1_000_000 + 1000 + 1001 + 1002 + 1003 + 1004);
  expect(limit.get('ftpkit_quota_limit_bytes{user="_other"}')).toBe(0); // _other itself is unlimited
  expect(used.get('ftpkit_quota_used_bytes{user="u5"}')).toBe(1005);
  expect(used.has('ftpkit_quota_used_bytes{user="u4"}')).toBe(false);
});

test("a user named _other with no more users than are shown is shown by name, as any user", () => {
  const text = metricsFor([
    { name: "_other", used: 5, limit: 100 },
    { name: "alice", used: 7, limit: 0 },
  ]).registry.render();
  expect([...samples(text, "ftpkit_quota_used_bytes")]).toEqual([
    ['ftpkit_quota_used_bytes{user="alice"}', 7],
    ['ftpkit_quota_used_bytes{user="_other"}', 5],
  ]);
});

test("the rest's quota is the sum of their limits, or 0 (unlimited) when any of them is unlimited", () => {
  const users = (unlimited: boolean) => {
    const list = [];
    for (let i = 0; i < QUOTA_USERS_SHOWN; i++) list.push({ name: `big${i}`, used: 1_000_000, limit: 2_000_000 });
    // The three smallest are summed: 3,000 limited bytes, or one of them unlimited holding 900 bytes.
    list.push({ name: "a", used: 100, limit: 1000 }, { name: "b", used: 200, limit: 2000 }, { name: "c", used: 900, limit: unlimited ? 0 : 3000 });
    return samples(metricsFor(list).registry.render(), "ftpkit_quota_limit_bytes").get('ftpkit_quota_limit_bytes{user="_other"}');
  };
  expect(users(false)).toBe(6000);
  expect(users(true)).toBe(0);
});
