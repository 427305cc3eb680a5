// Running digests of a transfer. Big transfers hash on a worker thread (hash-thread.ts): the pump
// hands each chunk over (zero-copy, once it is written) and asks for the digest at the end, so
// SHA-256 runs on the other core while the main thread moves bytes. Small files hash inline (a
// thread round trip costs more than their hash).
import { readSync } from "node:fs";
import { ClientError } from "./errors.ts";

export type DigestName = "md5" | "sha256";

export interface StreamHasher {
  /** Add `chunk`. With `owned`, the hasher may take the chunk's memory (the caller never touches it again). */
  update(chunk: Uint8Array, owned?: boolean): void;
  /** Hash bytes [0, length) of `fd` first (a resumed prefix); resolves with the digest of that prefix. */
  prefix(fd: number, length: number): Promise<string>;
  digest(): Promise<string>;
  /** Forget the job (after a failure); idempotent. */
  dispose(): void;
}

/** Files at least this big hash on the worker thread. */
export const THREAD_MIN_BYTES = 16 << 20;
/** Chunks are handed to the thread in batches of about this many bytes (fewer messages). */
const BATCH_BYTES = 1 << 20;

class InlineHasher implements StreamHasher {
  private h;
  constructor(algo: DigestName) {
    this.h = new Bun.CryptoHasher(algo);
  }
  update(chunk: Uint8Array): void {
    this.h.update(chunk);
  }
  async prefix(fd: number, length: number): Promise<string> {
    const buf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, length)));
    let pos = 0;
    while (pos < length) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
      if (n <= 0) throw new ClientError("the local file is shorter than expected");
      this.h.update(buf.subarray(0, n));
      pos += n;
    }
    return this.h.copy().digest("hex");
  }
  async digest(): Promise<string> {
    return this.h.digest("hex");
  }
  dispose(): void {}
}

let thread: Worker | null = null;
let nextId = 1;
const waiting = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
let openJobs = 0;

function hashThread(): Worker {
  if (thread) return thread;
  const w = new Worker(new URL("./hash-thread.ts", import.meta.url).href);
  w.onmessage = (e: MessageEvent<{ t: string; id: number; hex?: string; message?: string }>) => {
    const p = waiting.get(e.data.id);
    if (!p) return;
    waiting.delete(e.data.id);
    if (e.data.t === "error") p.reject(new ClientError(e.data.message ?? "hashing failed"));
    else p.resolve(e.data.hex!);
    settle();
  };
  w.onerror = (e) => {
    const err = new ClientError(`the hashing thread failed: ${e.message}`);
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
  };
  w.unref();
  thread = w;
  return w;
}

/** Keep the process alive only while an answer is awaited. */
function settle(): void {
  if (!thread) return;
  if (waiting.size > 0) thread.ref();
  else thread.unref();
}

class ThreadHasher implements StreamHasher {
  private readonly id = nextId++;
  private bufs: ArrayBuffer[] = [];
  private lens: number[] = [];
  private pending = 0;
  private open = true;
  private readonly w = hashThread();

  constructor(algo: DigestName) {
    this.w.postMessage({ t: "open", id: this.id, algo });
    openJobs++;
  }

  update(chunk: Uint8Array, owned = false): void {
    if (!this.open) return;
    // Hand over the chunk's own memory when we may (a received Buffer owns its ArrayBuffer), else a copy.
    const whole = owned && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    const buf = whole ? (chunk.buffer as ArrayBuffer) : (chunk.slice().buffer as ArrayBuffer);
    this.bufs.push(buf);
    this.lens.push(chunk.byteLength);
    this.pending += chunk.byteLength;
    if (this.pending >= BATCH_BYTES) this.flush();
  }

  private flush(): void {
    if (this.bufs.length === 0) return;
    const bufs = this.bufs;
    this.w.postMessage({ t: "data", id: this.id, bufs, lens: this.lens }, bufs);
    this.bufs = [];
    this.lens = [];
    this.pending = 0;
  }

  private ask(msg: object): Promise<string> {
    return new Promise((resolve, reject) => {
      waiting.set(this.id, { resolve, reject });
      settle();
      this.w.postMessage(msg);
    });
  }

  prefix(fd: number, length: number): Promise<string> {
    this.flush();
    return this.ask({ t: "prefix", id: this.id, fd, length });
  }

  digest(): Promise<string> {
    this.flush();
    this.open = false;
    openJobs--;
    return this.ask({ t: "digest", id: this.id });
  }

  dispose(): void {
    if (!this.open) return;
    this.open = false;
    openJobs--;
    this.bufs = [];
    this.lens = [];
    this.w.postMessage({ t: "drop", id: this.id });
  }
}

/** A running digest for a transfer of `size` bytes (null: unknown). */
export function streamHasher(algo: DigestName, size: number | null): StreamHasher {
  if (size !== null && size >= THREAD_MIN_BYTES && process.env.FTPKIT_HASH_THREAD !== "0") return new ThreadHasher(algo);
  return new InlineHasher(algo);
}
