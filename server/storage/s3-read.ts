// Downloads from S3: one streamed GET from the read position to the end (REST + RETR is a ranged GET),
// pulled ahead into a small queue while the data connection sends, so fetching and sending overlap.
// Memory per open file is bounded: past READ_AHEAD queued bytes the GET is paused (s3-get.ts: the
// socket stops reading, so TCP pushes back on the store) and resumed below half of it. Every GET
// carries If-Match, so a download never mixes two versions of an object (an overwrite fails it).
// A read at another position (HASH of a range, a client seeking) starts a new GET there.
import { StorageError, type ReadHandle } from "./backend.ts";
import type { ObjectHead } from "./s3-object.ts";
import { openBody, type BodySource } from "./s3-get.ts";
import { transportError, type S3Api } from "./s3-request.ts";

/**
 * Bytes pulled ahead of the reader. 2 MiB, not 8: the pieces then die young and the allocator
 * reuses warm memory (A/B, 1 GiB RETR from radosgw: server CPU 1.43–1.66 s and ~20,000 page faults
 * against 1.92–2.85 s and 32,000–54,000 with 8 MiB; 1 MiB was no better, 4 MiB in between). The
 * kernel's socket buffers on both sides add their own read-ahead.
 */
export const READ_AHEAD = 2 * 1024 * 1024;
/** Re-opens in a row, without progress, of a stream that broke mid-way (from where it broke) before the read fails. */
const REOPENS = 3;

class RangeStream {
  /** Position of the next byte `take` returns. */
  pos: number;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private error: unknown = null;
  private wake: (() => void) | null = null;
  private paused = false;
  private cancelled = false;
  /** The store answered the GET with its body (200/206). */
  private answered = false;
  private readonly source: BodySource;

  constructor(api: S3Api, key: string, head: ObjectHead, start: number) {
    this.pos = start;
    const range = `bytes=${start}-${head.size - 1}`;
    this.source = openBody(api, { method: "GET", key, headers: { range, "if-match": head.etag } }, {
      start: () => {
        this.answered = true;
        this.notify();
      },
      chunk: (bytes) => {
        if (this.cancelled) return;
        this.queue.push(bytes);
        this.queued += bytes.length;
        if (this.queued >= READ_AHEAD && !this.paused) {
          this.paused = true;
          this.source.pause();
        }
        this.notify();
      },
      end: () => {
        this.ended = true;
        this.notify();
      },
      fail: (err) => {
        this.error = err;
        this.notify();
      },
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Copy queued bytes into `buf` (synchronously); 0 when nothing is queued yet. */
  take(buf: Uint8Array): number {
    let n = 0;
    while (n < buf.length && this.queue.length > 0) {
      const head = this.queue[0]!;
      const k = Math.min(buf.length - n, head.length);
      buf.set(head.subarray(0, k), n);
      n += k;
      if (k === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(k);
    }
    this.queued -= n;
    this.pos += n;
    if (this.paused && this.queued < READ_AHEAD / 2) {
      this.paused = false;
      this.source.resume();
    }
    return n;
  }

  /** The next queued piece as it arrived (at most `max` bytes), or null when nothing is queued. */
  next(max: number): Uint8Array | null {
    let piece = this.queue[0];
    if (!piece) return null;
    if (piece.length > max) {
      this.queue[0] = piece.subarray(max);
      piece = piece.subarray(0, max);
    } else this.queue.shift();
    this.queued -= piece.length;
    this.pos += piece.length;
    if (this.paused && this.queued < READ_AHEAD / 2) {
      this.paused = false;
      this.source.resume();
    }
    return piece;
  }

  /**
   * Wait until `want` bytes are queued (or the stream ended or failed). Handing the reader a full
   * buffer, not each ~64 KiB piece fetch delivers, keeps the data connection's writes large.
   */
  async ready(want = 1): Promise<void> {
    while (this.queued < Math.min(want, READ_AHEAD) && !this.ended && !this.error) {
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /**
   * Wait for the store's answer to the GET: resolves once its body comes (or the stream broke: the
   * reader re-opens it), throws the store's refusal (404: gone; 412: changed since its HEAD).
   */
  async answer(): Promise<void> {
    while (!this.answered && !this.ended && !this.error) {
      await new Promise<void>((r) => (this.wake = r));
    }
    if (this.error instanceof StorageError) throw this.error;
  }

  /** Bytes ready to take now. */
  get available(): number {
    return this.queued;
  }

  get failure(): unknown {
    return this.queue.length === 0 ? this.error : null;
  }

  get finished(): boolean {
    return this.queue.length === 0 && this.ended;
  }

  cancel(): void {
    this.cancelled = true;
    this.queue.length = 0;
    this.queued = 0;
    this.source.cancel();
    // A reader still waiting here (its transfer was aborted) wakes and fails instead of waiting forever.
    this.error ??= new StorageError("transient", "file closed");
    this.notify();
  }
}

/** An S3 download; `start` begins its GET before the first read (RETR, before its 150). */
export interface S3ReadHandle extends ReadHandle {
  /**
   * Start the GET at `from` and wait for the store's answer: an object gone or changed since its
   * HEAD throws here. The handle owns the GET from then on (`close` ends it); a first read at
   * `from` continues it.
   */
  start(from: number): Promise<void>;
}

export function openS3Read(api: S3Api, key: string, head: ObjectHead): S3ReadHandle {
  let stream: RangeStream | null = null;
  let reopens = 0;
  let closed = false;

  /** `s` gave nothing at `position`: fail, or re-open the GET there after a stream broke. */
  const recover = async (s: RangeStream, position: number): Promise<void> => {
    if (s.finished) throw new StorageError("transient", "the object changed meanwhile"); // shorter than HEAD said
    const err = s.failure;
    // A GET refused outright (412: changed; 404: gone) fails; a stream that broke is re-opened where it broke.
    if (err instanceof StorageError) throw err;
    if (reopens >= REOPENS) throw api.outage(transportError(err));
    s.cancel();
    await Bun.sleep(100 * 4 ** reopens++); // as S3Api.send's retries: S3's "try again" wants a pause
    if (closed) throw new StorageError("transient", "file closed");
    stream = new RangeStream(api, key, head, position);
  };

  const at = (position: number): RangeStream => {
    if (closed) throw new StorageError("transient", "file closed");
    if (!stream || stream.pos !== position) {
      stream?.cancel();
      stream = new RangeStream(api, key, head, position);
    }
    return stream;
  };

  const slow = async (buf: Uint8Array, position: number): Promise<number> => {
    for (;;) {
      const s = stream!;
      await s.ready(Math.min(buf.length, head.size - position));
      const n = s.take(buf);
      if (n > 0) {
        reopens = 0; // progress: a long download may outlive several broken connections
        return n;
      }
      await recover(s, position);
    }
  };

  return {
    size: head.size,
    async start(from: number): Promise<void> {
      if (from >= head.size) return; // nothing to fetch: the HEAD was the check
      const s = at(from);
      try {
        await s.answer();
      } catch (err) {
        if (stream === s) stream = null;
        s.cancel();
        throw err;
      }
    },
    read(buf: Uint8Array, position: number): number | Promise<number> {
      if (closed) throw new StorageError("transient", "file closed");
      if (position >= head.size || buf.length === 0) return 0;
      const s = at(position);
      const want = Math.min(buf.length, head.size - position);
      return s.available >= want ? s.take(buf) : slow(buf, position);
    },
    async *chunks(start: number, end: number): AsyncGenerator<Uint8Array> {
      end = Math.min(end, head.size);
      for (let pos = start; pos < end; ) {
        const s = at(pos);
        await s.ready();
        const piece = s.next(end - pos);
        if (piece) {
          reopens = 0;
          pos += piece.length;
          yield piece;
        } else await recover(s, pos);
      }
    },
    close() {
      closed = true;
      stream?.cancel();
      stream = null;
    },
  };
}
