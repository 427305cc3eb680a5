// One segment of a segmented download (--segments): RETR from a byte into the same positions of the
// part file, the data connection dropped once the range is in, and the session kept in step.
import { writeSync } from "node:fs";
import type { FtpClient } from "./client.ts";
import { replyError } from "./client.ts";
import { payDebt, Throttle, type TokenBucket } from "./rate-limit.ts";
import { DEFAULT_STALL_MS, finalReply, stalledMessage, watchStall } from "./transfer.ts";
import { localWriteError, TransferInterrupted } from "./transfer-errors.ts";

/**
 * How long a segment waits for RETR's final reply once its data connection closed. The reply decides
 * nothing (the range is in, or the segment ended short either way): it keeps the session in step, or
 * names why the segment ended. A server that lost the data connection may never send it.
 */
const SEGMENT_REPLY_MS = 5000;

/**
 * How long the range that ends at the file's end, all in, waits for the server to close its data
 * connection (as one that honoured REST does) or to send on past the file's end (as one that ignored
 * REST and began at byte 0 does), before it closes it itself.
 */
const FILE_END_GRACE_MS = 1000;

/** What a range brought: its bytes, and whether the server sent on past the file's end (`toEnd` only). */
export interface RangeResult {
  moved: number;
  beyond: boolean;
}

/**
 * RETR bytes [start, end) of `path` into `fd` at the same positions (one segment of a segmented
 * download). Returns the bytes written, and for the range that ends at the file's end (`toEnd`)
 * whether more came after it. When `end` is before the end of the file the data connection
 * is dropped once the range is in, and the server's answer to that (426, or 226) awaited, so the
 * session stays in step for the caller to reuse or QUIT; without an answer in time it is dropped
 * (`client.control.isClosed`).
 */
export async function downloadRange(
  client: FtpClient,
  path: string,
  fd: number,
  start: number,
  end: number,
  opts: {
    stallMs?: number;
    onBytes?: (n: number) => void;
    limiter?: TokenBucket;
    file?: string;
    toEnd?: boolean;
    /** Aborted: the job no longer needs this session in step (it goes on in one stream): the reply is not waited for. */
    giveUp?: AbortSignal;
  },
): Promise<RangeResult> {
  const t = await client.transfer("RETR", path, { rest: start, restAtZero: true });
  const throttle = new Throttle(opts.limiter, t.conn);
  let pos = start;
  let writeError: Error | null = null;
  const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
  const stall = watchStall(t.conn, stallMs, () => throttle.lastActive());
  let beyond = false;
  let ending: ReturnType<typeof setTimeout> | undefined;
  t.conn.onData((chunk) => {
    if (writeError || beyond) return;
    if (pos >= end) {
      // Only the last range reads on at its end: this is a byte past the file's end.
      if (opts.toEnd) {
        beyond = true;
        t.conn.destroy();
      }
      return;
    }
    const take = Math.min(chunk.length, end - pos);
    try {
      let off = 0;
      while (off < take) off += writeSync(fd, chunk, off, take - off, pos + off);
    } catch (err) {
      writeError = err as Error;
      t.conn.destroy();
      return;
    }
    pos += take;
    opts.onBytes?.(take);
    if (pos >= end) {
      opts.limiter?.take(take); // counted: the debt is waited out before returning
      // A server that answered REST with 350 and sent from byte 0 anyway fills every range with the
      // file's head: only the last range can tell, by what comes after the file's last byte.
      if (opts.toEnd && take === chunk.length) return void (ending = setTimeout(() => t.conn.destroy(), Math.min(stallMs || FILE_END_GRACE_MS, FILE_END_GRACE_MS)));
      if (opts.toEnd) beyond = true;
      return void t.conn.destroy(); // our range is in: the rest belongs to other segments
    }
    throttle.after(take);
  });
  await t.conn.closed;
  clearTimeout(ending);
  stall.stop();
  const moved = pos - start;
  if (writeError) throw localWriteError("write", opts.file ?? "the local file", writeError);
  const grace = stallMs ? Math.min(stallMs, SEGMENT_REPLY_MS) : SEGMENT_REPLY_MS;
  const graceFlag = grace === stallMs ? undefined : null;
  // Pure-FTPd answers a data connection closed under it with a second 1yz and nothing after: that
  // is its last word. The session cannot be reused (its final reply is still awaited) but need not
  // be waited on either: it goes at once, and the next segment or the verdict opens another.
  const answer = async () => {
    const given = abandoned(opts.giveUp);
    try {
      return await Promise.race([finalReply(t.done, grace, moved, graceFlag), t.further?.then(() => null) ?? new Promise<never>(() => {}), given.now]);
    } finally {
      given.off();
    }
  };
  if (pos >= end) {
    // Reset together with the data connection, the control connection made pyftpdlib (under load)
    // drop a sibling segment's new data connection and never answer its RETR (segments.test.ts).
    // Bytes past the file's end: the job goes on in one stream (or finds the file changed), and a
    // server that sent them may never answer the RETR cut short: the session goes now.
    if (beyond || !(await answer().then((r) => r !== null, () => false))) client.destroy();
    await payDebt(opts.limiter);
    return { moved, beyond };
  }
  if (stall.stalled) throw new TransferInterrupted(stalledMessage(stallMs, moved), moved);
  // Ended short: retried whatever the reply says. pyftpdlib, having lost the data connection, answers
  // "150 About to open data connection" and then waits for one: no reply would ever come.
  const reply = await answer();
  if (reply && reply.code >= 300) throw new TransferInterrupted(replyError(`RETR ${path}`, reply).message, moved, reply.code);
  if (!reply) client.destroy();
  throw new TransferInterrupted(`the segment ended early at byte ${pos} of ${start}-${end}`, moved);
}

/** Resolves null once `signal` aborts (never without one); `off` removes the listener. */
function abandoned(signal: AbortSignal | undefined): { now: Promise<null>; off: () => void } {
  if (!signal) return { now: new Promise<never>(() => {}), off: () => {} };
  if (signal.aborted) return { now: Promise.resolve(null), off: () => {} };
  let listener = () => {};
  const now = new Promise<null>((resolve) => (listener = () => resolve(null)));
  signal.addEventListener("abort", listener, { once: true });
  return { now, off: () => signal.removeEventListener("abort", listener) };
}
