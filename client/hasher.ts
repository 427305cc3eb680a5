// Where a transfer's bytes go besides the network: the partial file (downloads) and the running
// digest. Big verified transfers (SHA-256, MD5; CRC-32 is cheaper inline) hash on a second thread
// (hash-thread.ts) that reads the bytes back from the file (page cache) while the pump goes on: the
// pump only writes (downloads) or reads (uploads) and tells the thread how far the file is done, so
// no chunk memory crosses threads and nothing waits on the hash until the end. Handing the received
// chunks themselves to the thread (zero-copy transfer) was measured slower: every chunk became a
// fresh allocation freed by another heap (2× the page faults, +40% CPU). Small files hash inline (a
// thread round trip costs more).
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { createHasher, worthAThread, type StreamHasher } from "../protocol/digest.ts";
import { workerUrl } from "../protocol/worker-url.ts";
import { ClientError, localCause } from "./errors.ts";
import { HASH_NAMES, type DigestAlgorithm } from "./remote-hash.ts";

export interface ChunkSink {
  /** Downloads: write `chunk` at `pos` of the file (and hash it). */
  put(chunk: Uint8Array, pos: number): void;
  /** Uploads: `chunk`, read from the file at `pos`, was sent: hash it. */
  sent(chunk: Uint8Array, pos: number): void;
  /** Hash bytes [0, length) of the file first (a resumed prefix); resolves with the digest of that prefix. */
  prefix(length: number): Promise<string>;
  /** The digest of every byte so far ("" when hashing is off); ends the job. */
  digest(): Promise<string>;
  /** Forget the job (after a failure); idempotent. */
  dispose(): void;
}

/** Transfers at least this big use the thread. */
export const THREAD_MIN_BYTES = 16 << 20;
/** Tell the thread about new bytes every this many (a message per chunk costs more than it gains). */
const NOTIFY_BYTES = 4 << 20;

/** Hash bytes [start, end) of `fd` into `h`. */
export function hashRange(fd: number, end: number, h: StreamHasher, start = 0): void {
  const buf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, end - start)));
  let pos = start;
  while (pos < end) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
    if (n <= 0) throw new ClientError("the local file is shorter than expected", { kind: "local" });
    h.update(buf.subarray(0, n));
    pos += n;
  }
}

/** Digest of a whole local file (for tests and for checks). */
export function hashFile(path: string, algo: DigestAlgorithm): string {
  const fd = openSync(path, "r");
  try {
    const h = createHasher(HASH_NAMES[algo].hash);
    hashRange(fd, fstatSync(fd).size, h);
    return h.hex();
  } finally {
    closeSync(fd);
  }
}

const writtenBeforeFailure = new WeakMap<object, number>();

/**
 * The bytes of a chunk that were in the file when its write failed with `err` (0 if none): a disk
 * that fills up takes part of a chunk (a short write), then refuses (ENOSPC). They stay in the file,
 * and count as received: a report that left them out said fewer bytes than were kept.
 */
export function writtenBefore(err: unknown): number {
  return (typeof err === "object" && err !== null && writtenBeforeFailure.get(err)) || 0;
}

function writeAll(fd: number, chunk: Uint8Array, pos: number): void {
  let off = 0;
  try {
    while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off, pos + off);
  } catch (err) {
    if (off > 0 && typeof err === "object" && err !== null) writtenBeforeFailure.set(err, off);
    throw err;
  }
}

class InlineSink implements ChunkSink {
  protected readonly h;
  constructor(
    algo: DigestAlgorithm | null,
    protected readonly fd: number,
  ) {
    this.h = algo ? createHasher(HASH_NAMES[algo].hash) : null;
  }
  put(chunk: Uint8Array, pos: number): void {
    writeAll(this.fd, chunk, pos);
    this.h?.update(chunk);
  }
  sent(chunk: Uint8Array): void {
    this.h?.update(chunk);
  }
  async prefix(length: number): Promise<string> {
    if (!this.h) return "";
    hashRange(this.fd, length, this.h);
    return this.h.snapshot();
  }
  async digest(): Promise<string> {
    return this.h?.hex() ?? "";
  }
  dispose(): void {}
}

/**
 * A download to a stream (standard output) or an upload from one (standard input, fd -1): written in
 * order wherever the stream stands (a pipe has no positions, and a file the shell opened may not
 * start at 0), hashed inline (there is no file to read back), never resumed (no prefix).
 */
export class StreamSink extends InlineSink {
  constructor(
    algo: DigestAlgorithm | null,
    fd: number,
    /** What the stream is called in a message: standard output, or the device the user named (`get URL /dev/full`). */
    private readonly name = "standard output",
  ) {
    super(algo, fd);
  }
  override put(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      try {
        off += writeSync(this.fd, chunk, off, chunk.length - off);
      } catch (err) {
        const code = (err as { code?: string }).code;
        // A descriptor the parent made non-blocking: wait for the reader rather than fail.
        if (code === "EAGAIN") Bun.sleepSync(1);
        else throw new ClientError(`cannot write to ${this.name}: ${code === "EPIPE" ? "the reader closed it (broken pipe)" : localCause(err)}`, { kind: "local" });
      }
    }
    this.h?.update(chunk);
  }
  override prefix(): Promise<string> {
    return Promise.reject(new ClientError("a stream cannot be resumed"));
  }
}

let thread: Worker | null = null;
let nextId = 1;
const sinks = new Map<number, ThreadSink>();

function hashThread(): Worker {
  if (thread) return thread;
  const w = new Worker(workerUrl(import.meta.url, "./hash-thread.ts", "client/hash-thread.ts"));
  w.onmessage = (e: MessageEvent<{ t: string; id: number; hex?: string; message?: string }>) => sinks.get(e.data.id)?.onMessage(e.data);
  w.onerror = (e) => {
    // A thread that failed (or never loaded) answers nothing more: the next job starts a new one.
    thread = null;
    w.terminate();
    for (const s of sinks.values()) s.onMessage({ t: "error", message: `the hashing thread failed: ${e.message}` });
  };
  w.unref();
  thread = w;
  return w;
}

/** Keep the process alive only while some sink waits for the thread. */
function refThread(): void {
  if (!thread) return;
  let waiting = false;
  for (const s of sinks.values()) if (s.waiting) waiting = true;
  if (waiting) thread.ref();
  else thread.unref();
}

class ThreadSink implements ChunkSink {
  private readonly id = nextId++;
  private readonly w = hashThread();
  /** Bytes [0, end) of the file are final; [0, told) were announced to the thread. */
  private end = 0;
  private told = 0;
  private asks: { resolve: (hex: string) => void; reject: (e: Error) => void }[] = [];
  private open = true;
  private failure: ClientError | null = null;

  constructor(
    algo: DigestAlgorithm,
    private readonly fd: number,
  ) {
    sinks.set(this.id, this);
    this.w.postMessage({ t: "open", id: this.id, algorithm: HASH_NAMES[algo].hash, fd });
  }

  get waiting(): boolean {
    return this.asks.length > 0;
  }

  private advance(): void {
    if (this.end - this.told >= NOTIFY_BYTES) {
      this.w.postMessage({ t: "upto", id: this.id, end: this.end });
      this.told = this.end;
    }
  }

  put(chunk: Uint8Array, pos: number): void {
    if (!this.open) return;
    writeAll(this.fd, chunk, pos);
    this.end = pos + chunk.length;
    this.advance();
  }

  sent(chunk: Uint8Array, pos: number): void {
    if (!this.open) return;
    this.end = pos + chunk.length;
    this.advance();
  }

  onMessage(m: { t: string; hex?: string; message?: string }): void {
    if (m.t === "done") this.asks.shift()?.resolve(m.hex ?? "");
    else if (m.t === "error") {
      // Kept for an ask still to come: the thread will not answer it.
      this.failure = new ClientError(`cannot hash the local file: ${m.message}`, { kind: "local" });
      for (const a of this.asks.splice(0)) a.reject(this.failure);
    }
    refThread();
  }

  private ask(t: "prefix" | "digest"): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.asks.push({ resolve, reject });
      refThread();
      this.w.postMessage({ t, id: this.id, end: this.end });
      this.told = this.end;
    });
  }

  prefix(length: number): Promise<string> {
    this.end = length;
    return this.ask("prefix");
  }

  async digest(): Promise<string> {
    try {
      return await this.ask("digest");
    } finally {
      this.close();
    }
  }

  private close(): void {
    this.open = false;
    sinks.delete(this.id);
    refThread();
  }

  dispose(): void {
    if (!this.open) return;
    this.w.postMessage({ t: "drop", id: this.id });
    this.close();
  }
}

/**
 * The sink for a transfer of `size` bytes (null: unknown) of the local file `fd` (the partial file a
 * download writes, or the file an upload reads); `algo` null means no digest (--no-verify).
 */
export function chunkSink(algo: DigestAlgorithm | null, size: number | null, fd: number): ChunkSink {
  // Only the digest goes to the thread: without one there is nothing to overlap.
  const thread = algo && size !== null && size >= THREAD_MIN_BYTES && worthAThread(HASH_NAMES[algo].hash);
  if (thread && process.env.FTPKIT_HASH_THREAD !== "0") return new ThreadSink(algo, fd);
  return new InlineSink(algo, fd);
}
