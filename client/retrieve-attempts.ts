// RETR of one file into a sink (hasher.ts), attempt after attempt: from an offset to the file's end,
// reconnecting and continuing with REST after a drop (--retries), starting over at byte 0 when the
// server has no REST or ignores it, and refusing a file whose size changed meanwhile. Apart from
// retrieve.ts, whose downloadFile owns the part file and the checks around this loop, because a
// download to a stream (stdio-transfer.ts) runs the same loop with no part file.
import type { FtpClient } from "./client.ts";
import { RemoteChanged, RestUnsupported, SentMoreThanReported } from "./errors.ts";
import { LineAtFirstByte } from "./messages.ts";
import { countAttempts, worthRetrying } from "./retries.ts";
import type { Session } from "./session.ts";
import { download, jobLimiter } from "./transfer.ts";
import { TransferInterrupted, TransferRefused } from "./transfer-errors.ts";
import type { ChunkSink } from "./hasher.ts";
import type { FileContext } from "./file-transfer.ts";

export interface RetrieveHooks {
  /**
   * The line that says the download continues at its offset (and how the partial data was checked):
   * said once the server took REST (the first byte from there came, or none was left to come), never
   * before a server without REST makes the download start over, which its own line says.
   */
  resuming?: string | null;
  /** Runs after each failure, with every byte before `offset` in the sink; then a retry follows or not. */
  atDrop?(offset: number, retrying: boolean): void;
  /**
   * The server has no REST, so the file cannot be continued at a byte: empty what was received and
   * return the sink to fetch it again from byte 0 into. Without it (a stream already written out)
   * the refusal ends the download.
   */
  startOver?(): ChunkSink;
  /** Nothing will check the file once it is in (no size, no digest): see PumpOptions.requireCloseNotify. */
  requireCloseNotify?: boolean;
  /** The local file the sink writes, named when a write fails. */
  file?: string;
}

/**
 * RETR `path` into `sink` from `offset` to its end (`size`, when known), reconnecting and continuing
 * with REST after a drop, --retries times; returns the offset reached and the failed tries so far
 * (ctx.tried included), which count against --retries for what follows (the checks after the data).
 */
export async function retrieve(
  session: Session,
  path: string,
  offset: number,
  size: number | null,
  sink: ChunkSink,
  ctx: Pick<FileContext, "opts" | "note" | "progress" | "handBack" | "tried">,
  hooks: RetrieveHooks = {},
): Promise<{ offset: number; attempt: number }> {
  const limiter = jobLimiter(ctx.opts);
  let attempt = ctx.tried ?? 0;
  const resumeLine = new LineAtFirstByte(ctx.note);
  resumeLine.set(hooks.resuming ?? null);
  for (;;) {
    ctx.progress.start(offset, size);
    const client = session.client;
    try {
      const n = await download(client, path, offset, {
        sink,
        file: hooks.file,
        limiter,
        stallMs: ctx.opts.stallMs,
        limit: size === null ? undefined : size - offset,
        requireCloseNotify: size === null && hooks.requireCloseNotify,
        onProgress: resumeLine.watch((m) => ctx.progress.update(m)),
      });
      resumeLine.say();
      offset += n;
      if (size !== null && offset < size) {
        // The server called it complete: a file cut short (or replaced) since the download began
        // is said so, not retried as a network failure that only ever ends early again.
        await refuseIfResized(client, path, size);
        throw new TransferInterrupted(`the transfer ended early at ${offset} of ${size} bytes`, 0);
      }
      return { offset, attempt };
    } catch (err) {
      // Refused before any byte moved, on a session that goes on: fetch the whole file instead.
      if (err instanceof RestUnsupported && offset > 0 && hooks.startOver) {
        resumeLine.set(null); // it does not resume: this line says what happens instead
        ctx.note.warn(`${err.message}: downloading ${path} again from byte 0 instead of continuing at byte ${offset}`);
        sink = hooks.startOver();
        offset = 0;
        continue;
      }
      if (err instanceof TransferInterrupted || err instanceof TransferRefused) offset += err.moved;
      // More than the file has after REST, its size unchanged on a new session: the server answered
      // REST with 350 and sent from byte 0 anyway (its bytes went past the file's end). Each resume
      // failed so ("is the file still growing?", exit 7): it starts over instead, as without REST.
      if (err instanceof SentMoreThanReported && size !== null && (await refuseIfGrown(session, client, path, size, ctx.note)) && offset > 0 && hooks.startOver) {
        resumeLine.set(null);
        ctx.note.warn(`the server ignores REST (after REST ${offset} it sent more than the file's ${size - offset} bytes from there): downloading ${path} again from byte 0`);
        sink = hooks.startOver();
        offset = 0;
        continue;
      }
      attempt++;
      const retrying = attempt <= ctx.opts.retries && (await worthRetrying(client, err));
      hooks.atDrop?.(offset, retrying);
      if (attempt > ctx.opts.retries && ctx.opts.retries > 0) countAttempts(err, attempt, ctx.opts.retries, await worthRetrying(client, err));
      if (!retrying || ctx.handBack?.(offset)) throw err;
      ctx.note.warn(`${(err as Error).message}; reconnecting (attempt ${attempt} of ${ctx.opts.retries})`);
      attempt = await session.reconnect(attempt, ctx.note, client);
      if (size !== null) await refuseIfResized(session.client, path, size);
    }
  }
}

/**
 * A file whose size is no longer the one the download began with cannot be continued: a RemoteChanged
 * (the bytes that came may be the old file's, the new one's, or both: the caller says where they are).
 */
async function refuseIfResized(client: FtpClient, path: string, size: number): Promise<void> {
  const now = await client.size(path).catch(() => null);
  if (now === null || now === size) return;
  throw new RemoteChanged(`size ${size} → ${now}`);
}

/**
 * More bytes than SIZE reported came, and the session is gone (the transfer quit it): a new one asks
 * the size again. Grown: the file changed (vsftpd sends a file appended to as it grows). Else, or when
 * no new session opens (false), it stays the server's protocol error.
 */
async function refuseIfGrown(session: Session, failed: FtpClient, path: string, size: number, note: { warn(msg: string): void }): Promise<boolean> {
  if (!(await session.reconnect(0, note, failed).then(() => true, () => false))) return false;
  await refuseIfResized(session.client, path, size);
  return true;
}
