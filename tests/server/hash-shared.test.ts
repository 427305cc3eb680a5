// Sessions asking HASH of the same range of the same file at once share one reading of it: the
// work counted by /metrics (ftpkit_hash_read_bytes_total) is one file's bytes, whoever leaves.
import { expect, test } from "bun:test";
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseHashReply } from "../../protocol/hash.ts";
import { HashCache } from "../../server/data/hash-cache.ts";
import { useServers } from "../helpers/server.ts";
import type { Wire } from "../helpers/wire.ts";
import { scrape, until } from "../ops/helpers.ts";

const servers = useServers();
const MiB = 1024 * 1024;
const SIZE = 4 * MiB;
const READ = "ftpkit_hash_read_bytes_total";
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/**
 * A server whose hash budget (1 MiB/s) makes one reading of the 4 MiB `big.bin` take about 4 s, and
 * a metrics listener to count the bytes HASH read.
 */
async function serveBigFile() {
  const ts = await servers.start({ options: { hashBytesPerSec: MiB, ops: { metrics: { host: "127.0.0.1", port: 0 } } } });
  const file = Buffer.alloc(SIZE, 7);
  file.set(crypto.getRandomValues(new Uint8Array(65536)), 1000);
  writeFileSync(join(ts.home("alice"), "big.bin"), file);
  const port = ts.server.ops.metricsPort!;
  const metric = async (name: string) => (await scrape(port)).get(name) ?? NaN;
  const asker = async () => {
    const w = await servers.login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    return w;
  };
  return { file, metric, asker };
}

/** `w` sent HASH, and the server counts it among the sessions waiting for a digest. */
async function asks(w: Wire, waiting: number, metric: (name: string) => Promise<number>): Promise<void> {
  w.raw("HASH big.bin\r\n");
  await until(async () => (await metric("ftpkit_hash_waiting_sessions")) >= waiting, 10_000, `${waiting} sessions waiting for the digest`);
}

test("four sessions asking HASH of one big file at once get its digest from one reading of it", async () => {
  const { file, metric, asker } = await serveBigFile();
  const wires = await Promise.all([asker(), asker(), asker(), asker()]);
  for (const w of wires) w.raw("HASH big.bin\r\n");
  const replies = await Promise.all(wires.map((w) => w.read(30_000)));
  for (const r of replies) {
    expect(r?.code).toBe(213);
    expect(parseHashReply(r!.lines[0]!)).toMatchObject({ algorithm: "SHA-256", start: 0, end: SIZE, hex: sha256(file) });
  }
  expect(await metric(READ)).toBe(SIZE);
}, 40_000);

test("a session that leaves while it waits does not stop the reading for the one still waiting", async () => {
  const { file, metric, asker } = await serveBigFile();
  const [first, second] = [await asker(), await asker()];
  await asks(first, 1, metric);
  await asks(second, 2, metric);
  first.close(); // connection lost, its HASH unanswered
  await until(async () => (await metric("ftpkit_hash_waiting_sessions")) === 1, 10_000, "the first asker gone");
  const r = await second.read(30_000);
  expect(r?.code).toBe(213);
  expect(parseHashReply(r!.lines[0]!).hex).toBe(sha256(file));
  expect(await metric(READ)).toBe(SIZE);
}, 40_000);

test("when every session waiting for a digest has left, its reading stops", async () => {
  const { metric, asker } = await serveBigFile();
  const [first, second] = [await asker(), await asker()];
  await asks(first, 1, metric);
  await asks(second, 2, metric);
  first.close();
  second.close();
  await until(async () => (await metric("ftpkit_hashes_active")) === 0, 10_000, "the reading to stop");
  expect(await metric(READ)).toBeLessThan(SIZE);
}, 40_000);

test("a file cut short while it is read fails the HASH for every session waiting, with one reply, and no digest of fewer bytes", async () => {
  const { metric, asker } = await serveBigFile();
  const [first, second] = [await asker(), await asker()];
  await asks(first, 1, metric);
  await asks(second, 2, metric);
  truncateSync(join(servers.server.home("alice"), "big.bin"), MiB);
  const [a, b] = [await first.read(30_000), await second.read(30_000)];
  expect(a?.code).toBe(451);
  expect(b).toEqual(a);
  // The file as it is now is hashed anew, not answered from the failed reading.
  const again = await first.cmd("HASH big.bin", 30_000);
  expect(again.code).toBe(213);
  expect(parseHashReply(again.lines[0]!).end).toBe(MiB);
}, 40_000);

test("a reading is stopped only once no asker waits, and a session asking after that starts a new one", async () => {
  const cache = new HashCache();
  const checks: Array<() => boolean> = [];
  const finish: Array<(hex: string) => void> = [];
  const compute = (abandoned: () => boolean) => {
    checks.push(abandoned);
    return new Promise<string>((resolve) => finish.push(resolve));
  };
  const [a, b] = [new AbortController(), new AbortController()];
  const first = cache.share("k", compute, a.signal);
  const second = cache.share("k", compute, b.signal);
  expect(checks.length).toBe(1); // joined, not started again
  a.abort();
  expect(await first.catch((e: { code: number }) => e.code)).toBe(426);
  expect(checks[0]!()).toBe(false); // the second still waits
  b.abort();
  expect(await second.catch((e: { code: number }) => e.code)).toBe(426);
  expect(checks[0]!()).toBe(true);
  const third = cache.share("k", compute);
  expect(checks.length).toBe(2);
  finish[1]!("ab");
  expect(await third).toBe("ab");
  expect(cache.hashing).toEqual({ computations: 0, askers: 0 });
});
