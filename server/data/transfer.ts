import type { ReadHandle } from "../storage/backend.ts";
import { type DataConnection, TransferAborted } from "./connection.ts";
import { FtpError } from "../../protocol/errors.ts";
import type { StreamHasher } from "../../protocol/digest.ts";
import { delayFor, type RateLimiter } from "./rate.ts";
import { BufferPool } from "../../protocol/buffer-pool.ts";
import { LoopShare } from "../../protocol/loop-share.ts";
import { plainDescriptor, readMore } from "./direct-read.ts";
import { QuotaExceeded } from "../vfs/upload.ts";

/**
 * Read size of a download. 1 MiB, as bench/raw.ts: retr-1 of 1 GiB went from 2.6 to 3.0–3.3 GB/s
 * against 256 KiB (fewer read/send syscalls; the server core is the bottleneck, so there is no idle
 * time to hide anything in). With many downloads at once each keeps its own buffer, so beyond a few
 * the pump falls back to 256 KiB: 100 downloads hold 25 MiB of buffers, not 100 MiB. (raw.ts
 * itself measured 3.0–3.4 GB/s in the same runs; 512 KiB and 2–4 MiB were no better than 1 MiB.)
 */
const CHUNK = 1024 * 1024;
const CHUNK_CROWDED = 256 * 1024;
const CROWDED_AT = 8;
let activeSends = 0;
/** Idle read buffers, one pool per chunk size: a tree of small files reuses them file after file. */
const buffers = { [CHUNK]: new BufferPool(CHUNK, CROWDED_AT), [CHUNK_CROWDED]: new BufferPool(CHUNK_CROWDED, 2 * CROWDED_AT) };

export interface PumpOptions {
  limiters: readonly RateLimiter[];
  hasher?: StreamHasher;
  /** Called with each chunk's size: progress for STAT and the idle timer. */
  onBytes(n: number): void;
  /**
   * An upload: called with the bytes of each chunk once the storage took them (its write returned or
   * settled; of a chunk whose write failed, the part the storage says it wrote). What the transfer
   * log reports: bytes still on their way to a write that failed were never stored.
   */
  onStored?(n: number): void;
  /**
   * Set by ABOR, a stall, the session's close or shutdown to stop the pump at the next chunk. An
   * AbortSignal also ends a wait for the storage at once (a flag is only read between chunks).
   */
  signal: { readonly aborted: boolean } | AbortSignal;
  /** An upload whose sink takes any chunk (TYPE I): plain sockets may then be read directly (direct-read.ts). */
  directReads?: boolean;
}

/**
 * Wait for the storage, unless the transfer is aborted first. A store that stopped answering mid-file
 * held the RETR until it answered again: the stall timer cut the data connection after 30 s, but the
 * 426 and the session waited for the store (200 s in the audit's test, for ever if it never answers).
 */
function unlessAborted<T>(p: Promise<T>, signal: PumpOptions["signal"]): Promise<T> {
  if (signal.aborted) return Promise.reject(new TransferAborted("aborted"));
  if (!("addEventListener" in signal)) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new TransferAborted("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** RETR: read at explicit positions into one reused buffer, write all of each chunk before the next read. */
export async function sendFile(conn: DataConnection, file: ReadHandle, start: number, end: number, opts: PumpOptions): Promise<number> {
  // A rate-limited download keeps the smaller chunk: its bursts stay as short as before.
  const chunk = activeSends < CROWDED_AT && opts.limiters.length === 0 ? CHUNK : CHUNK_CROWDED;
  activeSends++;
  try {
    if (file.chunks && opts.limiters.length === 0) return await pumpChunks(conn, file.chunks(start, end), opts);
    const pool = buffers[chunk]!;
    const buf = pool.take();
    const reading = { pending: false };
    try {
      return await pump(conn, file, start, end, opts, buf, reading);
    } finally {
      // Every write from it completed (writeAll) or the transfer was abandoned; a read the abort left
      // behind may still fill it, so that buffer is never handed to another transfer.
      if (!reading.pending) pool.give(buf);
    }
  } finally {
    activeSends--;
  }
}

async function pump(conn: DataConnection, file: ReadHandle, start: number, end: number, opts: PumpOptions, buf: Uint8Array, reading: { pending: boolean }): Promise<number> {
  let pos = start;
  const share = new LoopShare();
  while (pos < end) {
    await share.turn();
    if (opts.signal.aborted) throw new TransferAborted("aborted");
    const want = Math.min(buf.length, end - pos);
    const r = file.read(want === buf.length ? buf : buf.subarray(0, want), pos);
    reading.pending = true;
    const n = typeof r === "number" ? r : await unlessAborted(r, opts.signal);
    reading.pending = false;
    if (n <= 0) break;
    // Paid for before it goes out (see RateLimiter): sent first, each chunk ran one ahead of the rate.
    if (opts.limiters.length) {
      const ms = delayFor(opts.limiters, n);
      if (ms > 0) await throttle(ms, opts);
      if (opts.signal.aborted) throw new TransferAborted("aborted");
    }
    const chunk = n === buf.length ? buf : buf.subarray(0, n);
    opts.hasher?.update(chunk);
    await conn.writeAll(chunk, pos + n >= end);
    pos += n;
    opts.onBytes(n);
  }
  return pos - start;
}

/**
 * RETR from a backend that hands out its own pieces (S3: each ~0.5 MiB socket read of the GET):
 * send each as it is, without copying it into a buffer of our own first (A/B, 1 GiB from radosgw:
 * server CPU 2.05–2.53 s against 2.06–2.81 s with the copy).
 */
async function pumpChunks(conn: DataConnection, chunks: AsyncIterable<Uint8Array>, opts: PumpOptions): Promise<number> {
  let sent = 0;
  const share = new LoopShare(); // a backend with many pieces ready would otherwise hold the loop too
  const pieces = chunks[Symbol.asyncIterator]();
  for (;;) {
    const next = await unlessAborted(pieces.next(), opts.signal);
    if (next.done) break;
    const chunk = next.value;
    await share.turn();
    if (opts.signal.aborted) throw new TransferAborted("aborted");
    opts.hasher?.update(chunk);
    await conn.writeAll(chunk);
    sent += chunk.length;
    opts.onBytes(chunk.length);
  }
  return sent;
}

/** Longest single sleep of a throttled transfer: well under the shortest idle timeout (1 s). */
const THROTTLE_STEP_MS = 250;

/**
 * Wait out a rate-limit delay in short steps, each reported as activity (onBytes(0)): a throttled
 * transfer is progressing, so the idle sweep must not close its session (a 256 KiB chunk at
 * 100 KB/s is a 2.6 s pause). Returns early on ABOR.
 */
async function throttle(ms: number, opts: PumpOptions): Promise<void> {
  for (let left = ms; left > 0 && !opts.signal.aborted; left -= THROTTLE_STEP_MS) {
    await Bun.sleep(Math.min(left, THROTTLE_STEP_MS));
    opts.onBytes(0);
  }
}

/** LIST/NLST/MLSD: send a text body. */
export async function sendText(conn: DataConnection, text: string): Promise<number> {
  const bytes = Buffer.from(text, "utf8");
  await conn.writeAll(bytes);
  return bytes.length;
}

/** Where an upload's chunks go (a QuotaUpload, or a TYPE A converter in front of one). */
export interface ChunkSink {
  write(chunk: Uint8Array): void | Promise<void>;
  /** Bytes the storage holds so far, if the sink knows (a write that fails midway may have stored part of its chunk). */
  readonly written?: number;
  /** Whether the last write copied its chunk before it returned: a promise it returned holds none of it (an object store's part buffer). */
  readonly copied?: boolean;
}

/**
 * STOR/APPE: write each arriving chunk in order; the upload reserves quota for a chunk before it
 * touches storage. Resolves with the byte count only when the client ended the data connection in
 * order (FIN) and every write has landed; rejects on RST, ABOR, quota (QuotaExceeded), or a storage
 * error — the caller then lets the upload abort instead of committing a fragment.
 */
export function receiveFile(conn: DataConnection, upload: ChunkSink, opts: PumpOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let failed = false;
    // An asynchronous backend: writes in flight (positioned, so their order of completion does
    // not matter); the socket pauses while more than WRITE_WINDOW bytes wait for the disk.
    let pendingBytes = 0;
    let pendingWrites = 0;
    let drained: (() => void) | null = null;
    let paused = false;
    /** The rate limit's waits for chunks taken so far: the upload completes after them, not before. */
    let throttled: Promise<void> = Promise.resolve();
    /** Bytes read and dropped after a quota refusal (drainThenCut). */
    let dropped = -1;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      if (err instanceof QuotaExceeded && !opts.signal.aborted && !conn.closed) return drainThenCut(err);
      conn.abort();
      reject(err);
    };
    /**
     * A quota refusal mid-upload: read and drop the rest for a bounded while before cutting, so the
     * client finishes sending and reads the 552. Cut at once, curl said "(55) Failed sending data to
     * the peer" / "Connection reset by peer" and Python's ftplib ConnectionResetError, never the quota.
     * Ends at the client's FIN, DRAIN_MAX_BYTES or DRAIN_MAX_MS, whichever first (ABOR, the stall
     * timer and the session's end cut the connection, which ends it too); the reply waits for it.
     */
    const drainThenCut = (err: unknown) => {
      dropped = 0;
      conn.resume(); // paused for the disk or a rate limit: nothing more is written now
      let timer: ReturnType<typeof setTimeout> | undefined;
      const capped = new Promise<void>((r) => {
        timer = setTimeout(r, DRAIN_MAX_MS);
        endDrain = r;
      });
      void Promise.race([conn.untilEof(), capped]).then(() => {
        clearTimeout(timer);
        conn.abort();
        reject(err);
      });
    };
    let endDrain: (() => void) | null = null;
    const written = (n: number) => {
      pendingBytes -= n;
      pendingWrites--;
      if (paused && pendingBytes <= WRITE_WINDOW / 2) {
        paused = false;
        conn.resume();
      }
      if (pendingWrites === 0) drained?.();
    };
    /** Stores one chunk; true when a write in flight still holds it. */
    const take = (chunk: Buffer): boolean => {
      if (failed) return false;
      if (opts.signal.aborted) {
        fail(new TransferAborted("aborted"));
        return false;
      }
      let held = false;
      const before = upload.written;
      try {
        const w = upload.write(chunk);
        if (w) {
          held = !upload.copied;
          const n = chunk.length;
          pendingBytes += n;
          pendingWrites++;
          w.then(
            () => {
              opts.onStored?.(n);
              written(n);
            },
            (err) => {
              written(n);
              fail(err);
            },
          );
          if (pendingBytes > WRITE_WINDOW && !paused) {
            paused = true;
            conn.pause();
          }
        } else opts.onStored?.(chunk.length);
      } catch (err) {
        const part = before === undefined ? 0 : (upload.written ?? before) - before;
        if (part > 0) opts.onStored?.(Math.min(part, chunk.length));
        // It arrived all the same (the log's "received", the metrics' bytes in).
        opts.onBytes(chunk.length);
        fail(err);
        return held;
      }
      opts.hasher?.update(chunk);
      bytes += chunk.length;
      opts.onBytes(chunk.length);
      if (opts.limiters.length) {
        const ms = delayFor(opts.limiters, chunk.length);
        if (ms > 0) {
          conn.pause();
          const wait = throttle(ms, opts).then(() => {
            if (!paused) conn.resume();
          });
          // Settles after this wait and every one before it, holding nothing once settled (a
          // Promise.all chain nested one result array per throttled chunk of the upload).
          const before = throttled;
          throttled = wait.then(() => before);
        }
      }
      return held;
    };
    // Plain, unthrottled uploads read what the socket holds after each `data` event themselves
    // (direct-read.ts); not while chunks that came before the transfer are replayed (order).
    // A sink that keeps chunks (a write in flight: a local file, a quota lease) gets Bun's own from then on;
    // an object store copies each into its part buffer, so its uploads keep reading into one buffer.
    const fd = opts.directReads && !opts.limiters.length ? plainDescriptor(conn) : null;
    let live = false;
    let keeps = false;
    const go = () => !keeps && !failed && !paused && !conn.closed && !opts.signal.aborted;
    conn.onData((chunk) => {
      if (dropped >= 0) {
        dropped += chunk.length;
        if (dropped > DRAIN_MAX_BYTES) return endDrain?.();
        // Under --max-rate as the upload was: unthrottled, each refused STOR took up to 16 MiB at
        // once from a session held to 1 MB/s.
        const ms = opts.limiters.length ? delayFor(opts.limiters, chunk.length) : 0;
        if (ms > 0) {
          conn.pause();
          void throttle(ms, opts).then(() => conn.resume());
        }
        return;
      }
      if (take(chunk)) keeps = true;
      if (fd === null || !live || !go()) return;
      const end = readMore(fd, go, (c) => (take(c) ? (keeps = true) : false));
      if (end === "reset") fail(new TransferAborted("data connection reset"));
    });
    live = true;
    void conn.untilEof().then(async (how) => {
      // Only an orderly end (FIN) completes an upload: a reset is a broken one (BUN-NOTES).
      if (how === "reset") return fail(new TransferAborted("data connection reset"));
      // A TLS upload whose TCP FIN came without close_notify may have been cut on the path (a
      // forged FIN): what arrived is not known to be all (RFC 4217 §10, vsftpd's strict_ssl_read_eof).
      if (how === "cut") return fail(new FtpError(426, "Data connection closed without TLS close_notify: the upload may be truncated and is not taken as complete"));
      if (how === "malformed") return fail(new FtpError(426, "Malformed MODE B block header: upload aborted, nothing stored"));
      if (pendingWrites > 0) await new Promise<void>((r) => (drained = r));
      // In MODE B the end comes inside the data (its EOF block), often in the same chunk as the
      // file's last bytes: without this wait a small file finished at once and --max-rate held
      // nothing back (10 × 150 KB at 512 KB/s: 0.51 s against 1.49 s in MODE S).
      await throttled;
      if (opts.signal.aborted) return fail(new TransferAborted("aborted"));
      if (!failed) resolve(bytes);
    });
  });
}

/** After a quota refusal mid-upload, at most this many bytes are read and dropped before the cut… */
const DRAIN_MAX_BYTES = 16 * 1024 * 1024;
/** …and for at most this long (a client that trickles, or stops without a FIN). */
const DRAIN_MAX_MS = 10_000;

/** Bytes of one upload that may wait for the disk before its socket pauses. */
const WRITE_WINDOW = 4 * 1024 * 1024;
