// A QuotaUpload hands chunks to storage in the order they arrived, also when a shared ledger
// (Redis, --workers) answers admissions later (a promise) several times in a row.
import { expect, test } from "bun:test";
import type { Upload } from "../../server/storage/backend.ts";
import type { Reservation } from "../../server/vfs/quota.ts";
import { QuotaUpload } from "../../server/vfs/upload.ts";

function recordingUpload(): Upload & { got: number[] } {
  const got: number[] = [];
  return {
    got,
    written: 0,
    inPlace: false,
    write(chunk: Uint8Array) {
      got.push(chunk[0]!);
    },
    commit: async () => 0,
    abort: async () => 0,
    async [Symbol.asyncDispose]() {},
  } as unknown as Upload & { got: number[] };
}

test("chunks reach storage in arrival order when every admission is answered later", async () => {
  const upload = recordingUpload();
  // A ledger leasing from a shared store: each admission resolves on a later turn.
  const reservation = { admit: () => Promise.resolve(true), settle() {} } as unknown as Reservation;
  const q = new QuotaUpload(upload, reservation);
  const writes: Array<void | Promise<void>> = [];
  for (let i = 0; i < 12; i++) writes.push(q.write(new Uint8Array([i])));
  await Promise.all(writes);
  expect(upload.got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
});

test("chunks reach storage in arrival order when they arrive while admissions are still being answered", async () => {
  const upload = recordingUpload();
  // As a Redis lease round trip: answered on a later macrotask, while the socket delivers more chunks.
  const reservation = { admit: () => new Promise<boolean>((r) => setTimeout(() => r(true), 2)), settle() {} } as unknown as Reservation;
  const q = new QuotaUpload(upload, reservation);
  const writes: Array<void | Promise<void>> = [];
  for (let i = 0; i < 40; i++) {
    writes.push(q.write(new Uint8Array([i])));
    await Bun.sleep(i % 3);
  }
  await Promise.all(writes);
  expect(upload.got).toEqual(Array.from({ length: 40 }, (_, i) => i));
});

test("chunks stay in order when admissions alternate between at once and later", async () => {
  const upload = recordingUpload();
  let n = 0;
  const reservation = { admit: () => (n++ % 3 === 0 ? Promise.resolve(true) : true), settle() {} } as unknown as Reservation;
  const q = new QuotaUpload(upload, reservation);
  const writes: Array<void | Promise<void>> = [];
  for (let i = 0; i < 30; i++) {
    writes.push(q.write(new Uint8Array([i])));
    if (i % 7 === 0) await Promise.resolve();
  }
  await Promise.all(writes);
  expect(upload.got).toEqual(Array.from({ length: 30 }, (_, i) => i));
});

test("an upload refused by the quota gives its reservation back at once, not after its storage abort: a concurrent upload that fits alone goes on", async () => {
  const { QuotaLedger, Reservation } = await import("../../server/vfs/quota.ts");
  const ledger = new QuotaLedger(100, 0, async () => 0);
  let aborted: () => void = () => {};
  // An S3 upload's abort: its parts cancelled, then AbortMultipartUpload, a round trip to the store.
  const slowAbort = { ...recordingUpload(), abort: () => new Promise<number>((r) => (aborted = () => r(0))) } as unknown as Upload;
  const a = new QuotaUpload(recordingUpload(), new Reservation(ledger, 0));
  const b = new QuotaUpload(slowAbort, new Reservation(ledger, 0));
  a.write(new Uint8Array(40));
  b.write(new Uint8Array(40));
  expect(() => b.write(new Uint8Array(40))).toThrow("Quota exceeded");
  const aborting = b.abort(); // the transfer ends; the store has not answered the abort yet
  // 40 + 40 fit: before, b's 40 bytes stayed booked until its abort came back, and this was refused too.
  expect(() => a.write(new Uint8Array(40))).not.toThrow();
  aborted();
  await aborting;
  expect(ledger.used).toBe(80);
});
