// Downloads from S3: one streamed GET from the read position to the end (REST + RETR is a ranged GET),
// pulled ahead into a small queue while the data connection sends, so fetching and sending overlap.
// Memory per open file is bounded: the queue stops at READ_AHEAD bytes and fetch's body stream
// applies backpressure to the socket (measured: a stalled 512 MiB body held 4 MiB). Every GET
// carries If-Match, so a download never mixes two versions of an object (an overwrite fails it).
// A read at another position (HASH of a range, a client seeking) starts a new GET there.
import { StorageError, type ReadHandle } from "./backend.ts";
import type { ObjectHead } from "./s3-object.ts";
import { transportError, type S3Api } from "./s3-request.ts";

/** Bytes pulled ahead of the reader. */
export const READ_AHEAD = 8 * 1024 * 1024;
/** Re-opens in a row, without progress, of a stream that broke mid-way (from where it broke) before the read fails. */
const REOPENS = 3;

class RangeStream {
  /** Position of the next byte `take` returns. */
  pos: number;
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private error: unknown = null;
  private pumping = false;
  private wake: (() => void) | null = null;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private cancelled = false;

  constructor(
    private readonly api: S3Api,
    private readonly key: string,
    private readonly head: ObjectHead,
    start: number,
  ) {
    this.pos = start;
    void this.pump(start);
  }

  private async pump(start?: number): Promise<void> {
    if (this.pumping || this.ended || this.error) return;
    this.pumping = true;
    try {
      if (!this.reader) {
        const res = await this.api.send({ method: "GET", key: this.key, headers: { range: `bytes=${start}-${this.head.size - 1}`, "if-match": this.head.etag } });
        if (this.cancelled) {
          await res.body?.cancel().catch(() => {});
          return;
        }
        this.reader = res.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
      }
      const reader = this.reader;
      while (this.queued < READ_AHEAD && !this.cancelled) {
        const { value, done } = await reader.read();
        if (done) {
          this.ended = true;
          break;
        }
        this.queue.push(value);
        this.queued += value.length;
        this.notify();
      }
    } catch (err) {
      this.error = err;
    } finally {
      this.pumping = false;
      this.notify();
    }
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
    if (n > 0) void this.pump();
    return n;
  }

  /**
   * Wait until `want` bytes are queued (or the stream ended or failed). Handing the reader a full
   * buffer, not each ~64 KiB piece fetch delivers, keeps the data connection's writes large.
   */
  async ready(want = 1): Promise<void> {
    while (this.queued < Math.min(want, READ_AHEAD) && !this.ended && !this.error) {
      await new Promise<void>((r) => {
        this.wake = r;
        void this.pump();
      });
    }
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
    void this.reader?.cancel().catch(() => {});
  }
}

export function openS3Read(api: S3Api, key: string, head: ObjectHead): ReadHandle {
  let stream: RangeStream | null = null;
  let reopens = 0;
  let closed = false;

  const slow = async (buf: Uint8Array, position: number): Promise<number> => {
    for (;;) {
      const s = stream!;
      await s.ready(Math.min(buf.length, head.size - position));
      const n = s.take(buf);
      if (n > 0) {
        reopens = 0; // progress: a long download may outlive several broken connections
        return n;
      }
      if (s.finished) throw new StorageError("transient", "the object changed meanwhile"); // shorter than HEAD said
      const err = s.failure;
      // A GET refused outright (412: changed; 404: gone) fails; a stream that broke is re-opened where it broke.
      if (err instanceof StorageError || reopens >= REOPENS) throw err instanceof StorageError ? err : transportError(err);
      reopens++;
      s.cancel();
      stream = new RangeStream(api, key, head, position);
    }
  };

  return {
    size: head.size,
    read(buf: Uint8Array, position: number): number | Promise<number> {
      if (closed) throw new StorageError("transient", "file closed");
      if (position >= head.size || buf.length === 0) return 0;
      if (!stream || stream.pos !== position) {
        stream?.cancel();
        stream = new RangeStream(api, key, head, position);
      }
      const want = Math.min(buf.length, head.size - position);
      return stream.available >= want ? stream.take(buf) : slow(buf, position);
    },
    close() {
      closed = true;
      stream?.cancel();
      stream = null;
    },
  };
}
