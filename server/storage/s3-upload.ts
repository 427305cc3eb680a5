// Uploads into S3: streamed as a multipart upload with a few parts in flight (no local spooling); a
// file smaller than one part is a single PUT. Nothing is visible before commit (S3 completes an
// upload atomically), and abort leaves neither an object nor a pending multipart upload.
// APPE and REST+STOR keep the old object's first bytes by copying them server-side (UploadPartCopy,
// guarded by the old ETag), so resuming never downloads and re-uploads what is already stored.
// The commit's checks under the key's lock, and an abort sent again later: s3-upload-end.ts.
import { StorageError, type Upload } from "./backend.ts";
import {
  abortMultipart,
  createMultipart,
  MIN_PART,
  uploadPart,
  uploadPartCopy,
  type CompletedPart,
  type ObjectHead,
} from "./s3-object.ts";
import { partBudgetOf, type PartBudget } from "./s3-part-budget.ts";
import type { S3Api } from "./s3-request.ts";
import { abortLater, placeObject, type Placed } from "./s3-upload-end.ts";

/** Part size: 8 MiB (S3's minimum is 5) up to part 5,000, then 64 MiB: ≈350 GiB per file at most. */
export const PART_SIZE = 8 * 1024 * 1024;
const BIG_PART_SIZE = 64 * 1024 * 1024;
const BIG_PART_FROM = 5000;
const MAX_PARTS = 10_000;
/** Parts uploading at once, per upload (and within the budget of its store, s3-part-budget.ts). With a full
 * one waiting to go out and the next being filled (the data pump's 4 MiB window lands there), or with
 * the one being filled and a spare, at most 5 parts (40 MiB) are held per upload. */
export const PARTS_IN_FLIGHT = 3;
/** Part buffers an upload holds at most: the one being filled, one full and waiting (or a spare), PARTS_IN_FLIGHT sent. */
const MAX_BUFFERS = PARTS_IN_FLIGHT + 2;
/** No buffer to fill: the waiting part's successor is not made yet (parkFull). */
const NO_BUFFER = new Uint8Array(0);
/** Above this, the old bytes kept by APPE/REST+STOR are copied server-side rather than re-sent. */
const COPY_PART = 1024 * 1024 * 1024;

export interface UploadTarget {
  key: string;
  kind: "create" | "truncate" | "append" | "offset";
  /** The object as it was when the upload opened (null: none). */
  old: ObjectHead | null;
  /** Bytes of the old object kept in front of the new ones. */
  keep: number;
  /** Called once the upload has ended (committed, aborted, or failed to start): lets its claimed name go. */
  onEnd?: () => void;
  /** The directory the key is in (none: the home's root): its marker's lock name, and whether it is still there. */
  parent?: { lock: string; exists(): Promise<boolean> };
}

/** `signal`: gives up the copy of the kept bytes (a hung-up APPE onto many GiB); the upload is then aborted. */
export async function openS3Upload(api: S3Api, t: UploadTarget, signal?: AbortSignal): Promise<Upload> {
  const up = new S3Upload(api, t);
  try {
    await up.start(signal);
  } catch (err) {
    await up.abort().catch(() => 0);
    throw err;
  }
  return up;
}

class S3Upload implements Upload {
  written = 0;
  /** Nothing is visible before CompleteMultipartUpload or the single PUT. */
  readonly inPlace = false;
  private buf: Uint8Array;
  private fill = 0;
  /**
   * Part buffers whose upload has ended, reused for the next parts: a fresh 8 MiB buffer per part
   * cost a page fault per 4 KiB written into it (with the copy, ~40 % of a STOR's server CPU).
   * Kept while the upload holds fewer than MAX_BUFFERS in all (5 parts), and none while others wait for room.
   */
  private spare: Uint8Array[] = [];
  /**
   * A full part that waits to go out (PARTS_IN_FLIGHT reached, or the store's budget spent) while
   * the next one fills. Chunks used to queue behind it as they came, in the socket's own allocations:
   * with a store slower than its clients, those (freed only by a later GC) and the queue held 60–95 MiB
   * per upload instead of 40.
   */
  private waiting: Uint8Array | null = null;
  /** `write` copies each chunk before it returns (even when the returned promise is pending): the data pump may reuse its buffer. */
  readonly copiesChunks = true;
  private hasher: Bun.CryptoHasher | null = new Bun.CryptoHasher("sha256");
  private uploadId: Promise<string> | null = null;
  private nextPart = 1;
  private readonly parts: CompletedPart[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private failure: StorageError | null = null;
  /**
   * Copies of the bytes that came while a part waited and the next was full too, in order (rare: the
   * data pump's window, 4 MiB, is smaller than a part); the writes wait on `flushing`, which also
   * bounds them.
   */
  private overflow: Uint8Array[] = [];
  private flushing: Promise<void> | null = null;
  private ended: Promise<number> | null = null;
  /** Cancels the part uploads in flight when the upload is given up. */
  private readonly stop = new AbortController();
  /** The room for parts in flight that this upload shares with every other into the same store. */
  private readonly budget: PartBudget;

  constructor(
    private readonly api: S3Api,
    private readonly t: UploadTarget,
  ) {
    this.buf = new Uint8Array(PART_SIZE);
    this.budget = partBudgetOf(api.settings.endpoint);
  }

  /**
   * Take over the kept bytes: small ones are read into the first part, big ones copied server-side,
   * up to 1 GiB per request. `signal` cancels the request in flight and sends no more: the copy of
   * many GiB went on, piece after piece, long after its client had hung up.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const { old, keep } = this.t;
    if (keep === 0 || !old) return;
    const given = () => {
      if (signal?.aborted) throw new StorageError("transient", "upload given up while opening");
    };
    if (keep < MIN_PART) {
      const res = await this.api.send({ method: "GET", key: this.t.key, headers: { range: `bytes=0-${keep - 1}`, "if-match": old.etag }, signal });
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.length !== keep) throw new StorageError("transient", "the object changed meanwhile");
      this.buf.set(bytes, 0);
      this.fill = keep;
      this.hasher!.update(bytes);
      return;
    }
    // The whole digest would need the old bytes: an object composed server-side gets none (HASH reads it).
    this.hasher = null;
    const id = await this.multipart();
    given();
    // Equal pieces: every part but the last must be at least 5 MiB, so no small tail piece.
    const pieces = Math.ceil(keep / COPY_PART);
    const step = Math.ceil(keep / pieces);
    for (let at = 0; at < keep; at += step) {
      const n = this.nextPart++;
      this.parts.push({ n, etag: await uploadPartCopy(this.api, this.t.key, id, n, this.t.key, old.etag, at, Math.min(keep, at + step), signal) });
      given();
    }
  }

  private multipart(): Promise<string> {
    this.uploadId ??= createMultipart(this.api, this.t.key, {});
    return this.uploadId;
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.ended) throw new StorageError("transient", "upload already ended");
    if (this.failure) throw this.failure;
    this.hasher?.update(chunk);
    this.written += chunk.length;
    if (this.overflow.length > 0) {
      this.overflow.push(chunk.slice());
      return this.flushing!;
    }
    const off = this.fillFrom(chunk);
    if (off < chunk.length) this.overflow.push(chunk.slice(off));
    if (this.waiting) return (this.flushing ??= this.flush());
  }

  /**
   * Copy `chunk` into the part buffer, sending each full one while a part may go, else keeping it
   * as the waiting part and filling the next; returns how far it got (stopped when both are full).
   */
  private fillFrom(chunk: Uint8Array): number {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.buf.length - this.fill);
      this.buf.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.buf.length) {
        if (this.waiting) break;
        this.parkFull();
      }
    }
    return off;
  }

  /** Backpressure: send the waiting part once a part may go, then take in the bytes that waited behind it. */
  private async flush(): Promise<void> {
    try {
      while (this.waiting) {
        await this.sendable(this.waiting.length);
        this.sendPart(this.waiting);
        this.waiting = null;
        // The part filled meanwhile may be full: it goes now or waits in turn.
        this.parkFull();
        while (this.overflow.length > 0) {
          const next = this.overflow[0]!;
          const off = this.fillFrom(next);
          if (off < next.length) {
            this.overflow[0] = next.subarray(off);
            break;
          }
          this.overflow.shift();
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  /** The buffer being filled is full and nothing waits: send it if a part may go, else it waits. */
  private parkFull(): void {
    if (this.waiting || this.fill < this.buf.length) return;
    if (this.buf === NO_BUFFER) {
      this.buf = this.nextBuffer(this.nextPart, true)!;
      return;
    }
    if (this.maySend(this.buf.length)) this.sendPart(this.buf.subarray(0, this.fill));
    else this.waiting = this.buf;
    // While other uploads wait for the store's room, a waiting part's successor is made only once it
    // is out (what comes meanwhile is copied aside, up to the pump's window): a fresh 8 MiB per
    // waiting upload held 74 MiB each with 16 uploads at 60 MB/s, against 52 before.
    const make = !this.waiting || !this.budget.pressed;
    this.buf = this.nextBuffer(this.nextPart + (this.waiting ? 1 : 0), make) ?? NO_BUFFER;
    this.fill = 0;
  }

  /** The buffer for part `n`: a spare of its size, else a new one if `make`. */
  private nextBuffer(n: number, make: boolean): Uint8Array | null {
    const size = n >= BIG_PART_FROM ? BIG_PART_SIZE : PART_SIZE;
    const buf = this.spare.find((b) => b.length === size) ?? (make ? new Uint8Array(size) : null);
    this.spare = this.spare.filter((b) => b !== buf);
    return buf;
  }

  /** May a part of `bytes` go out now? Books them in the store's budget when it may. */
  private maySend(bytes: number): boolean {
    return this.inflight.size < PARTS_IN_FLIGHT && this.budget.take(bytes);
  }

  /** Resolves once a part of `bytes` may go out (booked); throws the upload's failure, or when it is given up. */
  private async sendable(bytes: number): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.stop.signal.aborted) throw new StorageError("transient", "upload given up");
      if (this.inflight.size >= PARTS_IN_FLIGHT) await Promise.race(this.inflight);
      else if (await this.budget.book(bytes, this.stop.signal)) return;
    }
  }

  /** Send `body` as the next part; its buffer's bytes were booked (maySend, sendable) and are given back when the part ends. */
  private sendPart(body: Uint8Array): void {
    const booked = body.buffer.byteLength;
    const n = this.nextPart++;
    if (n > MAX_PARTS) {
      this.budget.give(booked);
      throw (this.failure ??= new StorageError("no-space", "file too large for the object store"));
    }
    const p: Promise<void> = (async () => {
      const id = await this.multipart();
      this.parts.push({ n, etag: await uploadPart(this.api, this.t.key, id, n, body, this.stop.signal) });
    })()
      .catch((err) => {
        this.failure ??= err instanceof StorageError ? err : new StorageError("transient", "part upload failed");
      })
      .finally(() => {
        this.inflight.delete(p);
        this.budget.give(booked);
        // The part is sent (or failed for good): its buffer takes a next part, unless other uploads wait
        // for room. Kept while this upload holds fewer than MAX_BUFFERS: with one spare at most, two parts
        // ending close together let the second's 8 MiB go, and a new one was made soon after (garbage
        // until a GC, 45 of 85 buffers in 8 s with 8 uploads into a slow store).
        const held = 1 + (this.waiting ? 1 : 0) + this.inflight.size + this.spare.length;
        if (held < MAX_BUFFERS && !this.budget.pressed) this.spare.push(new Uint8Array(body.buffer, body.byteOffset, body.buffer.byteLength - body.byteOffset));
      });
    this.inflight.add(p);
  }

  /** Send the last part of a multipart upload and let every part land (a small file waits for commit's PUT). */
  seal(): Promise<void> {
    if (this.ended) throw new StorageError("transient", "upload already ended");
    return this.lastParts();
  }

  private async lastParts(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.uploadId !== null && (this.fill > 0 || this.parts.length + this.inflight.size === 0)) {
      await this.sendable(this.buf.length);
      this.sendPart(this.buf.subarray(0, this.fill));
      this.buf = this.nextBuffer(this.nextPart, true)!;
      this.fill = 0;
    }
    await this.settle();
    if (this.failure) throw this.failure;
  }

  private async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all(this.inflight);
  }

  commit(): Promise<number> {
    return this.once(async () => {
      try {
        return await this.finish();
      } catch (err) {
        await this.cancel();
        throw err;
      }
    });
  }

  abort(): Promise<number> {
    return this.once(async () => {
      await this.cancel();
      return 0;
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.ended) await this.abort().catch(() => 0);
  }

  private once(end: () => Promise<number>): Promise<number> {
    if (this.ended) throw new StorageError("transient", "upload already ended");
    this.ended = end().finally(() => this.t.onEnd?.());
    return this.ended;
  }

  private async finish(): Promise<number> {
    await this.lastParts();
    const sha256 = this.hasher?.digest("hex");
    const size = this.t.keep + this.written;
    const what: Placed =
      this.uploadId === null
        ? { body: this.buf.subarray(0, this.fill) }
        : { uploadId: this.uploadId, parts: this.parts, completed: () => (this.uploadId = null) };
    return size - (await placeObject(this.api, this.t, what, sha256));
  }

  /**
   * Cancel the parts in flight, then abort the multipart upload. Waiting for them instead held an
   * aborted STOR (and its 426) for as long as a silent store took to fail them: their full deadlines.
   * A part the store had already received whole may still land after the abort (S3 keeps such
   * parts until the upload is aborted again or the bucket's lifecycle rule removes it: see README).
   */
  private async cancel(): Promise<void> {
    this.stop.abort();
    await this.flushing?.catch(() => {});
    await this.settle();
    const id = this.uploadId ? await this.uploadId.catch(() => null) : null;
    this.uploadId = null;
    // A store that does not take the abort now (unreachable, restarting) would keep the parts
    // pending, and billed, until a lifecycle rule removes them: it is asked again in the background.
    if (id) await abortMultipart(this.api, this.t.key, id).catch(() => abortLater(this.api, this.t.key, id));
  }
}
