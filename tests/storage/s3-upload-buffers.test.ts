// An S3 upload into a store slower than its client (server/storage/s3-upload.ts): bytes that arrive
// while a full part waits to go out are copied at once (the data pump reads into one reused buffer),
// and the parts go out through the upload's own few part buffers. Against a fake store that holds
// each part a few milliseconds, so no S3 endpoint is needed.
import { expect, test } from "bun:test";
import type { Upload } from "../../server/storage/backend.ts";
import type { S3Api } from "../../server/storage/s3-request.ts";
import { partBudgetOf } from "../../server/storage/s3-part-budget.ts";
import { openS3Upload, PART_SIZE, PARTS_IN_FLIGHT } from "../../server/storage/s3-upload.ts";

const MiB = 1024 * 1024;

interface Req {
  method: string;
  key: string;
  query?: Record<string, string>;
  body?: Uint8Array | string;
}

/** A store that answers a multipart upload, holding each part until `holdMs` after the last one came (parts land together). */
function slowStore(holdMs: number, endpoint = `http://fake-${crypto.randomUUID()}.invalid`) {
  const parts = new Map<number, Uint8Array>();
  const buffers = new Set<ArrayBufferLike>();
  let held: Array<() => void> = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const release = () => {
    timer = null;
    for (const done of held.splice(0)) done();
  };
  const api = {
    settings: { endpoint },
    bucket: "b",
    keyLock: null,
    lockName: (key: string) => `fake\n${key}`,
    async send(req: Req): Promise<Response> {
      const q = req.query ?? {};
      if (req.method === "HEAD") return new Response(null, { status: 404 });
      // The commit's check that no directory of the key's name appeared meanwhile: none here.
      if (req.method === "GET") return new Response("<ListBucketResult></ListBucketResult>");
      if (req.method === "POST" && "uploads" in q) return new Response("<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>");
      if (req.method === "POST") return new Response('<CompleteMultipartUploadResult><ETag>"e"</ETag></CompleteMultipartUploadResult>');
      if (req.method === "PUT" && q.partNumber) {
        const body = req.body as Uint8Array;
        parts.set(Number(q.partNumber), body.slice());
        buffers.add(body.buffer);
        await new Promise<void>((r) => {
          held.push(r);
          if (timer) clearTimeout(timer);
          timer = setTimeout(release, holdMs);
        });
        // What the store received is what the part buffer held when it was sent: it must not change meanwhile.
        expect(Buffer.from(body).equals(Buffer.from(parts.get(Number(q.partNumber))!))).toBe(true);
        return new Response(null, { headers: { etag: `"p${q.partNumber}"` } });
      }
      return new Response(null);
    },
  };
  const stored = () => Buffer.concat([...parts.keys()].sort((a, b) => a - b).map((n) => parts.get(n)!));
  return { api: api as unknown as S3Api, buffers, stored };
}

const byteAt = (p: number) => (p * 31 + (p >>> 13)) & 255;

/** Write `total` bytes in `chunk`-sized pieces from ONE reused buffer, as the data pump does; waits on the writes once `window` bytes are pending. */
async function pump(up: Upload, total: number, chunk: number, window: number): Promise<void> {
  const buf = new Uint8Array(chunk);
  let pending = 0;
  let waits: Array<void | Promise<void>> = [];
  for (let at = 0; at < total; at += chunk) {
    const n = Math.min(chunk, total - at);
    for (let i = 0; i < n; i++) buf[i] = byteAt(at + i);
    const w = up.write(buf.subarray(0, n));
    if (!w) continue;
    pending += n;
    waits.push(w);
    if (pending > window) {
      await Promise.all(waits);
      waits = [];
      pending = 0;
    }
  }
  await Promise.all(waits);
}

function expected(total: number): Buffer {
  const b = Buffer.alloc(total);
  for (let p = 0; p < total; p++) b[p] = byteAt(p);
  return b;
}

test("an upload whose part is full still stores every byte in order when its writer reuses one buffer", async () => {
  const store = slowStore(5);
  const total = 6 * PART_SIZE + 12345;
  const up = await openS3Upload(store.api, { key: "k", kind: "create", old: null, keep: 0 });
  // A window bigger than a part: bytes also arrive while the waiting part AND the next are full.
  await pump(up, total, 256 * 1024 + 7, 20 * MiB);
  expect(await up.commit()).toBe(total);
  expect(store.stored().equals(expected(total))).toBe(true);
}, 30_000);

test("parts that land together go out again through the upload's own buffers: at most 5 of 8 MiB for 16 parts", async () => {
  const store = slowStore(5);
  const total = 16 * PART_SIZE;
  const up = await openS3Upload(store.api, { key: "k", kind: "create", old: null, keep: 0 });
  await pump(up, total, 512 * 1024, 4 * MiB);
  expect(await up.commit()).toBe(total);
  expect(store.stored().equals(expected(total))).toBe(true);
  // Each buffer dropped and made anew stayed in memory until a GC: 60–95 MiB per upload instead of 40.
  expect(store.buffers.size).toBeLessThanOrEqual(PARTS_IN_FLIGHT + 2);
}, 30_000);

test("two uploads that wait for the store's room in turn (one part in flight in all) both store every byte in order", async () => {
  const endpoint = `http://fake-${crypto.randomUUID()}.invalid`;
  partBudgetOf(endpoint).limit = PART_SIZE;
  const stores = [slowStore(3, endpoint), slowStore(3, endpoint)];
  const total = 5 * PART_SIZE + 999;
  const ups = await Promise.all(stores.map((s) => openS3Upload(s.api, { key: "k", kind: "create", old: null, keep: 0 })));
  await Promise.all(ups.map((up) => pump(up, total, 128 * 1024 + 3, 4 * MiB)));
  for (const up of ups) expect(await up.commit()).toBe(total);
  for (const s of stores) expect(s.stored().equals(expected(total))).toBe(true);
}, 30_000);
