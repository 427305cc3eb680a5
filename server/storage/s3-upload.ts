// Uploads into S3: streamed as a multipart upload with a few parts in flight (no local spooling); a
// file smaller than one part is a single PUT. Nothing is visible before commit (S3 completes an
// upload atomically), and abort leaves neither an object nor a pending multipart upload.
// APPE and REST+STOR keep the old object's first bytes by copying them server-side (UploadPartCopy,
// guarded by the old ETag), so resuming never downloads and re-uploads what is already stored.
import { StorageError, type Upload } from "./backend.ts";
import {
  abortMultipart,
  completeMultipart,
  createMultipart,
  headObject,
  META_SHA256,
  MIN_PART,
  putObject,
  putTags,
  TAG_ETAG,
  TAG_SHA256,
  uploadPart,
  uploadPartCopy,
  type CompletedPart,
  type ObjectHead,
} from "./s3-object.ts";
import { withKeys } from "./s3-key-lock.ts";
import { partBudgetOf, type PartBudget } from "./s3-part-budget.ts";
import type { S3Api } from "./s3-request.ts";

/** Part size: 8 MiB (S3's minimum is 5) up to part 5,000, then 64 MiB: ≈350 GiB per file at most. */
export const PART_SIZE = 8 * 1024 * 1024;
const BIG_PART_SIZE = 64 * 1024 * 1024;
const BIG_PART_FROM = 5000;
const MAX_PARTS = 10_000;
/** Parts uploading at once, per upload (and within the budget of its store, s3-part-budget.ts). With the one being
 * filled, a spare and the data pump's 4 MiB window (chunks that arrive while a full part waits to go
 * out are kept as they came), at most 5 parts and 4 MiB (44 MiB) are held per upload. */
export const PARTS_IN_FLIGHT = 3;
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
   * One spare at most: with the part being filled and PARTS_IN_FLIGHT sent, 5 parts per upload.
   */
  private spare: Uint8Array[] = [];
  private hasher: Bun.CryptoHasher | null = new Bun.CryptoHasher("sha256");
  private uploadId: Promise<string> | null = null;
  private nextPart = 1;
  private readonly parts: CompletedPart[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private failure: StorageError | null = null;
  /**
   * Chunks that came while the full part buffer waited to go out (PARTS_IN_FLIGHT reached, or the
   * store's budget spent), in order; the writes that queued them wait on `flushing`, so the
   * data pump's window bounds them.
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
    if (this.flushing) {
      this.overflow.push(chunk);
      return this.flushing;
    }
    const off = this.fillFrom(chunk);
    if (off === chunk.length && this.fill < this.buf.length) return;
    if (off < chunk.length) this.overflow.push(chunk.subarray(off));
    return (this.flushing = this.flush());
  }

  /** Copy `chunk` into the part buffer, sending each full one while a part may go; returns how far it got (a full buffer that must wait stops it). */
  private fillFrom(chunk: Uint8Array): number {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.buf.length - this.fill);
      this.buf.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.buf.length) {
        if (!this.maySend()) break;
        this.sendPart();
      }
    }
    return off;
  }

  /** Backpressure: send the full buffer once a part may go, then take in the chunks that waited. */
  private async flush(): Promise<void> {
    try {
      while (this.fill === this.buf.length || this.overflow.length > 0) {
        if (this.fill === this.buf.length) {
          await this.sendable();
          this.sendPart();
        }
        const next = this.overflow[0];
        if (!next) continue;
        const off = this.fillFrom(next);
        if (off < next.length) this.overflow[0] = next.subarray(off);
        else this.overflow.shift();
      }
    } finally {
      this.flushing = null;
    }
  }

  /** May a part go out now? Books its buffer in the store's budget when it may. */
  private maySend(): boolean {
    return this.inflight.size < PARTS_IN_FLIGHT && this.budget.take(this.buf.length);
  }

  /** Resolves once a part may go out (booked); throws the upload's failure, or when it is given up. */
  private async sendable(): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.stop.signal.aborted) throw new StorageError("transient", "upload given up");
      if (this.inflight.size >= PARTS_IN_FLIGHT) await Promise.race(this.inflight);
      else if (await this.budget.book(this.buf.length, this.stop.signal)) return;
    }
  }

  /** Send the buffer as the next part; its bytes were booked (maySend, sendable) and are given back when the part ends. */
  private sendPart(): void {
    const booked = this.buf.length;
    const body = this.buf.subarray(0, this.fill);
    const n = this.nextPart++;
    if (n > MAX_PARTS) {
      this.budget.give(booked);
      throw (this.failure ??= new StorageError("no-space", "file too large for the object store"));
    }
    const size = n + 1 >= BIG_PART_FROM ? BIG_PART_SIZE : PART_SIZE;
    this.buf = this.spare.find((b) => b.length === size) ?? new Uint8Array(size);
    this.spare = this.spare.filter((b) => b !== this.buf);
    this.fill = 0;
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
        // The part is sent (or failed for good): its buffer takes the next part, unless other uploads wait for room.
        if (this.spare.length < 1 && !this.budget.pressed) this.spare.push(new Uint8Array(body.buffer, body.byteOffset, body.buffer.byteLength - body.byteOffset));
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
      await this.sendable();
      this.sendPart();
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
    const { key, kind, old } = this.t;
    await this.lastParts();
    const sha256 = this.hasher?.digest("hex");
    const multipart = this.uploadId !== null;
    const size = this.t.keep + this.written;
    // The check and the completion hold the key's lock: the size replaced (what the quota settles
    // with) is the one this completion really replaced, not one another commit or DELE also counted.
    const { now, etag } = await withKeys([this.api.lockName(key)], async () => {
      // Checked just before the object appears: a concurrent change is refused, not merged.
      const now = await headObject(this.api, key);
      if (kind === "create" && now) throw new StorageError("exists");
      if ((kind === "append" || kind === "offset") && old && now?.etag !== old.etag) {
        throw new StorageError("transient", "the object changed meanwhile");
      }
      if (!multipart) {
        await putObject(this.api, key, this.buf.subarray(0, this.fill), sha256 ? { [META_SHA256]: sha256 } : {});
        return { now, etag: "" };
      }
      const etag = await completeMultipart(this.api, key, await this.uploadId!, this.parts);
      this.uploadId = null;
      return { now, etag };
    }, this.api.keyLock);
    // Metadata must be known when a multipart upload starts; the digest is known only now: a tag
    // (naming the ETag it belongs to, so a later overwrite never inherits it). Best effort.
    if (multipart && sha256 && etag) await putTags(this.api, key, { [TAG_SHA256]: sha256, [TAG_ETAG]: etag.replace(/"/g, "") }).catch(() => {});
    return size - (now?.size ?? 0);
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

/** When an abort the store did not take is sent again (the store back from a restart, an outage over). */
export const ABORT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000];
/** Aborts waiting to be sent again, at most (a long outage with many uploads must not grow without bound). */
const MAX_ABORTS_WAITING = 1000;
let abortsWaiting = 0;

/** Send AbortMultipartUpload again later, a few times, without holding the process open. */
function abortLater(api: S3Api, key: string, id: string): void {
  if (abortsWaiting >= MAX_ABORTS_WAITING) return;
  abortsWaiting++;
  const attempt = (n: number) => {
    const timer = setTimeout(() => {
      abortMultipart(api, key, id).then(
        () => abortsWaiting--,
        () => (n + 1 < ABORT_RETRY_DELAYS_MS.length ? attempt(n + 1) : abortsWaiting--),
      );
    }, ABORT_RETRY_DELAYS_MS[n]);
    (timer as { unref?: () => void }).unref?.();
  };
  attempt(0);
}
