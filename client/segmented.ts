// `ftpkit get --segments N`: one big download over N connections, each fetching its own byte range
// (REST + RETR, like lftp's pget -n) into one partial file; then the whole file is hashed and
// verified as one. Segment progress is kept in the journal record, so `ftpkit resume` continues
// every segment where it stopped.
import { closeSync, constants, existsSync, fchmodSync, fstatSync, fsyncSync, ftruncateSync, futimesSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { ClientError } from "./client.ts";
import { failureKind, RemoteChanged, RestUnsupported } from "./errors.ts";
import { askDigest, describeChange, lockDownload, refuseIfChanged, localDigest, remoteState, remoteTimeToKeep, setAsideBad, unverifiedReason, type FileContext, type FileOutcome, type RemoteExpectation } from "./file-transfer.ts";
import { chunkSink } from "./hasher.ts";
import { isRetryable, worthResuming, worthRetrying } from "./retries.ts";
import type { Session } from "./session.ts";
import { jobLimiter } from "./transfer.ts";
import { localWriteError, partFileError, TransferInterrupted } from "./transfer-errors.ts";
import { downloadRange } from "./segment-range.ts";
import { checkSegments } from "./segment-check.ts";
import { downloadFile } from "./retrieve.ts";
import { RESUME_HINT } from "./options.ts";
import { downloadModes, setFinalModes } from "./local-modes.ts";
import { CLI_WORDS } from "./option-words.ts";

/** Bytes moved between saves of the segments' progress, besides the half-second timer (a save: ~0.1 ms). */
const SAVE_EVERY = 64 << 20;

/** One byte range [start, end) of the file; `pos` is how far it got. */
export interface Segment {
  start: number;
  end: number;
  pos: number;
}

/** Split `size` bytes into `n` ranges (at least 1 MiB each). */
export function planSegments(size: number, n: number): Segment[] {
  const count = Math.max(1, Math.min(n, Math.floor(size / (1 << 20)) || 1));
  const step = Math.ceil(size / count);
  const out: Segment[] = [];
  for (let start = 0; start < size; start += step) out.push({ start, end: Math.min(size, start + step), pos: start });
  return out.length ? out : [{ start: 0, end: 0, pos: 0 }];
}

export interface SegmentedJob {
  remote: string;
  local: string;
  part: string;
  /** Segments from an interrupted run (their `pos` is kept in the record), or none for a fresh start. */
  segments?: Segment[];
  count: number;
  /** Persist the segments' progress (called every half second and when the job stops). */
  save(segments: Segment[]): void;
  /** Resuming: the remote file as the interrupted run saw it (a changed one is refused, not spliced). */
  expect?: RemoteExpectation;
  /** The server has no REST: the job goes on as a single download (its record forgets the segments). */
  single(): void;
  /** Give the file the remote modification time (MDTM), when the server offers MDTM (DownloadJob.remoteTime). */
  remoteTime?: boolean;
}

/**
 * Download in segments; on a server without REST (a range cannot start anywhere but at byte 0) the
 * file comes over one stream instead, from byte 0, verified the same way.
 */
export async function segmentedDownload(first: Session, open: () => Promise<Session>, job: SegmentedJob, ctx: FileContext): Promise<FileOutcome> {
  try {
    return await inSegments(first, open, job, ctx);
  } catch (err) {
    if (!(err instanceof RestUnsupported)) throw err;
    ctx.note.warn(`${err.message}: downloading in one stream instead of ${job.count} segments`);
    job.single();
    // Its lock was released with inSegments: downloadFile takes it again.
    return await downloadFile(first, { remote: job.remote, local: job.local, part: job.part, resuming: false, remoteTime: job.remoteTime }, ctx);
  }
}

async function inSegments(first: Session, open: () => Promise<Session>, job: SegmentedJob, ctx: FileContext): Promise<FileOutcome> {
  const { note, algo, progress } = ctx;
  // One limiter for every segment: --limit-rate is the download's rate, not each connection's.
  const limiter = jobLimiter(ctx.opts);
  using _lock = lockDownload(job.part, job.local);
  ctx.locked?.();
  const st = await remoteState(first.client, job.remote);
  if (st.missing) throw new ClientError(`remote file not found or not a file: ${job.remote}`, { code: 550 });
  if (st.size === null) throw new ClientError(`${(ctx.opts.words ?? CLI_WORDS).segments} needs the file's size, and the server does not report it (SIZE)`, { kind: "server" });
  const size = st.size;
  if (job.segments?.length && job.expect) refuseIfChanged(job.expect, st);
  ctx.beforeFirstByte({ size, mtime: st.mtime });
  let recorded = job.segments?.length && job.segments.at(-1)!.end === size ? job.segments : null;
  // The recorded progress holds only with the part file it describes (created at the full size):
  // without it, the "done" ranges were zeros in a file that then passed as complete.
  if (recorded && !(existsSync(job.part) && statSync(job.part).size === size)) {
    note.info("the partial file is gone or not at the file's size (cut short, or grown by another program): every segment starts over");
    recorded = null;
  }
  const segments = recorded ?? planSegments(size, job.count);
  const modes = await downloadModes(job.local, undefined);
  let fd: number;
  try {
    fd = openPartFile(job.part, modes.part);
  } catch (err) {
    // A fresh job that could not open its part file (a link standing there, a read-only directory)
    // has nothing to resume: its record goes, as a single stream's does; a resumed one keeps its own.
    if (!job.segments?.length) ctx.discard();
    throw err;
  }
  let saver: ReturnType<typeof setInterval> | undefined;
  const sessions: Session[] = [first];
  try {
    if (fstatSync(fd).size !== size) {
      try {
        ftruncateSync(fd, size);
      } catch (err) {
        // A size the file system cannot hold (EFBIG: a server reporting petabytes), or no room for
        // the file's length: one line naming the part file; a new job leaves nothing behind, as a
        // single stream's does when nothing landed.
        if (!recorded) {
          rmSync(job.part, { force: true });
          ctx.discard();
        }
        throw localWriteError("write", job.part, err);
      }
    }
    // Sessions that checked segments (side by side), idle: the segments go on over them.
    const checked = recorded ? await checkSegments(first, open, job.count, job.remote, segments, fd, ctx) : [];
    sessions.push(...checked);
    const done = segments.reduce((n, s) => n + (s.pos - s.start), 0);
    progress.start(done, size);
    let moved = 0;
    // Saved every half second, and also as soon as a range writes its first bytes of this run and
    // after every SAVE_EVERY bytes: on loopback a whole file can come within the first half second
    // (200 MB in 0.3 s), and a kill then lost every segment's position (resume fetched it all again).
    let unsaved = 0;
    const begun = new Set<Segment>();
    const save = (): void => {
      unsaved = 0;
      job.save(segments);
    };
    saver = setInterval(save, 500);
    const queue = segments.filter((s) => s.pos < s.end);
    const attempts = new Map<Segment, number>();
    let failure: Error | null = null;
    /** A REST refused as unsupported, and the session that got the refusal (idle, logged in). */
    let noRest = null as { err: RestUnsupported; session: Session } | null; // set by the workers: not narrowed to null
    const refusals: Error[] = [];
    /** Workers in a ranged RETR right now. */
    let downloading = 0;
    /** Workers opening a connection: a refusal gives their segment back to the queue. */
    let opening = 0;
    /** Workers with a session and nothing left to take, waiting while others open (wake: opening changed). */
    const idle: Array<() => void> = [];
    const wake = (): void => {
      for (const resume of idle.splice(0)) resume();
    };
    /** The last range brought bytes past the file's end (REST ignored, or the file grew), from this byte. */
    let beyondFrom: number | null = null;
    // Aborted once the job will not go on in segments: ranges waiting for the reply to a RETR they cut
    // short stop waiting (a server that ignores REST may never send it: 5 s each, SEGMENT_REPLY_MS).
    const giveUp = new AbortController();
    const why = unverifiedReason(note);
    /**
     * The server's digest, asked by the first connection left without a segment while the others
     * still download: a server that hashes on demand (ProFTPD, ftpkit for ranged sends) reads the file
     * meanwhile, not after the last byte. Null when that connection failed: asked again at the verdict.
     */
    let early: Promise<Awaited<ReturnType<typeof askDigest>> | null> | null = null;
    /** Why that early ask failed (a digest that outlasted --stall-timeout is not asked again). */
    let earlyFailure: unknown = null;
    const worker = async (s: Session | null): Promise<void> => {
      for (;;) {
        const seg = queue.shift();
        if (!seg && !failure && !noRest && s && opening > 0) {
          // Not done yet: a connection being opened may be refused and give its segment back
          // (ProFTPD's MaxClientsPerHost answers after the first ranges have ended).
          await new Promise<void>((resume) => idle.push(resume));
          continue;
        }
        if (!seg || failure || noRest) {
          if (!seg && !failure && !noRest && s) {
            if (!early && ctx.verify && localDigest(s.client, ctx)) {
              early = askDigest(s.client, job.remote, algo, true, () => size, why).catch((err: unknown) => {
                earlyFailure = err;
                return null;
              });
            }
            // Done: an extra session says goodbye now (the job's first carries on to the verdict).
            else if (s !== first) await s.close();
          }
          return;
        }
        if (!s) {
          opening++;
          try {
            s = await open();
            opening--;
            wake();
          } catch (err) {
            opening--;
            queue.push(seg);
            refusals.push(err as Error);
            // Another connection refused (421, or a 530 "too many clients from your host") while
            // others download or wait for such a segment: they go on, with fewer segments at a
            // time (as a tree job does).
            const othersGoOn = downloading > 0 || idle.length > 0;
            wake();
            if (othersGoOn) {
              if (refusals.length === 1) note.warn(`could not open another connection (${(err as Error).message}); continuing with fewer segments at a time`);
              return;
            }
            // None downloads (a server allowing one session may not have freed the last one yet):
            // this one tries again, --retries times, after a pause.
            const tries = (attempts.get(seg) ?? 0) + 1;
            attempts.set(seg, tries);
            if (tries > ctx.opts.retries) {
              failure ??= err as Error;
              return;
            }
            await Bun.sleep(Math.min(2000, 250 * 2 ** (tries - 1)));
            continue;
          }
          sessions.push(s);
        }
        downloading++;
        try {
          const from = seg.pos;
          const r = await downloadRange(s.client, job.remote, fd, seg.pos, seg.end, {
            stallMs: ctx.opts.stallMs,
            limiter,
            file: job.part,
            toEnd: seg.end === size,
            giveUp: giveUp.signal,
            onBytes: (b) => {
              seg.pos += b;
              moved += b;
              progress.update(moved);
              unsaved += b;
              if (!begun.has(seg)) {
                begun.add(seg);
                save();
              } else if (unsaved >= SAVE_EVERY) save();
            },
          });
          if (r.beyond) {
            beyondFrom = from;
            giveUp.abort();
          }
          // In step after its RETR's reply (downloadRange), the session takes the next segment;
          // without that reply it was dropped.
          if (s.client.control.isClosed) s = null;
          downloading--;
        } catch (err) {
          downloading--;
          if (err instanceof RestUnsupported && s && !noRest) {
            // No segment but the first can start: stop the others (their bytes would be fetched
            // again by the single stream anyway); this session, idle, carries the job on.
            noRest = { err, session: s };
            giveUp.abort();
            for (const x of sessions) if (x !== s) x.destroy();
            return;
          }
          if (noRest) return;
          // Also a refusal after which the server hung up (session.worthRetrying).
          const worth = err instanceof TransferInterrupted || isRetryable(err) || (!!s && (await worthRetrying(s.client, err)));
          s?.destroy();
          s = null;
          const tries = (attempts.get(seg) ?? 0) + 1;
          attempts.set(seg, tries);
          if (!worth) {
            failure ??= err as Error;
            return;
          }
          if (tries > ctx.opts.retries) {
            failure ??= err as Error;
            return;
          }
          note.warn(`segment ${seg.start}-${seg.end}: ${(err as Error).message}; retrying (attempt ${tries} of ${ctx.opts.retries})`);
          queue.push(seg);
        }
      }
    };
    const extra = Math.max(0, Math.min(job.count, queue.length) - 1);
    for (const s of checked.splice(extra)) {
      sessions.splice(sessions.indexOf(s), 1);
      await s.close();
    }
    await Promise.all([worker(first), ...Array.from({ length: extra }, (_, i) => worker(checked[i] ?? null))]);
    clearInterval(saver);
    job.save(segments);
    if (noRest) {
      const { err, session } = noRest;
      if (session !== first) {
        first.client.destroy();
        first.client = session.client; // the job's session goes on over the connection that is still up
        sessions.splice(sessions.indexOf(session), 1);
      }
      throw err;
    }
    if (failure) throw failure;
    const missing = segments.find((s) => s.pos < s.end);
    // Every connection gone, the last ones refused on opening: that refusal is the reason.
    if (missing) throw new TransferInterrupted(`segment ${missing.start}-${missing.end} is incomplete${refusals.length ? ` (${refusals.at(-1)!.message})` : ""}`, 0);
    if (ctx.opts.fsync) fsyncSync(fd);
    let verdictClient = sessions.find((x) => !x.client.control.isClosed);
    if (!verdictClient) {
      verdictClient = await open();
      sessions.push(verdictClient);
    }
    // More than the file has after the last range's REST, and the file the same size: the server
    // sent from byte 0 whatever REST said, and every range but the first holds the file's head (a
    // server without HASH had it pass as "size verified"). It comes over one stream instead. A file
    // that grew is left to the verdict, which tells a changed file.
    if (beyondFrom !== null) {
      const now = await remoteState(verdictClient.client, job.remote).catch(() => null);
      if (now && !now.missing && now.size === size) {
        if (first.client.control.isClosed) {
          first.client = verdictClient.client; // the job's session goes on over the connection that is still up
          sessions.splice(sessions.indexOf(verdictClient), 1);
        }
        throw new RestUnsupported(`the server ignores REST (after REST ${beyondFrom} it sent more than the file's ${size - beyondFrom} bytes from there)`);
      }
    }
    // Verified as one file: every byte read back and hashed (from the page cache), compared with HASH.
    const digestAlgo = localDigest(verdictClient.client, ctx);
    const sink = chunkSink(digestAlgo, size, fd);
    const digest = digestAlgo ? await sink.prefix(size) : "";
    sink.dispose();
    // As a single stream's: through the descriptor, before the rename publishes the file.
    const time = job.remoteTime ? remoteTimeToKeep(first.client, st.mtime, note) : undefined;
    if (time) {
      try {
        futimesSync(fd, time, time);
      } catch {
        // a time we cannot set costs only a comparison later
      }
    }
    setFinalModes(fd, modes);
    closeSync(fd);
    const earlyVerdict = await early;
    // The server's digest did not come within --stall-timeout: asked again, it would not either, and
    // the connection the first ask gave up was then said to be closed by the server.
    if (earlyVerdict === null && earlyFailure instanceof ClientError && earlyFailure.message.startsWith("timed out")) throw earlyFailure;
    const verdict = earlyVerdict ?? (await askDigest(verdictClient.client, job.remote, algo, ctx.verify, () => size, why));
    let verifiedBy: string;
    if (typeof verdict === "string") verifiedBy = verdict;
    else if (verdict.hex !== digest) {
      // As a single stream's: a file replaced or grown on the server meanwhile (its digest is the new
      // one's) is no corruption. Each range stops at the size it began with, so only SIZE/MDTM tell.
      const now = await remoteState(verdictClient.client, job.remote).catch(() => null);
      const aside = setAsideBad(job.part, job.local);
      ctx.discard();
      const change = now && !now.missing ? describeChange({ size, mtime: st.mtime }, now) : "";
      if (change) throw new RemoteChanged(change, `the ${size} bytes that came are kept in ${aside}`);
      throw new ClientError(`${algo} mismatch: received ${digest}, the server reports ${verdict.hex}; the bad download is kept in ${aside}`, { kind: "verify" });
    } else verifiedBy = `verified by ${verdict.via}`;
    renameSync(job.part, job.local);
    for (const x of sessions) if (x !== first) await x.close();
    return { local: job.local, remote: job.remote, size, moved, digest, verifiedBy, ...why.entry() };
  } catch (err) {
    clearInterval(saver);
    progress.clear();
    for (const x of sessions) if (x !== first) x.destroy();
    try {
      closeSync(fd);
    } catch {
      /* closed already */
    }
    if (err instanceof TransferInterrupted || worthResuming(err)) {
      throw new ClientError(`${(err as Error).message}; the segments are kept, ${ctx.opts.resumeHint ?? RESUME_HINT} to continue`, { retryable: true, kind: failureKind(err) ?? "network" });
    }
    throw err;
  }
}

/** The part file, opened or created: a failure is one line naming it and why (not Node's EACCES line). */
function openPartFile(part: string, mode: number): number {
  let fd: number;
  try {
    // O_NOFOLLOW: never written through a symbolic link standing as the part file (retrieve.ts's openPart).
    fd = openSync(part, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, mode);
  } catch (err) {
    throw partFileError(part, err);
  }
  // One an earlier run left may have another mode: set before any byte lands in it.
  try {
    if ((fstatSync(fd).mode & 0o777) !== mode) fchmodSync(fd, mode);
  } catch (err) {
    closeSync(fd);
    throw partFileError(part, err);
  }
  return fd;
}
