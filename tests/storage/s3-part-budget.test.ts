// The parts in flight of all S3 uploads of a process into one store share a memory budget (s3-part-budget.ts):
// 50 STORs into a frozen store held 1.2 GiB of part buffers, up to 3 parts of 8 MiB each and more.
// Skipped only without S3_ENDPOINT.
import { afterEach, expect, test } from "bun:test";
import type { Upload } from "../../server/storage/backend.ts";
import { S3Storage } from "../../server/storage/s3.ts";
import { PartBudget, partBudgetOf, PART_BUDGET_BYTES } from "../../server/storage/s3-part-budget.ts";
import { PART_SIZE } from "../../server/storage/s3-upload.ts";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";
import { freezableProxy } from "../helpers/proxy.ts";

let bucket: TestBucket | null = null;
/** Budgets whose limit a test lowered. */
const lowered: PartBudget[] = [];
function lower(endpoint: string, limit: number): PartBudget {
  const b = partBudgetOf(endpoint);
  b.limit = limit;
  lowered.push(b);
  return b;
}
afterEach(async () => {
  for (const b of lowered.splice(0)) b.limit = PART_BUDGET_BYTES;
  await bucket?.drop();
  bucket = null;
});

test("uploads waiting for room are booked in turn as parts land; one given up lets the next in", async () => {
  const budget = new PartBudget(16);
  expect(budget.take(8) && budget.take(8)).toBe(true);
  const order: string[] = [];
  const gaveUp = new AbortController();
  const never = new AbortController().signal;
  const a = budget.book(8, never).then((yes) => void order.push(`a ${yes}`));
  const b = budget.book(16, gaveUp.signal).then((yes) => void order.push(`b ${yes}`));
  const c = budget.book(8, never).then((yes) => void order.push(`c ${yes}`));
  // Nobody jumps the queue, even where it would fit.
  budget.give(8);
  expect(budget.take(1)).toBe(false);
  await a;
  gaveUp.abort();
  budget.give(8);
  await Promise.all([b, c]);
  expect(order).toEqual(["a true", "b false", "c true"]);
  expect(budget.inUse).toBe(16);
});

const body = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

test.skipIf(!HAVE_S3)("with room for two parts, the third and fourth uploads' full parts into a frozen store wait for it (their writes hold back), an upload into another store does not, and all store their bytes", async () => {
  bucket = await freshBucket();
  const proxy = await freezableProxy(Number(new URL(s3Settings().endpoint).port));
  const uploads: Upload[] = [];
  try {
    const endpoint = `http://127.0.0.1:${proxy.port}`;
    const budget = lower(endpoint, 2 * PART_SIZE);
    lower(s3Settings().endpoint, 2 * PART_SIZE);
    const storage = new S3Storage({ ...s3Settings(), endpoint }, { bucket: bucket.name, prefix: "p" });
    const elsewhere = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "q" });
    for (let i = 0; i < 4; i++) uploads.push(await storage.openWrite(`f${i}`, { kind: "create" }));
    // The store stops answering: no part can land, so none gives its room back.
    proxy.freeze();
    const data = [0, 1, 2, 3].map((i) => body(PART_SIZE + 1000, i));
    const writes = uploads.map((u, i) => u.write(data[i]!));
    // Before: each upload sent its full part at once (four in flight, and up to three each).
    expect(writes.map((w) => w instanceof Promise)).toEqual([false, false, true, true]);
    expect(budget.inUse).toBe(2 * PART_SIZE);
    // The same endpoint is the same store; another endpoint has room of its own (a frozen store holds its parts for minutes).
    const other = await elsewhere.openWrite("g", { kind: "create" });
    uploads.push(other);
    const otherData = body(PART_SIZE + 10, 9);
    expect(other.write(otherData)).toBeUndefined();
    await other.commit();
    uploads.pop();
    expect(sha(new Uint8Array(await bucket.api.client().file("q/g").arrayBuffer()))).toBe(sha(otherData));
    proxy.thaw();
    await Promise.all(writes);
    for (const u of uploads) await u.commit();
    uploads.length = 0;
    for (let i = 0; i < 4; i++) expect(sha(new Uint8Array(await bucket.api.client().file(`p/f${i}`).arrayBuffer()))).toBe(sha(data[i]!));
    expect(budget.inUse).toBe(0);
    expect(await bucket.pending()).toEqual([]);
  } finally {
    proxy.thaw();
    for (const u of uploads) await u.abort().catch(() => 0);
    proxy.stop();
  }
}, 60_000);

test.skipIf(!HAVE_S3)("an upload aborted while its part waits for room gives up the wait, books nothing and leaves no pending upload", async () => {
  bucket = await freshBucket();
  const budget = lower(s3Settings().endpoint, PART_SIZE);
  const storage = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "p" });
  const first = await storage.openWrite("a", { kind: "create" });
  const second = await storage.openWrite("b", { kind: "create" });
  // The second's full part waits for room the first's holds; no turn of the event loop passes before
  // the abort, so the first's part cannot land meanwhile.
  first.write(body(PART_SIZE, 1));
  const waiting = second.write(body(PART_SIZE + 10, 2));
  expect(waiting).toBeInstanceOf(Promise);
  const settled = (waiting as Promise<void>).then(() => "stored", () => "refused");
  expect(await second.abort()).toBe(0);
  expect(await settled).toBe("refused");
  await first.write(body(10, 3));
  await first.commit();
  expect(budget.inUse).toBe(0);
  expect(await bucket.keys()).toEqual(["p/a"]);
  expect(await bucket.pending()).toEqual([]);
}, 60_000);
