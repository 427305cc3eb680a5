// The download of one file, verified: lock its part file, check the remote file is the one a
// resumed download began with, continue the part (or start over when that cannot be trusted or the
// server has no REST), stream while hashing, reconnect after a drop, compare sizes and digests, then
// publish (rename) or set the bad data aside. The RETR with its retries is in retrieve-attempts.ts;
// what uploads share with it is in file-transfer.ts.
import { closeSync, constants, existsSync, fchmodSync, fstatSync, fsyncSync, ftruncateSync, futimesSync, open, rename, rmSync } from "node:fs";
import { ClientError, type FtpClient } from "./client.ts";
import { formatTimeVal, parseTimeVal } from "../protocol/listing.ts";
import { failureKind, RemoteChanged } from "./errors.ts";
import { refusalStands, worthResuming } from "./retries.ts";
import type { Session } from "./session.ts";
import { LocalWriteError, partFileError, TransferInterrupted } from "./transfer-errors.ts";
import { chunkSink, type ChunkSink } from "./hasher.ts";
import { retrieve } from "./retrieve-attempts.ts";
import { downloadModes, setFinalModes } from "./local-modes.ts";
import { RESUME_HINT } from "./options.ts";
import { whenInterrupted } from "./on-interrupt.ts";
import { SIDE_DIGEST_MIN_BYTES, SideDigest } from "./side-digest.ts";
import { PartGuard, trustedEnd, type PartBound } from "./part-bound.ts";
import {
  askDigest,
  checkLocalName,
  describeChange,
  localDigest,
  lockDownload,
  refuseIfChanged,
  remoteState,
  remoteTimeToKeep,
  setAsideBad,
  uncheckedPrefixReason,
  unverifiedReason,
  type FileContext,
  type FileOutcome,
  type RemoteExpectation,
  type RemoteState,
} from "./file-transfer.ts";

export interface DownloadJob {
  remote: string;
  local: string;
  part: string;
  /** Continue the partial file (a resumed job); a tree job also continues a part it finds. */
  resuming: boolean;
  /** When resuming: the remote file as it was when the download began, and the hint if it changed. */
  expect?: RemoteExpectation;
  /** Give the local file this modification time (tree jobs, so a later sync sees it unchanged). */
  mtime?: Date;
  /** Without `mtime`: give it the remote file's (MDTM), when the server offers MDTM (a plain get). */
  remoteTime?: boolean;
  /** The remote file's permission bits (tree jobs, where the listing shows them): its execute bits are carried. */
  mode?: number;
  /** The remote time to the second as the tree's listing (MLSD) or its MDTM showed it: checked again after a download no digest vouches for. */
  listedTimeMs?: number;
  /** The remote size as a fresh listing showed it (saves SIZE and MDTM per file of a tree). */
  known?: RemoteState;
  /**
   * The part file's bound (part-bound.ts): as the run that wrote it left it (null: none recorded, an
   * older journal), as the journal holds it now, and how to record a new one. Recorded once the
   * part file holds the start of the remote file as it is now (continued or started over), before
   * any byte comes, and then ahead of the data.
   */
  bound?: { recorded: PartBound | null; journaled: PartBound | null; save(b: PartBound): void };
  /** A single get: opens another session of the job, to ask a big file's digest on while the data comes (side-digest.ts). */
  sideSession?: (signal: AbortSignal) => Promise<Session>;
}

/**
 * How the remote file's time after the download differs from `before` (both time-vals, compared to
 * the second: a listing's and MDTM's may differ in their fractions): "" when it does not, or cannot
 * be told (a file removed meanwhile was still read whole: the server had it open). A difference of
 * whole quarter hours is a server whose MDTM and MLSD disagree on the time zone (some answer MDTM in
 * local time), not a change: a file rewritten during its download gets the time of that moment.
 */
async function changeAfter(after: Promise<string | null>, before: string, client: FtpClient): Promise<string> {
  let now: string | null;
  try {
    now = await after;
  } catch (err) {
    if (!(err instanceof ClientError && err.code !== undefined && err.code >= 500)) throw err;
    now = null;
  }
  // Refused while the session goes on: no time to compare. A lost connection is no answer, nor a
  // refusal the server hangs up after (refusalStands): the check fails as a drop does, and is asked
  // again on a new connection; it was taken for "unchanged", exit 0.
  if (now === null) {
    await refusalStands(client, "MDTM");
    return "";
  }
  try {
    const apart = Math.floor(parseTimeVal(now).getTime() / 1000) - Math.floor(parseTimeVal(before).getTime() / 1000);
    return apart % 900 === 0 ? "" : `modified ${before.slice(0, 14)} → ${now.slice(0, 14)}`;
  } catch {
    return ""; // a time that cannot be read: nothing to compare
  }
}

/** Download one file, verified; the partial data lives in `job.part` until it is verified. */
export async function downloadFile(session: Session, job: DownloadJob, ctx: FileContext): Promise<FileOutcome> {
  const { note, algo, progress } = ctx;
  const { remote: path, part } = job;
  checkLocalName(job.local);
  using _lock = lockDownload(part, job.local);
  ctx.locked?.();
  let sink: ChunkSink | null = null;
  let fd = -1;
  let created = false;
  let offset = 0;
  /** A bad download (or one of a file that changed meanwhile) is kept beside the file, and its job forgotten. */
  const setAside = () => {
    const aside = setAsideBad(part, job.local);
    ctx.discard();
    return aside;
  };
  try {
    const st = job.known ?? (await remoteState(session.client, path));
    if (st.missing) throw new ClientError(`remote file not found or not a file: ${path}`, { code: 550 });
    const { size, mtime } = st;
    if (job.resuming && job.expect) refuseIfChanged(job.expect, st);
    ctx.beforeFirstByte({ size, mtime });
    created = !job.resuming; // until the part file shows there is something to continue
    const modes = await downloadModes(job.local, job.mode);
    const opened = await openPart(part, modes.part);
    fd = opened.fd;
    const resuming = job.resuming && opened.existed;
    created = !resuming;
    const partStat = opened.existed ? fstatSync(fd) : null;
    // A part file an earlier run left may have another mode: set before any byte lands in it.
    if (partStat && (partStat.mode & 0o777) !== modes.part) fchmodSync(fd, modes.part);
    const partSize = partStat?.size ?? 0;
    const digestAlgo = localDigest(session.client, ctx);
    sink = chunkSink(digestAlgo, size, fd);
    /** How the download continues at `offset`: said by retrieve once the server took REST (RetrieveHooks.resuming). */
    let resumeNote: string | null = null;
    /** Set when the part file held bytes this client never wrote, and was cut back (said on stderr and in --json). */
    let partCut: string | null = null;
    const guard = job.bound ? new PartGuard(job.bound.journaled, size, job.bound.save, (m) => note.warn(m)) : null;
    if (resuming) {
      ({ offset, cut: partCut } = trustedEnd(partSize, job.bound?.recorded ?? null));
      if (partCut) note.warn(`${job.known ? `${path}: ` : ""}${partCut}`);
      if (size !== null && offset > size) {
        note.warn(`the partial file is larger than the remote file; starting over`);
        offset = 0;
      }
      if (offset > 0) {
        const prefixHex = await sink.prefix(offset);
        const remote = digestAlgo ? await session.client.remoteDigest(path, algo, { start: 0, end: offset }) : null;
        if (remote) {
          if (remote.hex !== prefixHex) {
            note.warn(`the partial file differs from the server's first ${offset} bytes; starting over`);
            offset = 0;
            sink.dispose();
            sink = chunkSink(digestAlgo, size, fd);
          } else resumeNote = `partial data verified (${offset} bytes, ${algo} via ranged HASH); resuming`;
        } else if (!job.expect) {
          // A tree job's part file, and nothing recorded what the remote file was when it began: the
          // file may have changed since (same size, other bytes), and without a ranged digest the
          // old prefix and the new tail would be spliced into one file that only its size vouches for.
          note.info(`${path}: cannot verify the partial data (${uncheckedPrefixReason(ctx)}, and the remote file may have changed); starting it over`);
          offset = 0;
          sink.dispose();
          sink = chunkSink(digestAlgo, size, fd);
        } else {
          const written = job.bound?.recorded?.written;
          if (written !== undefined && offset > written) {
            // Bytes past the last offset recorded as ours may be another program's (appended while
            // no ftpkit ran, yet within the limit): nothing can tell, so they are fetched again.
            offset = written;
            sink.dispose();
            sink = chunkSink(digestAlgo, size, fd);
            if (offset > 0) await sink.prefix(offset);
          }
          const unchecked = `${job.known ? `${path}: ` : ""}cannot verify the partial data (${uncheckedPrefixReason(ctx)})`;
          if (offset === 0) note.info(`${unchecked}, and none of it is recorded as ftpkit's yet; starting it over`);
          else resumeNote = `${unchecked}; resuming at byte ${offset}${written !== undefined && partSize > offset && !partCut ? ", the last one recorded as ftpkit's" : ""}`;
        }
      }
    }
    guard?.at(offset);
    // Only when bytes must go: ext4 flushes a file truncated to 0 when it is closed (auto_da_alloc),
    // which cost 0.2–0.25 s at the end of every 1 GiB download.
    if (partSize !== offset) ftruncateSync(fd, offset);
    // Not under --limit-rate: the transfer is long, the hash after it short (and ftpkit, hashing as it
    // sends, would hold the second connection's HASH for the whole download).
    const sideWorth = job.sideSession && ctx.verify && digestAlgo && ctx.opts.rate === 0 && size !== null && size - offset >= SIDE_DIGEST_MIN_BYTES;
    using side = sideWorth && session.client.mayGiveDigest(algo) ? new SideDigest(job.sideSession!, path, algo) : null;
    const fileFd = fd;
    // Whatever this run wrote is recorded as its own when Ctrl-C or SIGTERM ends it (kill -9 leaves the last step).
    using _settle = guard ? whenInterrupted(() => guard.settle()) : null;
    let attempt: number;
    ({ offset, attempt } = await retrieve(session, path, offset, size, guarded(sink, guard), ctx, {
      file: part,
      resuming: resumeNote,
      // No size and no digest to check the file by: under PROT P only the server's close_notify says
      // the file came whole (a bare FIN can be forged on the path); with a check, the check decides.
      requireCloseNotify: size === null && !(ctx.verify && session.client.mayGiveDigest(algo)),
      atDrop(reached, retrying) {
        offset = reached; // what the error reports as kept, also when no retry follows
        if (retrying) {
          guard?.at(reached);
          ftruncateSync(fileFd, reached); // the file and the running hash stay in lockstep
        } else guard?.settle();
      },
      startOver() {
        guard?.at(0);
        ftruncateSync(fileFd, 0);
        sink?.dispose();
        sink = chunkSink(digestAlgo, size, fileFd);
        offset = 0;
        return guarded(sink, guard);
      },
    }));
    // Ask for the server's digest now: its round trip overlaps with finishing ours and, in a tree
    // job, with the next file's start (controlFree).
    const why = unverifiedReason(note);
    const timeBefore = mtime !== null ? mtime : job.listedTimeMs !== undefined ? formatTimeVal(new Date(job.listedTimeMs)) : null;
    /** The checks after the data, on the session's connection: the digest (`first`: asked on the side, when it came), else the time again. */
    const askChecks = (first: Promise<{ hex: string; via: string } | null> | null) => {
      const client = session.client;
      const ask = () => askDigest(client, path, algo, ctx.verify, () => size, why);
      const verdict = first ? first.then((got) => got ?? ask()) : ask();
      // No digest to come (vsftpd, pyftpdlib): the time is asked again, now, before a tree's next file
      // takes the connection. A file rewritten while it came (same size, other bytes) arrived as a mix
      // of both versions, and only its size vouched for it.
      const timeAfter = ctx.verify && timeBefore !== null && !client.mayGiveDigest(algo) ? client.mdtm(path) : null;
      const change = timeAfter ? changeAfter(timeAfter, timeBefore!, client) : Promise.resolve("");
      verdict.catch(() => {}); // awaited below unless an earlier step fails
      change.catch(() => {});
      return { verdict, change };
    };
    let checks = size !== null && offset !== size ? null : askChecks(side ? side.result : null);
    ctx.controlFree?.();
    const digest = await sink.digest(); // after every write
    sink = null;
    // kill -9 cannot lose what is in the page cache; only --fsync pays for surviving a power loss.
    if (ctx.opts.fsync) fsyncSync(fd);
    // Through the descriptor, after the last write: no second path lookup, no thread-pool round trip.
    // Set before the rename publishes the file: it appears with the remote time, on every path.
    const time = job.mtime ?? (job.remoteTime ? remoteTimeToKeep(session.client, mtime, note) : undefined);
    if (time) {
      try {
        futimesSync(fd, time, time);
      } catch {
        // a time we cannot set only costs a later sync a comparison
      }
    }
    // Before the rename publishes it: the mode (a replaced 0664 file came out 0644 under umask 022)
    // and, run as root, the owner of the file it replaces.
    setFinalModes(fd, modes);
    closeSync(fd);
    fd = -1;
    if (size !== null && offset !== size) {
      const aside = setAside();
      throw new ClientError(`size mismatch: received ${offset} bytes, the server reports ${size}; the data is kept in ${aside}`, { kind: "verify" });
    }
    let verdict: { hex: string; via: string } | string;
    let change: string;
    for (;;) {
      try {
        verdict = await checks!.verdict;
        change = typeof verdict === "string" ? await checks!.change : "";
        break;
      } catch (err) {
        // Every byte and the 226 came: a connection lost while the checks were answered (vsftpd's
        // "500 OOPS" and its close) lost only the checks, asked again on a new connection within
        // --retries. It ended "… bytes kept, run ftpkit resume" (exit 4) where curl and lftp exit 0.
        // Not once a tree's next file has the connection (controlFree): its retry is the tree's.
        const reached = ctx.controlFree ? null : await session.retryAfter(session.client, err, ++attempt, note);
        if (reached === null) throw err;
        attempt = reached;
        checks = askChecks(null);
      }
    }
    let verifiedBy: string;
    if (typeof verdict === "string") {
      verifiedBy = verdict;
      if (change) throw new RemoteChanged(change, `the ${offset} bytes that came are kept in ${setAside()}`);
    } else if (verdict.hex !== digest) {
      // A file replaced on the server meanwhile (its digest is the new one's) is no corruption.
      const now = await remoteState(session.client, path).catch(() => null);
      const aside = setAside();
      const change = now && !now.missing ? describeChange({ size, mtime }, now) : "";
      if (change) throw new RemoteChanged(change, `the ${offset} bytes that came are kept in ${aside}`);
      throw new ClientError(`${algo} mismatch: received ${digest}, the server reports ${verdict.hex}; the bad download is kept in ${aside}`, { kind: "verify" });
    } else verifiedBy = `verified by ${verdict.via}`;
    // On the thread pool, like the part file's creation: an ext4 rename blocked the event loop (and
    // every other connection of a tree job) for up to 0.1 ms; 1,000 × 100 KiB, 8 connections: median
    // 0.655 s → 0.615 s of 6 interleaved runs (an earlier build, which blocked elsewhere, measured the
    // thread switches as the larger cost).
    await renameOffThread(part, job.local);
    return { local: job.local, remote: path, size: offset, moved: progress.moved, digest, verifiedBy, ...why.entry(), ...(partCut ? { partCut } : {}) };
  } catch (err) {
    progress.clear();
    sink?.dispose();
    // Changed while it came (cut short, grown): what came is set aside as a bad download is, and the
    // job forgotten, whichever way the change showed; a resume could only refuse it.
    if (err instanceof RemoteChanged && fd >= 0) {
      const came = fstatSync(fd).size;
      closeSync(fd);
      if (came > 0) throw new RemoteChanged(err.change, `the ${came} bytes that came are kept in ${setAside()}`);
      rmSync(part, { force: true });
      ctx.discard();
      throw new RemoteChanged(err.change, "nothing came");
    }
    // A full (or read-only) disk: what was written stays for `ftpkit resume` once there is room (the
    // resume checks it against the server's ranged digest first).
    const diskFull = err instanceof LocalWriteError && err.diskRefuses && fd >= 0 ? fstatSync(fd).size : 0;
    const opened = fd >= 0;
    if (opened) closeSync(fd);
    // Nothing useful landed in a brand-new transfer: leave no empty file and no record behind (the
    // part file only if it was opened: what stands there and could not be is not ours to remove).
    if (created && offset === 0 && diskFull === 0) {
      if (opened) rmSync(part, { force: true });
      ctx.discard();
    }
    // Still a LocalWriteError: a tree job stops starting files on it.
    const again = ctx.opts.resumeHint ?? RESUME_HINT;
    if (diskFull > 0) throw new LocalWriteError(`${(err as Error).message}; ${diskFull} bytes kept: make room, then ${again}`, (err as LocalWriteError).errno);
    if (err instanceof TransferInterrupted || (worthResuming(err) && existsSync(part))) {
      throw new ClientError(`${(err as Error).message}; ${offset} bytes kept, ${again} to continue`, { retryable: true, kind: failureKind(err) ?? "network" });
    }
    throw err;
  }
}

/** `sink`, with the part file's journaled limit raised ahead of each write that passes it (one comparison per chunk). */
function guarded(sink: ChunkSink, guard: PartGuard | null): ChunkSink {
  if (!guard) return sink;
  return {
    put(chunk, pos) {
      guard.ahead(pos, pos + chunk.length);
      sink.put(chunk, pos);
    },
    sent: (chunk, pos) => sink.sent(chunk, pos),
    prefix: (length) => sink.prefix(length),
    digest: () => sink.digest(),
    dispose: () => sink.dispose(),
  };
}

/** open(2) on the thread pool: the descriptor itself, not a FileHandle that would close it again. */
function openOffThread(path: string, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function renameOffThread(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => rename(from, to, (err) => (err ? reject(err) : resolve())));
}

/**
 * Open (or create) a download's part file. A new one costs one system call: a tree job creates
 * one per file, and asking first whether it exists, then its size, cost two more. On the thread
 * pool: creating a file on ext4 cost 0.1–0.3 ms of kernel time here, which blocked every other
 * connection of a tree job (1,000 × 100 KiB with 8 connections: 0.71 s → 0.66 s, median of 6).
 */
async function openPart(part: string, mode: number): Promise<{ fd: number; existed: boolean }> {
  try {
    try {
      return { fd: await openOffThread(part, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, mode), existed: false };
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      // Never through a symbolic link (ELOOP): one planted as the part file's name, in a shared or
      // synced directory, would have the download written into its target, outside the destination.
      return { fd: await openOffThread(part, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, mode), existed: true };
    }
  } catch (err) {
    // A disk that refuses the file itself (read-only, full, over quota) refuses every later one: as a
    // LocalWriteError, a tree job starts no further file (it tried each, failing each the same way).
    throw partFileError(part, err);
  }
}

