// Where a transfer's bytes go besides the network: the partial file (downloads) and the running
// digest. Big verified transfers hash on a second thread (hash-thread.ts): the pump writes each
// chunk, hands it over zero-copy and goes back to the socket, so SHA-256 overlaps with the network;
// the pump pauses the socket while too much is queued. Small files hash inline (a thread round trip
// costs more than their bytes). Writing on the thread too was measured slower here (2 busy cores).
import { readSync, writeSync } from "node:fs";
import { ClientError } from "./errors.ts";

export type DigestName = "md5" | "sha256";

export interface ChunkSink {
  /** Downloads: write `chunk` at `pos` of the file (and hash it). The sink may take the chunk's memory. */
  put(chunk: Uint8Array, pos: number): void;
  /** Uploads: hash `chunk` (sent already); with `owned` the sink may take its memory. */
  hash(chunk: Uint8Array, owned: boolean): void;
  /** Uploads: a buffer of `size` bytes to read the next chunk into (reused once `hash` is done with it). */
  buffer(size: number): Buffer;
  /** Hash bytes [0, length) of `fd` first (a resumed prefix); resolves with the digest of that prefix. */
  prefix(fd: number, length: number): Promise<string>;
  /** True while so much is queued that the pump should stop reading; `onDrain` says when to go on. */
  readonly full: boolean;
  onDrain(cb: () => void): void;
  /** Resolves once every chunk put so far is written; rejects with the write error if one failed. */
  flushed(): Promise<void>;
  /** The digest ("" when hashing is off); ends the job. */
  digest(): Promise<string>;
  /** Forget the job (after a failure); idempotent. */
  dispose(): void;
}

/** Transfers at least this big use the thread. */
export const THREAD_MIN_BYTES = 16 << 20;
const BATCH_BYTES = 1 << 20;
/** Flow control: stop reading above HIGH bytes queued for the thread, go on below LOW. */
const HIGH = 32 << 20;
const LOW = 8 << 20;

class InlineSink implements ChunkSink {
  private readonly h;
  readonly full = false;
  constructor(
    algo: DigestName | null,
    private readonly fd: number | null,
  ) {
    this.h = algo ? new Bun.CryptoHasher(algo) : null;
  }
  put(chunk: Uint8Array, pos: number): void {
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd!, chunk, off, chunk.length - off, pos + off);
    this.h?.update(chunk);
  }
  hash(chunk: Uint8Array): void {
    this.h?.update(chunk);
  }
  private buf: Buffer | null = null;
  buffer(size: number): Buffer {
    // Hashing is synchronous here: one buffer serves every chunk.
    if (!this.buf || this.buf.length < size) this.buf = Buffer.allocUnsafe(size);
    return this.buf.subarray(0, size);
  }
  async prefix(fd: number, length: number): Promise<string> {
    if (!this.h) return "";
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
  onDrain(cb: () => void): void {
    cb();
  }
  async flushed(): Promise<void> {}
  async digest(): Promise<string> {
    return this.h?.digest("hex") ?? "";
  }
  dispose(): void {}
}

let thread: Worker | null = null;
let nextId = 1;
const sinks = new Map<number, ThreadSink>();

function transferThread(): Worker {
  if (thread) return thread;
  const w = new Worker(new URL("./hash-thread.ts", import.meta.url).href);
  w.onmessage = (e: MessageEvent<{ t: string; id: number; hex?: string; message?: string; bytes?: number; bufs?: ArrayBuffer[] }>) => sinks.get(e.data.id)?.onMessage(e.data);
  w.onerror = (e) => {
    for (const s of sinks.values()) s.onMessage({ t: "error", message: `the transfer thread failed: ${e.message}` });
  };
  w.unref();
  thread = w;
  return w;
}

/** Keep the process alive only while some sink waits for the thread. */
function refThread(): void {
  if (!thread) return;
  let busy = false;
  for (const s of sinks.values()) if (s.busy) busy = true;
  if (busy) thread.ref();
  else thread.unref();
}

class ThreadSink implements ChunkSink {
  private readonly id = nextId++;
  private readonly w = transferThread();
  private bufs: ArrayBuffer[] = [];
  private lens: number[] = [];
  private batchPos: number | null = null;
  private batchBytes = 0;
  private inflight = 0;
  private error: Error | null = null;
  private drains: (() => void)[] = [];
  private asks: { resolve: (hex: string) => void; reject: (e: Error) => void }[] = [];
  private open = true;

  constructor(
    algo: DigestName,
    private readonly fd: number | null,
  ) {
    sinks.set(this.id, this);
    this.w.postMessage({ t: "open", id: this.id, algo, fd: null });
  }

  get busy(): boolean {
    return this.asks.length > 0 || this.inflight > 0;
  }

  get full(): boolean {
    return this.inflight > HIGH;
  }

  private add(chunk: Uint8Array, owned: boolean, pos: number | null): void {
    if (!this.open) return;
    if (this.error) throw this.error;
    // A received Buffer owns its ArrayBuffer: hand it over; otherwise copy.
    const whole = owned && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    if (this.bufs.length === 0) this.batchPos = pos;
    this.bufs.push(whole ? (chunk.buffer as ArrayBuffer) : (chunk.slice().buffer as ArrayBuffer));
    this.lens.push(chunk.byteLength);
    this.batchBytes += chunk.byteLength;
    if (this.batchBytes >= BATCH_BYTES) this.flush();
  }

  put(chunk: Uint8Array, pos: number): void {
    // Written here (measured: as fast as curl on this path), hashed on the thread.
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd!, chunk, off, chunk.length - off, pos + off);
    this.add(chunk, true, null);
  }

  hash(chunk: Uint8Array, owned: boolean): void {
    this.add(chunk, owned, null);
  }

  /** Buffers the thread gave back after hashing them. */
  private pool: ArrayBuffer[] = [];
  private pooled = false;

  buffer(size: number): Buffer {
    this.pooled = true;
    const i = this.pool.findIndex((b) => b.byteLength === size);
    if (i >= 0) return Buffer.from(this.pool.splice(i, 1)[0]!, 0, size);
    return Buffer.from(new ArrayBuffer(size));
  }

  private flush(): void {
    if (this.bufs.length === 0) return;
    const bufs = this.bufs;
    this.w.postMessage({ t: "data", id: this.id, bufs, lens: this.lens, pos: this.batchPos, giveBack: this.pooled }, bufs);
    this.inflight += this.batchBytes;
    this.bufs = [];
    this.lens = [];
    this.batchBytes = 0;
    refThread();
  }

  onMessage(m: { t: string; hex?: string; message?: string; bytes?: number; bufs?: ArrayBuffer[] }): void {
    if (m.t === "ack") {
      this.inflight -= m.bytes ?? 0;
      if (m.bufs && this.open && this.pool.length < 64) this.pool.push(...m.bufs);
      if (this.inflight < LOW) for (const cb of this.drains.splice(0)) cb();
    } else if (m.t === "done") this.asks.shift()?.resolve(m.hex ?? "");
    else if (m.t === "error") {
      this.error ??= new ClientError(`cannot write the local file: ${m.message}`);
      for (const a of this.asks.splice(0)) a.reject(this.error);
      for (const cb of this.drains.splice(0)) cb();
    }
    refThread();
  }

  onDrain(cb: () => void): void {
    if (!this.full) cb();
    else this.drains.push(cb);
  }

  private ask(msg: object): Promise<string> {
    this.flush();
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.asks.push({ resolve, reject });
      refThread();
      this.w.postMessage(msg);
    });
  }

  prefix(fd: number, length: number): Promise<string> {
    return this.ask({ t: "prefix", id: this.id, fd, length });
  }

  async flushed(): Promise<void> {
    await this.ask({ t: "sync", id: this.id });
  }

  async digest(): Promise<string> {
    const hex = await this.ask({ t: "digest", id: this.id });
    this.close();
    return hex;
  }

  private close(): void {
    this.open = false;
    sinks.delete(this.id);
    refThread();
  }

  dispose(): void {
    if (!this.open) return;
    this.bufs = [];
    this.lens = [];
    this.w.postMessage({ t: "drop", id: this.id });
    this.close();
  }
}

/**
 * The sink for a transfer of `size` bytes (null: unknown): `fd` is the partial file a download
 * writes (null for uploads); `algo` null means no digest (--no-verify).
 */
export function chunkSink(algo: DigestName | null, size: number | null, fd: number | null = null): ChunkSink {
  // Only the digest goes to the thread: without one there is nothing to overlap.
  if (algo && size !== null && size >= THREAD_MIN_BYTES && process.env.FTPKIT_HASH_THREAD !== "0") return new ThreadSink(algo, fd);
  return new InlineSink(algo, fd);
}
