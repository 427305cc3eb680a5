import { FtpError } from "../../protocol/errors.ts";
import { InPlaceCommitError, type Upload } from "../storage/backend.ts";
import type { HashAlgorithm } from "../../protocol/hash.ts";
import type { Reservation } from "./quota.ts";

/** A chunk that would cross the quota: the upload stops, and nothing beyond the limit is stored. */
export class QuotaExceeded extends FtpError {
  constructor() {
    super(552, "Quota exceeded: upload aborted");
  }
}

/**
 * One upload through the virtual filesystem: the storage upload and its quota reservation, owned
 * together so they end together — exactly once, by `commit()` or by `abort()` (which disposal runs
 * unless the upload was committed). The reservation is then settled with the byte change storage
 * reports, so the ledger follows what is really stored on every path.
 */
export class QuotaUpload implements AsyncDisposable {
  private ended = false;

  constructor(
    private readonly upload: Upload,
    private readonly reservation: Reservation,
  ) {}

  get written(): number {
    return this.upload.written;
  }

  /** A shared ledger is leasing more bytes: later chunks queue behind it, so order is kept. */
  private gate: Promise<void> | null = null;
  private refused = false;

  /** Whether the last write copied its chunk before it returned (ChunkSink.copied): not one held behind a quota lease. */
  copied = false;

  /** Reserve quota for the chunk, then store it; throws QuotaExceeded before a byte over the limit is written. */
  write(chunk: Uint8Array): void | Promise<void> {
    this.copied = false;
    if (this.gate) return this.queue(this.gate.then(() => this.writeNow(chunk, true)));
    return this.writeNow(chunk, false);
  }

  /** `chained`: run behind the gate, whose own promise already holds later chunks until this one is stored. */
  private writeNow(chunk: Uint8Array, chained: boolean): void | Promise<void> {
    // Once a chunk was refused nothing after it is stored (no gap in the file).
    if (this.refused) throw new QuotaExceeded();
    const ok = this.reservation.admit(chunk.length);
    if (ok === true) {
      if (!chained) this.copied = this.upload.copiesChunks === true;
      return this.upload.write(chunk);
    }
    if (ok === false) return this.refuse();
    const later = ok.then((yes) => (yes ? this.upload.write(chunk) : this.refuse()));
    // Behind the gate, making this the gate would let a chunk arriving now overtake the ones queued
    // before it (stored swapped: two 512 KiB pieces of a file exchanged, and 226 for it).
    return chained ? later : this.queue(later);
  }

  /**
   * A chunk crossed the quota: nothing after it is stored. An upload not written in place leaves
   * nothing behind when it aborts, so its bookings go back now rather than once storage confirms the
   * abort (for S3 a round trip to the store, parts cancelled first): meanwhile a concurrent upload
   * of the same user that fits alone was refused too, and neither file was stored.
   */
  private refuse(): never {
    this.refused = true;
    if (!this.upload.inPlace) this.reservation.settle(0);
    throw new QuotaExceeded();
  }

  private queue(p: Promise<void>): Promise<void> {
    const gate = p.catch(() => {});
    this.gate = gate;
    void gate.then(() => {
      if (this.gate === gate) this.gate = null;
    });
    return p;
  }

  /** Bytes already in the target as they land: an abort keeps them (Upload.inPlace). */
  get inPlace(): boolean {
    return this.upload.inPlace;
  }

  /** Everything but making the upload visible (Upload.seal); a failure leaves the upload to abort. */
  async seal(): Promise<void> {
    await this.upload.seal?.();
  }

  /** The storage's off-thread digest of the upload, when it has one (Upload.hashAlong). */
  hashAlong(algorithm: HashAlgorithm): (() => Promise<string>) | undefined {
    return this.upload.hashAlong?.(algorithm);
  }

  /** The replaced file's rewritable bytes now (Reservation.recredit); QuotaExceeded when the upload no longer fits. */
  async recredit(credit: number): Promise<void> {
    if (!(await this.reservation.recredit(credit))) throw new QuotaExceeded();
  }

  async commit(): Promise<void> {
    this.ended = true;
    let delta = 0;
    try {
      delta = await this.upload.commit();
    } catch (err) {
      // A failed commit has already cleaned up after itself (temp file / multipart upload gone), or,
      // written in place, says what it left stored (see InPlaceCommitError).
      if (err instanceof InPlaceCommitError) delta = err.settled;
      throw err;
    } finally {
      this.reservation.settle(delta);
    }
  }

  async abort(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const delta = await this.upload.abort().catch(() => 0);
    this.reservation.settle(delta);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }
}
