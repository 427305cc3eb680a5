// The HASH result cache: bounded by entries and by bytes, keys included.
import { expect, test } from "bun:test";
import { HashCache } from "../../server/data/hash-cache.ts";
import type { EntryStat } from "../../server/storage/backend.ts";

const st = { type: "file", size: 1 << 30, mtime: new Date(0), version: "2049:123456:1073741824:1733450000000000000:1733450000000000000" } as EntryStat;
const HEX = "ab".repeat(32);

test("10,000 HASH RANG of one 4 KiB path keep at most 16 MiB of entries, the newest answered, the oldest dropped", () => {
  const place = "m1/" + Array.from({ length: 16 }, () => "a".repeat(250)).join("/");
  const cache = new HashCache();
  for (let i = 0; i < 10_000; i++) cache.set(HashCache.key(place, st, "sha256", i, i + 1), HEX);
  expect(cache.held.bytes).toBeLessThanOrEqual(16 * 1024 * 1024);
  expect(cache.held.entries).toBeLessThan(10_000);
  expect(cache.get(HashCache.key(place, st, "sha256", 9_999, 10_000))).toBe(HEX);
  expect(cache.get(HashCache.key(place, st, "sha256", 0, 1))).toBeUndefined();
});

test("10,000 short entries all stay (the count is the bound there); setting a key again counts it once", () => {
  const cache = new HashCache();
  for (let i = 0; i < 10_000; i++) cache.set(HashCache.key(`m1/docs/file${i}.txt`, st, "sha256"), HEX);
  expect(cache.held.entries).toBe(10_000);
  expect(cache.get(HashCache.key("m1/docs/file0.txt", st, "sha256"))).toBe(HEX);
  const bytes = cache.held.bytes;
  const again = HashCache.key("m1/docs/file9999.txt", st, "sha256");
  cache.set(again, HEX);
  expect(cache.held).toEqual({ entries: 10_000, bytes });
  cache.set(HashCache.key("m1/docs/one-more.txt", st, "sha256"), HEX);
  expect(cache.held.entries).toBe(10_000);
  expect(cache.get(HashCache.key("m1/docs/file0.txt", st, "sha256"))).toBeUndefined();
});
