// Upload one file, verified (the upload half of file-transfer.ts): the remote state before the first
// byte, REST+STOR (or APPE) to continue after a drop, then SIZE and the server's digest compared.
import { accessSync, closeSync, constants, fstatSync, openSync, statSync, type Stats } from "node:fs";
import { ClientError, type FtpClient } from "./client.ts";
import { failureKind, REST_UNSUPPORTED_CODES, RestUnsupported, restartNotPermitted } from "./errors.ts";
import { LineAtFirstByte } from "./messages.ts";
import { acquireLock } from "./state.ts";
import { countAttempts, refusalStands, worthResuming, worthRetrying } from "./retries.ts";
import type { Session } from "./session.ts";
import { jobLimiter, upload } from "./transfer.ts";
import { TransferInterrupted, TransferRefused } from "./transfer-errors.ts";
import { chunkSink, type ChunkSink } from "./hasher.ts";
import type { DigestAlgorithm } from "./remote-hash.ts";
import { askDigest, localDigest, remoteState, uncheckedPrefixReason, unverifiedReason, type FileContext, type FileOutcome, type RemoteState } from "./file-transfer.ts";
import { remoteDirExists } from "./tree-plan.ts";
import { RESUME_HINT } from "./options.ts";

function cannotRead(local: string, err: unknown): ClientError {
  const code = (err as { code?: string }).code;
  return new ClientError(`cannot read ${local}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message}`, { kind: "local" });
}

/** A directory or anything else that is not a regular file cannot be uploaded; say which. */
function checkRegular(local: string, st: Stats): void {
  if (st.isDirectory()) throw new ClientError(`${local} is a directory: upload a tree with put -r`, { kind: "usage" });
  if (!st.isFile()) throw new ClientError(`cannot upload ${local}: not a regular file`, { kind: "local" });
}

/** Check a file to upload before any network traffic: a readable regular file. */
export function localFile(local: string) {
  let st;
  try {
    st = statSync(local);
  } catch (err) {
    throw cannotRead(local, err);
  }
  checkRegular(local, st);
  try {
    accessSync(local, constants.R_OK);
  } catch {
    throw new ClientError(`cannot read ${local}: permission denied`, { kind: "local" });
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
  try {
    checkRegular(local, st);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return { fd, st };
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
  /** An executable local file is made executable there too when the server can (SITE CHMOD). */
  keepMode?: boolean;
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
  // The server as connected to, not as spelled: localhost and 127.0.0.1 are one server's file.
  const server = `${session.client.control.remoteAddress || session.url.host}:${session.url.port}`;
  using _lock = acquireLock(`put\n${server}\n${path}`, `${path} on ${session.url.host}`);
  ctx.locked?.();
  const size = st.size;
  let offset = 0;
  /** The server confirmed (226) every byte: a failure after that leaves only the check to do. */
  let stored = false;
  let sink: ChunkSink | null = null;
  let before = job.before;
  try {
    // A tree job knows each remote file's state from its plan; a resumed one looks below.
    if (!job.resuming && before === undefined) {
      const now = await remoteState(session.client, path);
      before = now.missing ? null : now;
    }
    ctx.beforeFirstByte(before ?? { size: null, mtime: null, missing: true });
    const limiter = jobLimiter(ctx.opts);
    let appendOnly = false;
    /** Neither REST before STOR nor APPE: every try sends the whole file. */
    let wholeOnly = false;
    let attempt = ctx.tried ?? 0;
    const firstAttempt = attempt;
    let continuing = job.resuming;
    let digest = "";
    let verifiedBy = "";
    let why = unverifiedReason(note);
    let mtimeSet: Promise<boolean> | null = null;
    let modeSet: Promise<boolean> | null = null;
    /** How REST before STOR was refused ("the server does not support REST (…)"): the upload appends with APPE. */
    let restRefusal = "";
    /**
     * How the upload continues at `offset` (and how the remote partial data was checked): said once
     * the server takes bytes from there, never before a refused REST or APPE changes what happens.
     */
    const resumeLine = new LineAtFirstByte(note);
    /** The control connection went to the next file of a tree (controlFree): no reconnecting it. */
    let lent = false;
    for (;;) {
      const client = session.client;
      sink?.dispose();
      const digestAlgo = localDigest(client, ctx);
      sink = chunkSink(digestAlgo, size, fd);
      offset = 0;
      /** The remote file is this one already, every byte vouched for by the server's digest: nothing to send. */
      let alreadyThere = false;
      resumeLine.set(null);
      if (continuing && !wholeOnly) {
        const now = await remoteState(client, path);
        const untouched = before !== undefined && (before === null ? now.missing : !now.missing && now.size === before.size && now.mtime === before.mtime);
        if (now.missing || untouched) offset = 0; // no byte of ours arrived: never append to the old file's head
        else if (now.size === null) note.warn("the server does not report sizes (SIZE); uploading from the start");
        else if (now.size > size) note.warn(`the remote file is larger (${now.size}) than the local one (${size}); uploading from the start`);
        else offset = now.size;
        if (offset > 0) {
          const prefixHex = await sink.prefix(offset);
          const remote = digestAlgo ? await client.remoteDigest(path, algo, { start: 0, end: offset }).catch(() => null) : null;
          if (remote && remote.hex !== prefixHex) {
            note.warn(`the remote partial file differs from the first ${offset} local bytes; uploading from the start`);
            offset = 0;
            sink.dispose();
            sink = chunkSink(digestAlgo, size, fd);
          } else if (remote && offset === size) {
            // Cut off after its last byte (during the checks): a REST+STOR of nothing was refused by
            // ProFTPD (AllowStoreRestart off) and the whole file went again.
            alreadyThere = true;
            note.info(`the remote file is complete (${size} bytes, ${algo} via HASH): nothing left to send`);
          } else {
            const how = appendOnly ? `${restRefusal}: appending at byte ${offset} with APPE` : remote ? "resuming" : `resuming at byte ${offset}`;
            if (remote) resumeLine.set(`remote partial data verified (${offset} bytes, ${algo} via ranged HASH); ${how}`);
            else if (attempt === firstAttempt) resumeLine.set(`cannot verify the partial data (${uncheckedPrefixReason(ctx)}); ${how}`);
          }
        }
      }
      progress.start(offset, size);
      stored = false;
      try {
        const verb: "STOR" | "APPE" = offset > 0 && appendOnly ? "APPE" : "STOR";
        let n: number;
        try {
          n = alreadyThere ? 0 : await upload(client, path, fd, offset, size, verb, { sink, limiter, stallMs: ctx.opts.stallMs, onProgress: resumeLine.watch((m) => progress.update(m)) });
          resumeLine.say();
        } catch (err) {
          // ProFTPD (AllowStoreRestart off, its default) refuses REST+STOR and APPE alike with a 451
          // that no retry or resume gets past: the file can only be sent whole, as without REST and APPE.
          if (!(err instanceof TransferInterrupted) && restartNotPermitted(err, verb, offset)) {
            appendOnly = false;
            wholeOnly = true;
            note.warn(`the server does not let an upload continue at a byte (${(err as Error).message}); uploading ${path} again from byte 0`);
            continue;
          }
          // REST+STOR refused (e.g. "REST: 502"): append instead, on the same connection.
          const refused = err instanceof ClientError && !(err instanceof TransferInterrupted) && !(err instanceof TransferRefused) && (err.code ?? 0) >= 500;
          if (refused && verb === "STOR" && offset > 0) {
            // Said with the next try's line, once APPE is taken (resumeLine).
            appendOnly = true;
            restRefusal = err instanceof RestUnsupported ? err.message : `the server refused REST before STOR (${err.message})`;
            continuing = true;
            continue;
          }
          // APPE unknown too (500, 502, 504): the file can only be sent whole, with STOR from byte 0.
          if (refused && verb === "APPE" && REST_UNSUPPORTED_CODES.includes((err as ClientError).code!)) {
            appendOnly = false;
            wholeOnly = true;
            note.warn(`the server has neither REST nor APPE (${(err as Error).message}); uploading ${path} again from byte 0`);
            continue;
          }
          throw err;
        }
        offset += n;
        stored = offset === size; // the server's 226 for the whole file
        // The checks go out together (the digest, MFMT); once they are on the wire a tree job's next
        // file starts behind them on this connection (replies keep order).
        why = unverifiedReason(note); // this attempt's: a retry that verifies leaves no reason
        const checked = askUploadChecks(client, path, algo, ctx.verify, why);
        mtimeSet = job.keepMtime ? client.setMtime(path, st.mtime).catch(() => false) : null;
        modeSet = job.keepMode && (st.mode & 0o111) !== 0 ? client.setMode(path, st.mode).catch(() => false) : null;
        if (ctx.controlFree) {
          lent = true;
          ctx.controlFree();
        }
        digest = await sink.digest();
        sink = null;
        verifiedBy = await checked(digest, size);
        break;
      } catch (err) {
        if (err instanceof TransferInterrupted || err instanceof TransferRefused) offset += err.moved;
        if (err instanceof StoredShort) {
          offset = err.there;
          stored = false;
        }
        attempt++;
        // A mismatch is final; a connection lost while the checks were answered is retried like a
        // drop (the retry finds every byte there and only verifies), unless the connection is lent.
        if (err instanceof VerificationFailed) ctx.discard();
        if (!lent && attempt > ctx.opts.retries && ctx.opts.retries > 0) countAttempts(err, attempt, ctx.opts.retries, await worthRetrying(client, err));
        if (lent || attempt > ctx.opts.retries || !(await worthRetrying(client, err)) || ctx.handBack?.(offset)) throw err;
        note.warn(`${(err as Error).message}; reconnecting (attempt ${attempt} of ${ctx.opts.retries})`);
        attempt = await session.reconnect(attempt, note, client);
        continuing = true;
      }
    }
    checkUnchanged(job.local, fd, st, ctx);
    const timeGiven = mtimeSet ? await mtimeSet : false;
    // Offered but refused (ProFTPD on a file the account does not own, pyftpdlib without the T
    // right): the copy keeps its upload time, and every later sync took it for changed, in silence.
    if (mtimeSet && !timeGiven && session.client.features.has("MFMT")) note.warnOnce("the server refused to set the time of uploaded files (MFMT): their copies keep the time of the upload, so a later sync finds their times differ and copies them again");
    if (modeSet && !(await modeSet)) note.info("the server did not make uploaded executables executable (SITE CHMOD refused or unknown)");
    return { local: job.local, remote: path, size, moved: progress.moved, digest, verifiedBy, ...why.entry(), ...(timeGiven ? { timeGiven: true as const } : {}) };
  } catch (err) {
    progress.clear();
    sink?.dispose();
    // Nothing sent in a new upload: no record is left, so there is nothing to resume either.
    const discarded = offset === 0 && !job.resuming && !(err instanceof TransferInterrupted);
    if (discarded) ctx.discard();
    if (!discarded && worthResuming(err)) {
      const again = ctx.opts.resumeHint ?? RESUME_HINT;
      const hint = stored ? `all ${size} bytes were sent, only their check is missing: ${again} to verify the upload` : `${again} to continue the upload`;
      throw new ClientError(`${(err as Error).message}; ${hint}`, { retryable: true, kind: failureKind(err) ?? "network" });
    }
    // STOR onto a directory's name: say so, and how to upload into it (asked only after a refusal).
    if (err instanceof ClientError && (err.code === 550 || err.code === 553) && offset === 0 && !session.client.control.isClosed && (await remoteDirExists(session.client, path))) {
      throw new ClientError(`${path} is a directory on the server: end the URL with "/" to upload into it`, { code: 550, kind: "usage" });
    }
    throw err;
  }
}

/**
 * The local file must still be what was read: one that grew (a log still written), shrank or was
 * rewritten while it went out left the server a copy of what it was, verified against that, no
 * longer of the file, as a download's remote file that changed (exit 9; tar's "file changed as we
 * read it"). Nothing is left to resume: the next put sends it again.
 */
function checkUnchanged(local: string, fd: number, was: Stats, ctx: FileContext): void {
  const now = fstatSync(fd);
  if (now.size === was.size && now.mtimeMs === was.mtimeMs) return;
  ctx.discard();
  const how = now.size !== was.size ? `${was.size} → ${now.size} bytes` : "rewritten";
  throw new ClientError(`the local file ${local} changed while it was uploaded (${how}): the server's copy is the file as it was read; put it again`, { kind: "verify" });
}

/**
 * Send an upload's checks at once and return the function that compares their answers with our
 * digest and size. SIZE goes out only where no digest is expected: a file of another size has another
 * digest, and a tree of 1,000 files spared the server 1,000 commands. A server that lists HASH but
 * gives no digest is asked SIZE then.
 */
export function askUploadChecks(client: FtpClient, path: string, algo: DigestAlgorithm, verify: boolean, note: { unverified(msg: string): void }): (digest: string, size: number) => Promise<string> {
  // A refused SIZE leaves the size unknown; a reply that is no size is the server's protocol error.
  // A lost connection is no answer, nor a refusal the server hangs up after (vsftpd's "500 OOPS",
  // read before its close: refusalStands): it failed the check, which is retried like a drop on a
  // new connection, where every byte is found and only verified. Taken for "no SIZE here", the
  // upload ended "not verified", exit 0, and was forgotten.
  const askSize = () => {
    const asked = client.size(path).then(
      async (n) => {
        if (n === null) await refusalStands(client, "SIZE");
        return n;
      },
      async (err: unknown) => {
        if (!(err instanceof ClientError && err.kind !== "protocol" && err.code !== undefined && err.code >= 500)) throw err;
        // 550 is this file's own refusal (an upload-only drop box answers it for every file): no
        // NOOP each to ask whether the session goes on, as a 500 after the 226 (vsftpd's OOPS) needs.
        if (err.code === 550 && !client.control.isClosed) return null;
        await refusalStands(client, "SIZE");
        return null;
      },
    );
    asked.catch(() => {}); // awaited by the check; a failure before that is not unhandled
    return asked;
  };
  let sizeAsked: Promise<number | null> | null = verify && client.hasHash() ? null : askSize();
  const remoteSize = () => (sizeAsked ??= askSize());
  const verdict = askDigest(client, path, algo, verify, remoteSize, note).catch(async (err: unknown) => {
    // An upload-only directory (a drop box) takes the file but will not let this account read it,
    // digest included: the upload stands, unverified, rather than failing after its 226.
    if (!(err instanceof ClientError) || err.code !== 550) throw err;
    const sized = (await remoteSize()) !== null;
    note.unverified(`the server refused the digest (${err.message}), as an upload-only directory does; ${sized ? "verified size only" : "not verified"}`);
    return sized ? "size verified only" : "not verified";
  });
  verdict.catch(() => {}); // awaited by the returned function unless an earlier step fails
  return (digest, size) => verifyUpload(verdict, () => sizeAsked, remoteSize, algo, digest, size);
}

/** The server's copy differs from the local file: not resumable, not worth a retry. */
class VerificationFailed extends ClientError {
  constructor(message: string) {
    super(message, { kind: "verify" });
  }
}

/**
 * The server answered 226 but kept fewer bytes than were sent: a data connection cut with a clean FIN
 * (a relay, a middlebox timing out) looks like the end of the file to the server. Not corruption: the
 * upload continues from the server's size (REST+STOR or APPE), as after a drop, within --retries.
 */
class StoredShort extends ClientError {
  constructor(
    readonly there: number,
    size: number,
  ) {
    super(`the server stored ${there} of the ${size} bytes sent (the data connection was cut short)`, { retryable: true, kind: "network" });
  }
}

/**
 * Compare the server's size, when SIZE was sent, then its digest with ours. `sizeAsked()` is read
 * once the verdict is in: without a digest, askDigest has asked SIZE by then. A shorter file is one
 * cut short (StoredShort); a longer one, or one of the right size with another digest, is a failure.
 * A digest that differs asks SIZE (`remoteSize`) to tell the two apart.
 */
async function verifyUpload(
  verdict: Promise<{ hex: string; via: string } | string>,
  sizeAsked: () => Promise<number | null> | null,
  remoteSize: () => Promise<number | null>,
  algo: DigestAlgorithm,
  digest: string,
  size: number,
): Promise<string> {
  const remote = await verdict;
  const there = await sizeAsked();
  if (there !== null && there < size) throw new StoredShort(there, size);
  if (there !== null && there !== size) throw new VerificationFailed(`upload verification failed: the server has ${there} bytes, the local file has ${size}`);
  if (typeof remote === "string") return remote;
  if (remote.hex !== digest) {
    const sized = there ?? (await remoteSize().catch(() => null));
    if (sized !== null && sized < size) throw new StoredShort(sized, size);
    throw new VerificationFailed(`upload verification failed: sent ${algo} ${digest}, the server computed ${remote.hex}`);
  }
  return `verified by ${remote.via}`;
}
