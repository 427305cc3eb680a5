// The one verified file transfer every job runs (a single get/put, each file of a tree, a sync):
// lock, record the remote state before the first byte, stream while hashing, reconnect and continue
// after a drop, compare sizes and the server's digest, then publish (rename) or set the bad data aside.
import { accessSync, closeSync, constants, existsSync, fstatSync, type Stats, fsyncSync, ftruncateSync, futimesSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { ClientError, FtpClient, type DigestAlgorithm } from "./client.ts";
import { acquireLock } from "./state.ts";
import { isRetryable, type Notifier, type Session, type TransferOptions } from "./session.ts";
import { download, TokenBucket, TransferInterrupted, upload } from "./transfer.ts";
import { chunkSink, type ChunkSink } from "./hasher.ts";
import { noDigestReason } from "./remote-hash.ts";

export const PART_SUFFIX = ".ftpkit-part";
export const CORRUPT_SUFFIX = ".ftpkit-corrupt";

/** What a file transfer reports as it goes (a Progress bar, or one file's share of a tree's display). */
export interface FileProgress {
  start(done: number, total?: number | null): void;
  update(movedNow: number): void;
  clear(): void;
  /** Bytes moved over the network by this run. */
  readonly moved: number;
}

export interface FileContext {
  opts: TransferOptions;
  algo: DigestAlgorithm;
  /** Ask the server for its digest (the job's --verify and the record's). */
  verify: boolean;
  note: Notifier;
  progress: FileProgress;
  /** Called once the remote state is known and before the first byte moves: persist resume state here. */
  beforeFirstByte(remote: RemoteState): void;
  /** Called when nothing resumable is left (a fresh transfer that moved nothing, or data set aside). */
  discard(): void;
  /**
   * Called once the file's last command is on the wire (its reply pending): a tree job's next file
   * may start on the same control connection now, its commands pipelined behind (replies keep order).
   */
  controlFree?(): void;
}

/** SIZE and MDTM of a remote file (null when the server cannot say; `missing` when it does not exist). */
export interface RemoteState {
  size: number | null;
  mtime: string | null;
  missing?: boolean;
}

export interface FileOutcome {
  local: string;
  remote: string;
  size: number;
  moved: number;
  digest: string;
  verifiedBy: string;
}

/** Check the directory a download lands in before any network traffic. */
export function checkWritableDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new ClientError(`cannot write to ${dir}: no such directory`);
  }
  if (!st.isDirectory()) throw new ClientError(`cannot write to ${dir}: not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ClientError(`cannot write to ${dir}: permission denied`);
  }
}

function cannotRead(local: string, err: unknown): ClientError {
  const code = (err as { code?: string }).code;
  return new ClientError(`cannot read ${local}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message}`);
}

/** Check a file to upload before any network traffic: a readable regular file. */
export function localFile(local: string) {
  let st;
  try {
    st = statSync(local);
  } catch (err) {
    throw cannotRead(local, err);
  }
  if (!st.isFile()) throw new ClientError(`cannot upload ${local}: not a regular file`);
  try {
    accessSync(local, constants.R_OK);
  } catch {
    throw new ClientError(`cannot read ${local}: permission denied`);
  }
  return st;
}

/**
 * Open a file to upload and check it is a regular file: two system calls (a tree job opens one per
 * file; stat, access, then open cost three). O_NONBLOCK: opening a FIFO must not wait for a writer.
 */
function openLocalFile(local: string): { fd: number; st: Stats } {
  let fd: number;
  try {
    fd = openSync(local, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw cannotRead(local, err);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new ClientError(`cannot upload ${local}: not a regular file`);
  }
  return { fd, st };
}

/** SIZE + MDTM, sent together (one round trip); `missing` when SIZE says 550. */
export async function remoteState(client: FtpClient, path: string): Promise<RemoteState> {
  const sizeP = client.size(path);
  const mtimeP = client.mdtm(path);
  mtimeP.catch(() => {}); // awaited below unless SIZE fails
  let size: number | null;
  try {
    size = await sizeP;
  } catch (err) {
    if (err instanceof ClientError && err.code === 550) return { size: null, mtime: null, missing: true };
    throw err;
  }
  return { size, mtime: await mtimeP };
}

export interface DownloadJob {
  remote: string;
  local: string;
  part: string;
  /** Continue the partial file (a resumed job); a tree job also continues a part it finds. */
  resuming: boolean;
  /** When resuming: the remote file as it was when the download began, and the hint if it changed. */
  expect?: { size: number | null; mtime: string | null; changedHint: string };
  /** Give the local file this modification time (tree jobs, so a later sync sees it unchanged). */
  mtime?: Date;
  /** The remote size as a fresh listing showed it (saves SIZE and MDTM per file of a tree). */
  known?: RemoteState;
}

/** Download one file, verified; the partial data lives in `job.part` until it is verified. */
export async function downloadFile(session: Session, job: DownloadJob, ctx: FileContext): Promise<FileOutcome> {
  const { note, algo, progress } = ctx;
  const { remote: path, part } = job;
  using _lock = acquireLock(`get\n${part}`, job.local);
  let sink: ChunkSink | null = null;
  let fd = -1;
  let created = false;
  let offset = 0;
  try {
    const st = job.known ?? (await remoteState(session.client, path));
    if (st.missing) throw new ClientError(`remote file not found or not a file: ${path}`, { code: 550 });
    const { size, mtime } = st;
    if (job.resuming && job.expect) {
      const was = job.expect;
      const changes: string[] = [];
      if (was.size !== null && size !== null && size !== was.size) changes.push(`size ${was.size} → ${size}`);
      if (was.mtime !== null && mtime !== null && mtime !== was.mtime) changes.push(`modified ${was.mtime} → ${mtime}`);
      if (changes.length) throw new ClientError(`the remote file changed since the interrupted download (${changes.join(", ")}); nothing was written. ${was.changedHint}`);
    }
    ctx.beforeFirstByte({ size, mtime });
    created = !job.resuming; // until the part file shows there is something to continue
    const opened = openPart(part);
    fd = opened.fd;
    const resuming = job.resuming && opened.existed;
    created = !resuming;
    const partSize = opened.existed ? fstatSync(fd).size : 0;
    // Without verification no digest is needed: the bytes only go to the file.
    const digestAlgo = ctx.verify ? algo : null;
    sink = chunkSink(digestAlgo, size, fd);
    if (resuming) {
      offset = partSize;
      if (size !== null && offset > size) {
        note.warn(`the partial file is larger than the remote file; starting over`);
        offset = 0;
      }
      if (offset > 0) {
        const prefixHex = await sink.prefix(offset);
        const remote = ctx.verify ? await session.client.remoteDigest(path, algo, { start: 0, end: offset }) : null;
        if (remote) {
          if (remote.hex !== prefixHex) {
            note.warn(`the partial file differs from the server's first ${offset} bytes; starting over`);
            offset = 0;
            sink.dispose();
            sink = chunkSink(digestAlgo, size, fd);
          } else note.info(`partial data verified (${offset} bytes, ${algo} via ranged HASH); resuming`);
        } else note.info(`cannot verify the partial data (the server offers no ranged hash); resuming at byte ${offset}`);
      }
    }
    // Only when bytes must go: ext4 flushes a file truncated to 0 when it is closed (auto_da_alloc),
    // which cost 0.2–0.25 s at the end of every 1 GiB download.
    if (partSize !== offset) ftruncateSync(fd, offset);
    const limiter = ctx.opts.rate > 0 ? new TokenBucket(ctx.opts.rate) : undefined;
    let attempt = 0;
    for (;;) {
      progress.start(offset, size);
      try {
        const n = await download(session.client, path, offset, {
          sink,
          limiter,
          stallMs: ctx.opts.stallMs,
          onProgress: (m) => progress.update(m),
        });
        offset += n;
        if (size !== null && offset < size) throw new TransferInterrupted(`the transfer ended early at ${offset} of ${size} bytes`, 0);
        break;
      } catch (err) {
        if (err instanceof TransferInterrupted) offset += err.moved;
        attempt++;
        if (!isRetryable(err) || attempt > ctx.opts.retries) throw err;
        note.warn(`${(err as Error).message}; reconnecting (attempt ${attempt} of ${ctx.opts.retries})`);
        ftruncateSync(fd, offset); // the file and the running hash stay in lockstep
        attempt = await session.reconnect(attempt, note);
      }
    }
    // Ask for the server's digest now: its round trip overlaps with finishing ours and, in a tree
    // job, with the next file's start (controlFree).
    const verdictP = size !== null && offset !== size ? null : askDigest(session.client, path, algo, ctx.verify, size, note);
    verdictP?.catch(() => {}); // awaited below unless an earlier step fails
    ctx.controlFree?.();
    const digest = await sink.digest(); // after every write
    sink = null;
    // kill -9 cannot lose what is in the page cache; only --fsync pays for surviving a power loss.
    if (ctx.opts.fsync) fsyncSync(fd);
    // Through the descriptor, after the last write: no second path lookup, no thread-pool round trip.
    if (job.mtime) {
      try {
        futimesSync(fd, job.mtime, job.mtime);
      } catch {
        // a time we cannot set only costs a later sync a comparison
      }
    }
    closeSync(fd);
    fd = -1;
    const setAside = () => {
      const aside = job.local + CORRUPT_SUFFIX;
      renameSync(part, aside);
      ctx.discard();
      return aside;
    };
    if (size !== null && offset !== size) {
      const aside = setAside();
      throw new ClientError(`size mismatch: received ${offset} bytes, the server reports ${size}; the data is kept in ${aside}`);
    }
    const verdict = await verdictP!;
    let verifiedBy: string;
    if (typeof verdict === "string") verifiedBy = verdict;
    else if (verdict.hex !== digest) {
      const aside = setAside();
      throw new ClientError(`${algo} mismatch: received ${digest}, the server reports ${verdict.hex}; the bad download is kept in ${aside}`);
    } else verifiedBy = `verified by ${verdict.via}`;
    // Synchronous: on the thread pool a rename cost two thread switches per file (expensive on a VM),
    // more than the rename itself blocks the event loop.
    renameSync(part, job.local);
    return { local: job.local, remote: path, size: offset, moved: progress.moved, digest, verifiedBy };
  } catch (err) {
    progress.clear();
    sink?.dispose();
    if (fd >= 0) closeSync(fd);
    // Nothing useful landed in a brand-new transfer: leave no empty file and no record behind.
    if (created && offset === 0) {
      rmSync(part, { force: true });
      ctx.discard();
    }
    if (err instanceof TransferInterrupted || (isRetryable(err) && existsSync(part))) {
      throw new ClientError(`${(err as Error).message}; ${offset} bytes kept, run \`ftpkit resume\` to continue`, { retryable: true });
    }
    throw err;
  }
}

/**
 * Open (or create) a download's part file. A new one costs one system call: a tree job creates
 * one per file, and asking first whether it exists, then its size, cost two more.
 */
function openPart(part: string): { fd: number; existed: boolean } {
  try {
    return { fd: openSync(part, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644), existed: false };
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") throw err;
    return { fd: openSync(part, constants.O_RDWR | constants.O_CREAT, 0o644), existed: true };
  }
}

/**
 * The server's digest to compare with ours — or, when there is none to get, the verdict to report.
 * The digest command goes out at once; `remoteSize` (what SIZE said, or will say) only words the verdict.
 */
export async function askDigest(
  client: FtpClient,
  path: string,
  algo: DigestAlgorithm,
  verify: boolean,
  remoteSize: number | null | Promise<number | null>,
  note: { info(msg: string): void },
): Promise<{ hex: string; via: string } | string> {
  const asked = verify ? client.remoteDigest(path, algo) : null;
  asked?.catch(() => {}); // awaited below, after the size
  const size = await remoteSize;
  if (!asked) return size !== null ? "size verified, digest not requested" : "not verified";
  const remote = await asked;
  if (remote) return remote;
  note.info(`${noDigestReason(client, algo)}; verified size only`);
  return size !== null ? "size verified only" : "not verified";
}

export interface UploadJob {
  local: string;
  remote: string;
  /** Continue an interrupted upload of this job. */
  resuming: boolean;
  /** When resuming: the remote file before our first byte (null: it did not exist; undefined: unknown). */
  before?: RemoteState | null;
  /** When resuming: the local file as the upload began, and the hint if it changed. */
  expectLocal?: { size: number; mtimeMs: number; changedHint: string };
  /** Give the remote file the local modification time when the server can (MFMT). */
  keepMtime?: boolean;
}

/** Upload one file, verified; an interrupted one continues where the server's copy ends. */
export async function uploadFile(session: Session, job: UploadJob, ctx: FileContext): Promise<FileOutcome> {
  const { note, algo, progress } = ctx;
  const path = job.remote;
  const { fd, st } = openLocalFile(job.local);
  using _file = { [Symbol.dispose]: () => closeSync(fd) };
  if (job.resuming && job.expectLocal) {
    const was = job.expectLocal;
    if (st.size !== was.size || Math.round(st.mtimeMs) !== Math.round(was.mtimeMs)) {
      throw new ClientError(`the local file ${job.local} changed since the interrupted upload; ${was.changedHint}`);
    }
  }
  using _lock = acquireLock(`put\n${session.url.host}:${session.url.port}\n${path}`, `${path} on ${session.url.host}`);
  const size = st.size;
  let offset = 0;
  let sink: ChunkSink | null = null;
  let before = job.before;
  try {
    // A tree job knows each remote file's state from its plan; a resumed one looks below.
    if (!job.resuming && before === undefined) {
      const now = await remoteState(session.client, path);
      before = now.missing ? null : now;
    }
    ctx.beforeFirstByte(before ?? { size: null, mtime: null, missing: true });
    const limiter = ctx.opts.rate > 0 ? new TokenBucket(ctx.opts.rate) : undefined;
    let appendOnly = false;
    let attempt = 0;
    let continuing = job.resuming;
    let digest = "";
    let verifiedBy = "";
    let mtimeSet: Promise<boolean> | null = null;
    /** The control connection went to the next file of a tree (controlFree): no reconnecting it. */
    let lent = false;
    for (;;) {
      const client = session.client;
      sink?.dispose();
      sink = chunkSink(ctx.verify ? algo : null, size, fd);
      offset = 0;
      if (continuing) {
        const now = await remoteState(client, path);
        const untouched = before !== undefined && (before === null ? now.missing : !now.missing && now.size === before.size && now.mtime === before.mtime);
        if (now.missing || untouched) offset = 0; // no byte of ours arrived: never append to the old file's head
        else if (now.size === null) note.warn("the server does not report sizes (SIZE); uploading from the start");
        else if (now.size > size) note.warn(`the remote file is larger (${now.size}) than the local one (${size}); uploading from the start`);
        else offset = now.size;
        if (offset > 0) {
          const prefixHex = await sink.prefix(offset);
          const remote = ctx.verify ? await client.remoteDigest(path, algo, { start: 0, end: offset }).catch(() => null) : null;
          if (remote && remote.hex !== prefixHex) {
            note.warn(`the remote partial file differs from the first ${offset} local bytes; uploading from the start`);
            offset = 0;
            sink.dispose();
            sink = chunkSink(ctx.verify ? algo : null, size, fd);
          } else if (remote) note.info(`remote partial data verified (${offset} bytes, ${algo} via ranged HASH); resuming`);
          else if (attempt === 0) note.info(`cannot verify the partial data (the server offers no ranged hash); resuming at byte ${offset}`);
        }
      }
      progress.start(offset, size);
      try {
        const verb: "STOR" | "APPE" = offset > 0 && appendOnly ? "APPE" : "STOR";
        let n: number;
        try {
          n = await upload(client, path, fd, offset, size, verb, { sink, limiter, stallMs: ctx.opts.stallMs, onProgress: (m) => progress.update(m) });
        } catch (err) {
          // REST+STOR refused (e.g. "REST: 502"): append instead, on the same connection.
          const refused = err instanceof ClientError && !(err instanceof TransferInterrupted) && (err.code ?? 0) >= 500;
          if (refused && verb === "STOR" && offset > 0) {
            appendOnly = true;
            note.info("the server refused REST before STOR; appending with APPE");
            continuing = true;
            continue;
          }
          throw err;
        }
        offset += n;
        // The checks go out together (SIZE, the digest, MFMT); once they are on the wire a tree job's
        // next file starts behind them on this connection (replies keep order).
        const remoteSize = client.size(path).catch(() => null);
        const verdict = askDigest(client, path, algo, ctx.verify, remoteSize, note);
        verdict.catch(() => {}); // awaited below unless an earlier step fails
        mtimeSet = job.keepMtime ? client.setMtime(path, st.mtime).catch(() => false) : null;
        if (ctx.controlFree) {
          lent = true;
          ctx.controlFree();
        }
        digest = await sink.digest();
        sink = null;
        verifiedBy = await verifyUpload(remoteSize, verdict, algo, digest, size);
        break;
      } catch (err) {
        if (err instanceof TransferInterrupted) offset += err.moved;
        attempt++;
        // A mismatch is final; a connection lost while the checks were answered is retried like a
        // drop (the retry finds every byte there and only verifies), unless the connection is lent.
        if (err instanceof VerificationFailed) ctx.discard();
        if (lent || !isRetryable(err) || attempt > ctx.opts.retries) throw err;
        note.warn(`${(err as Error).message}; reconnecting (attempt ${attempt} of ${ctx.opts.retries})`);
        attempt = await session.reconnect(attempt, note);
        continuing = true;
      }
    }
    await mtimeSet;
    return { local: job.local, remote: path, size, moved: progress.moved, digest, verifiedBy };
  } catch (err) {
    progress.clear();
    sink?.dispose();
    if (offset === 0 && !job.resuming && !(err instanceof TransferInterrupted)) ctx.discard();
    if (err instanceof TransferInterrupted || isRetryable(err)) {
      throw new ClientError(`${(err as Error).message}; run \`ftpkit resume\` to continue the upload`, { retryable: true });
    }
    throw err;
  }
}

/** The server's copy differs from the local file: not resumable, not worth a retry. */
class VerificationFailed extends ClientError {}

async function verifyUpload(
  remoteSize: Promise<number | null>,
  verdict: Promise<{ hex: string; via: string } | string>,
  algo: DigestAlgorithm,
  digest: string,
  size: number,
): Promise<string> {
  const there = await remoteSize;
  if (there !== null && there !== size) throw new VerificationFailed(`upload verification failed: the server has ${there} bytes, the local file has ${size}`);
  const remote = await verdict;
  if (typeof remote === "string") return remote;
  if (remote.hex !== digest) throw new VerificationFailed(`upload verification failed: sent ${algo} ${digest}, the server computed ${remote.hex}`);
  return `verified by ${remote.via}`;
}
