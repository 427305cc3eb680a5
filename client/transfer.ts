// Download and upload pumps: stream between a data connection and a file at explicit positions,
// hashing while streaming, rate-limited by a token bucket, reporting progress. The errors they
// throw (and their callers classify) are in transfer-errors.ts.
import { readSync } from "node:fs";
import type { FtpClient } from "./client.ts";
import type { Connection } from "./connection.ts";
import type { FtpReply } from "../protocol/reply.ts";
import { writtenBefore, type ChunkSink } from "./hasher.ts";
import { ClientError, replyError } from "./client.ts";
import { SentMoreThanReported } from "./errors.ts";
import { endedBy, LocalWriteError, localWriteError, refusesStorage, TransferInterrupted } from "./transfer-errors.ts";
import { BufferPool } from "../protocol/buffer-pool.ts";
import { pacedSlice, payDebt, Throttle, type TokenBucket } from "./rate-limit.ts";

// The rate limiter lives in rate-limit.ts; the pumps' callers take it from here as before.
export { jobLimiter, TokenBucket, withJobLimiter } from "./rate-limit.ts";

export interface PumpOptions {
  /** Where the bytes go besides the network: the file (downloads) and the running digest. */
  sink: ChunkSink;
  /** Downloads: the local file the sink writes, named when a write fails. */
  file?: string;
  limiter?: TokenBucket;
  /** Called with the total count of bytes moved in this call. */
  onProgress?: (moved: number) => void;
  /** Give up (retryably) when the data connection moves no byte for this long; 0 = never. */
  stallMs?: number;
  /** Downloads: the bytes the server said are left; it may not send more (a disk is not endless). */
  limit?: number;
  /**
   * Uploads: once aborted, the data connection is reset at once (synchronously, so a signal handler
   * can exit right after): a reset tells the server the upload broke, where a close says it ended.
   */
  signal?: AbortSignal;
  /** Uploads: the last byte is sent and the data connection shut down (the server may now store it whole). */
  onAllSent?: () => void;
  /**
   * Downloads over TLS (PROT P) that nothing else can check (no size, no digest): a data connection
   * that ends without the server's close_notify, with a bare TCP FIN anyone on the path can forge,
   * is a cut transfer, not a complete one.
   */
  requireCloseNotify?: boolean;
}

/** Default stall timeout of data connections (a stalled server must not hang a transfer forever). */
export const DEFAULT_STALL_MS = 60_000;

/**
 * Watch a pump's data connection: once it has moved no byte for `ms` (0: never), mark it stalled and
 * destroy the connection. `lastMoved` says when it last did: by default when `conn` last did, but a
 * pump whose other end is a pipe also counts the pipe (a slow reader of stdout, a writer to stdin
 * that pauses is not a stalled server).
 */
export function watchStall(conn: Connection, ms: number, lastMoved: () => number = () => conn.lastActivity): { readonly stalled: boolean; stop(): void } {
  const state = { stalled: false, stop: () => {} };
  if (!ms) return state;
  const timer = setInterval(() => {
    if (performance.now() - lastMoved() > ms) {
      clearInterval(timer);
      state.stalled = true;
      conn.destroy();
    }
  }, Math.min(1000, Math.max(25, ms / 4)));
  state.stop = () => clearInterval(timer);
  return state;
}

/**
 * The final reply of a transfer, but no longer than `ms` after the data stopped (0 = no bound).
 * `flag`: the error names it as the bound (ms is --stall-timeout's), unless null.
 */
export async function finalReply(done: Promise<FtpReply>, ms: number, moved: number, flag: string | null = "--stall-timeout"): Promise<FtpReply> {
  if (!ms) return done;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no reply in ${ms / 1000} s after the data connection closed${flag ? ` (${flag})` : ""}`)), ms);
      }),
    ]);
  } catch (err) {
    throw new TransferInterrupted(`connection lost after ${moved} bytes: ${(err as Error).message}`, moved);
  } finally {
    clearTimeout(timer);
  }
}

export function stalledMessage(ms: number, moved: number): string {
  return `the data connection stalled (no byte for ${ms / 1000} s) after ${moved} bytes`;
}

/** How long a download with every reported byte and its 226 in waits for the server to close the data connection. */
const ALL_IN_GRACE_MS = 1000;

/**
 * RETR `path` from `offset` into the sink's file at positions offset…; returns the bytes received.
 * Complete only when the data connection closed, the final 2yz reply arrived and the sink wrote
 * every byte.
 */
export async function download(client: FtpClient, path: string, offset: number, opts: PumpOptions): Promise<number> {
  const t = await client.transfer("RETR", path, { rest: offset });
  const sink = opts.sink;
  let pos = offset;
  let moved = 0;
  let writeError: Error | null = null;
  const throttle = new Throttle(opts.limiter, t.conn);
  let overrun = false;
  const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
  /** When the sink last finished a write: one to a pipe can block for as long as its reader waits. */
  let wroteAt = 0;
  const stall = watchStall(t.conn, stallMs, () => Math.max(throttle.lastActive(), wroteAt));
  // Every byte the server reported, and its 226 for them: the transfer is over, whether or not the
  // server closes the data connection (a broken or hostile one that keeps it open had a complete
  // download fail as stalled after --stall-timeout; lftp took it after its own timeout).
  // Ended a moment later, not at once: bytes still in flight behind the 226 (a file grown since SIZE,
  // the server's close and its 226 read in either order) must still be seen as more than reported.
  let finalOk = false;
  let ending: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const endIfAllIn = () => {
    if (closed || ending || !finalOk || opts.limit === undefined || moved !== opts.limit) return;
    ending = setTimeout(() => t.conn.destroy(), stallMs ? Math.min(stallMs, ALL_IN_GRACE_MS) : ALL_IN_GRACE_MS);
  };
  void t.done.then(
    (r) => {
      finalOk = r.code < 300;
      endIfAllIn();
    },
    () => {},
  );
  t.conn.onData((chunk) => {
    if (writeError || overrun) return;
    if (opts.limit !== undefined && moved + chunk.length > opts.limit) {
      overrun = true;
      t.conn.destroy();
      return;
    }
    const n = chunk.length;
    try {
      sink.put(chunk, pos);
    } catch (err) {
      writeError = err as Error;
      t.conn.destroy();
      // The part of the chunk the disk took before it refused is in the file: received, and counted
      // (the next try, or a resume, goes on after it).
      const part = writtenBefore(err);
      pos += part;
      moved += part;
      if (part > 0) opts.onProgress?.(moved);
      return;
    }
    wroteAt = performance.now();
    pos += n;
    moved += n;
    opts.onProgress?.(moved);
    throttle.after(n);
    endIfAllIn();
  });
  await t.conn.closed;
  closed = true; // the 226 usually comes after the close: no timer is then left to hold the process
  clearTimeout(ending);
  stall.stop();
  if (writeError) {
    await client.quit();
    const msg = (writeError as Error).message;
    if (msg.startsWith("cannot write")) throw new LocalWriteError(msg, (writeError as { code?: string }).code);
    throw localWriteError("write", opts.file ?? "the local file", writeError);
  }
  if (stall.stalled) throw new TransferInterrupted(stalledMessage(stallMs, moved), moved);
  if (overrun) {
    await client.quit();
    throw new SentMoreThanReported(`the server sent more than the ${opts.limit} bytes it reported for ${path} (is the file still growing?); stopped reading`);
  }
  const reply = await finalReply(t.done, stallMs, moved);
  if (reply.code >= 300) throw endedBy(`RETR ${path}`, reply, moved);
  if (t.conn.error) throw new TransferInterrupted(`data connection failed after ${moved} bytes: ${t.conn.error.message}`, moved);
  if (opts.requireCloseNotify && t.conn.closeNotify === false) {
    throw new TransferInterrupted(`the data connection ended after ${moved} bytes without TLS close_notify, and the server gives no size or digest to check the file by: it may be cut short`, moved);
  }
  await payDebt(opts.limiter);
  return moved;
}

const CHUNK = 1024 * 1024;
/** Read buffers of uploads (one per concurrent upload is kept). */
const uploadBuffers = new BufferPool(CHUNK, 16);

/**
 * Upload bytes [offset, size) of `fd` with `verb` ("STOR" after REST offset, or "APPE"); returns the
 * bytes sent. Reads with readSync at explicit positions into one reused buffer.
 */
export async function upload(
  client: FtpClient,
  path: string,
  fd: number,
  offset: number,
  size: number,
  verb: "STOR" | "APPE",
  opts: PumpOptions,
): Promise<number> {
  const buf = uploadBuffers.take();
  let pos = offset;
  try {
    return await send(client, path, verb, offset, opts, () => {
      if (pos >= size) return null;
      const n = readSync(fd, buf, 0, Math.min(CHUNK, size - pos), pos);
      if (n <= 0) throw new ClientError("the local file shrank during the upload", { kind: "local" });
      pos += n;
      return n === buf.length ? buf : buf.subarray(0, n);
    });
  } finally {
    uploadBuffers.give(buf); // every write was awaited: the kernel holds its own copy of each byte
  }
}

/** STOR what `stream` yields (standard input) from its first byte; returns the bytes sent. */
export async function uploadStream(client: FtpClient, path: string, stream: ReadableStream<Uint8Array>, opts: PumpOptions): Promise<number> {
  const reader = stream.getReader();
  try {
    return await send(client, path, "STOR", 0, opts, async () => {
      try {
        const r = await reader.read();
        return r.done ? null : r.value;
      } catch (err) {
        throw new ClientError(`cannot read standard input: ${(err as Error).message}`, { kind: "local" });
      }
    });
  } finally {
    reader.releaseLock();
  }
}

/**
 * Send the chunks `next` gives (null: the end) with `verb`, the file's bytes from `offset` on. Each
 * write is awaited until the kernel took all of it (so `next` may reuse its buffer), then the
 * connection is shut down (never end()) and the final reply read.
 */
async function send(
  client: FtpClient,
  path: string,
  verb: "STOR" | "APPE",
  offset: number,
  opts: PumpOptions,
  next: () => Uint8Array | null | Promise<Uint8Array | null>,
): Promise<number> {
  const t = await client.transfer(verb, path, { rest: verb === "STOR" ? offset : 0 });
  let pos = offset;
  let moved = 0;
  const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
  /** Waiting for `next` (stdin can pause for minutes) or for the rate limit is not a stall; the clock restarts after it. */
  let waiting = false;
  let waitedAt = 0;
  const stall = watchStall(t.conn, stallMs, () => (waiting ? performance.now() : Math.max(t.conn.lastActivity, waitedAt)));
  const waitFor = async <T>(what: T | Promise<T>): Promise<T> => {
    waiting = true;
    try {
      return await what;
    } finally {
      waiting = false;
      waitedAt = performance.now();
    }
  };
  const read = () => waitFor(next());
  const step = opts.limiter ? pacedSlice(opts.limiter.rate) : Infinity;
  const reset = () => t.conn.destroy();
  if (opts.signal?.aborted) reset();
  opts.signal?.addEventListener("abort", reset, { once: true });
  try {
    for (let view = await read(); view !== null; view = await read()) {
      for (let off = 0; off < view.length; off += step) {
        const slice = step >= view.length ? view : view.subarray(off, Math.min(view.length, off + step));
        const wait = opts.limiter?.take(slice.length) ?? 0;
        if (wait > 0) await waitFor(Bun.sleep(wait));
        await t.conn.write(slice);
        opts.sink.sent(slice, pos);
        pos += slice.length;
        moved += slice.length;
        opts.onProgress?.(moved);
      }
    }
  } catch (err) {
    stall.stop();
    opts.signal?.removeEventListener("abort", reset);
    t.conn.destroy();
    if (stall.stalled) throw new TransferInterrupted(stalledMessage(stallMs, moved), moved);
    if (err instanceof ClientError && !(err instanceof TransferInterrupted) && !err.retryable) throw err;
    // A server refusing the rest ends the data connection and says why on the control one: Pure-FTPd
    // over quota resets it, then "552 Quota exceeded: [/f] won't be saved". Read as a lost connection,
    // the upload was sent again --retries times and ended with "run ftpkit resume", which could only
    // fail the same way. Its reply decides, when it comes within a moment (not after Ctrl-C).
    const reply = opts.signal?.aborted ? null : await finalReply(t.done, Math.min(stallMs || REFUSAL_GRACE_MS, REFUSAL_GRACE_MS), moved).catch(() => null);
    if (reply && reply.code >= 400) refused(reply, verb, path, moved);
    throw new TransferInterrupted(`connection lost after ${moved} bytes: ${(err as Error).message}`, moved);
  }
  stall.stop();
  opts.signal?.removeEventListener("abort", reset);
  t.conn.shutdown();
  opts.onAllSent?.();
  let reply;
  try {
    reply = await finalReply(t.done, stallMs, moved);
  } finally {
    // The server closes its side after reading everything; don't wait forever for it.
    await settleWithin(t.conn.closed, 2000);
    t.conn.close();
  }
  if (reply.code >= 300) refused(reply, verb, path, moved);
  return moved;
}

/** How long an upload whose data connection broke waits for the server's reply saying why. */
const REFUSAL_GRACE_MS = 3000;

/** Throw for an upload's final reply that is not a success. */
function refused(reply: FtpReply, verb: string, path: string, moved: number): never {
  const e = replyError(`${verb} ${path}`, reply);
  // The server will not store more (552: over quota, 452: out of space): not a broken connection,
  // and sending the file again would end the same way.
  if (refusesStorage(reply.code)) throw new ClientError(e.message, { code: reply.code });
  throw endedBy(`${verb} ${path}`, reply, moved);
}

/** Wait for `p` at most `ms` (without a timer left behind to hold the process open). */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p.catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
