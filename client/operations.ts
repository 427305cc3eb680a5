// Single-file jobs (`get URL`, `put LOCAL URL`): each is a plan of one file run by the shared verified
// transfer (file-transfer.ts), with its journal record and saved password (job-records.ts); another
// pending job in its way is pending-rivals.ts. Resuming them (and tree jobs) is resume.ts.
import { accessSync, constants, existsSync, lstatSync, readlinkSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { FtpUrl } from "../protocol/url.ts";
import { ClientError, type DigestAlgorithm } from "./client.ts";
import { failedAfter } from "./errors.ts";
import { Progress, progressMode } from "./progress.ts";
import { closeFinished, cutShort, reportSoFar } from "./report.ts";
import { decideResume } from "./resume-question.ts";
import { loadRecord, saveRecord, transferId, journalDir, type TransferRecord } from "./journal.ts";
import { firstBound } from "./part-bound.ts";
import { acquireLock, loadPassword, type Lock } from "./state.ts";
import { checkTlsFlags, displayUrl, parseUrlArg, type TransferOptions } from "./options.ts";
import { Notifier } from "./messages.ts";
import { Credentials } from "./credentials.ts";
import { Session } from "./session.ts";
import { segmentedDownload } from "./segmented.ts";
import { remoteDirExists } from "./tree-plan.ts";
import { makeLocalDir } from "./tree-dirs.ts";
import { besideFile, checkLocalName, checkWritableDir, lockDownload, PART_SUFFIX } from "./file-transfer.ts";
import { downloadFile } from "./retrieve.ts";
import { localFile, uploadFile } from "./file-upload.ts";
import { abandonIfRemoteGone, abandonIfSourceGone, FinishedElsewhere, forgetJob, stillPending } from "./job-end.ts";
import { otherDownloadInto, otherUploadTo, resumeThere } from "./pending-rivals.ts";
import { fileContext, recordSettings, withRecordSettings } from "./job-records.ts";
import { CLI_WORDS } from "./option-words.ts";

export type { TransferOptions, SecurityOptions } from "./options.ts";
export { PART_SUFFIX, CORRUPT_SUFFIX } from "./file-transfer.ts";
export { decideResume } from "./resume-question.ts";

export interface TransferResult {
  local: string;
  url: string;
  size: number;
  /** Bytes moved over the network by this run. */
  moved: number;
  /** The local digest ("" when the file was not hashed), computed with `hash`. */
  digest: string;
  hash: DigestAlgorithm;
  verifiedBy: string;
  /** Why it was not verified by digest, as `ftpkit get/put` says it (absent when it was, or when no check was asked). */
  whyUnverified?: string;
  /** A resumed download's part file held bytes ftpkit never wrote: how it was cut back (part-bound.ts). */
  partCut?: string;
}

/** LOCAL for `get URL [LOCAL]`: default the remote name in the cwd; a directory gets the remote name inside it. */
export function downloadTarget(url: FtpUrl, localArg?: string): string {
  const remoteName = basename(url.path);
  if (!remoteName || url.path.endsWith("/")) throw new ClientError(`the URL names a directory, not a file (${url.path || "the login directory"}); use ftpkit ls or get -r`, { kind: "usage" });
  if (localArg === undefined || localArg === "") return resolve(remoteName);
  const abs = resolve(localArg);
  if (localArg.endsWith("/") || (existsSync(abs) && statSync(abs).isDirectory())) return join(abs, remoteName);
  return abs;
}

/**
 * Where a download lands. A symbolic link named as the destination is written through, to its
 * target, as curl -o, wget -O and cp do (the part file's rename replaced the link with a plain
 * file). An existing file this user may not write is refused, as they refuse it (the rename, which
 * needs only the directory, replaced it all the same).
 */
export function landingPath(local: string): string {
  let path = local;
  for (let hops = 0; hops < 40; hops++) {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return path; // nothing there yet (or a link to nothing: its target is created)
    }
    if (!st.isSymbolicLink()) {
      // Refused now: the whole file came, and then its rename failed ("EISDIR: illegal operation on
      // a directory, rename …"), keeping the bytes in a part file no resume could finish.
      if (st.isDirectory()) throw new ClientError(`cannot write ${path}: a directory stands there (give the download another name: ftpkit get URL NAME)`, { kind: "local" });
      try {
        if (st.isFile()) accessSync(path, constants.W_OK);
      } catch {
        throw new ClientError(`${local} is read-only: not replaced (make it writable, or remove it)`, { kind: "local" });
      }
      return path;
    }
    path = resolve(dirname(path), readlinkSync(path));
  }
  throw new ClientError(`${local}: too many levels of symbolic links`, { kind: "local" });
}

/** Remote path for `put LOCAL URL`: a URL ending in "/" (or naming the login directory) gets the local file name. */
export function uploadTarget(url: FtpUrl, local: string): string {
  return url.path === "" || url.path.endsWith("/") ? url.path + basename(local) : url.path;
}

/** `ftpkit get URL [LOCAL]`. */
export async function getFile(urlText: string, localArg: string | undefined, opts: TransferOptions): Promise<TransferResult> {
  const url = parseUrlArg(urlText);
  checkTlsFlags(url, opts);
  const local = landingPath(downloadTarget(url, localArg));
  // LOCAL ending in "/" names a directory, made if missing (mkdir -p), as a glob's LOCAL is.
  if (localArg?.endsWith("/") && !existsSync(dirname(local))) makeLocalDir(dirname(local));
  checkWritableDir(dirname(local));
  checkLocalName(local, basename(local) === basename(url.path) ? ": give it a shorter local name (ftpkit get URL NAME)" : "");
  const dir = opts.journal ?? journalDir();
  const id = transferId("get", displayUrl(url), local);
  const note = new Notifier(opts.quiet);
  const pending = loadRecord(id, dir);
  // Another URL's interrupted download into the same file: the part file is keyed by the file alone,
  // so starting would truncate what that job kept (and leave it listed, to fail on resume).
  const rival = otherDownloadInto(local, id, dir);
  if (rival && !opts.restart) {
    throw new ClientError(`an interrupted download of ${rival.url} to ${local} is pending (its partial file ${rival.part}): finish it with ${resumeThere(rival)}, or add ${(opts.words ?? CLI_WORDS).restart} to discard it and download ${displayUrl(url)} instead`);
  }
  // --restart (or "no" to resuming): what was pending goes once the new transfer has logged in (with
  // the password saved for the job when none is given: the hint a changed file prints has none) and
  // holds the file's lock (a run still moving it keeps it). A mistyped password used to cost the
  // kept part file and the saved password before anything began.
  let replacing: (() => void) | undefined;
  if (pending) {
    const pendingPart = pending.part ?? besideFile(local, PART_SUFFIX);
    // A run still moving it holds its lock: said now, before "resuming…" is announced.
    lockDownload(pendingPart, local).release();
    const decision = await decideResume(pending, opts, note);
    if (decision === "resume") return runDownload(url, pending, withRecordSettings(opts, pending), true);
    replacing = () => {
      rmSync(pendingPart, { force: true });
      forgetJob(id, dir);
      if (decision === "declined") note.info(`the partial download of ${local} was discarded: downloading it from the start`);
    };
  }
  if (rival) {
    // A run still moving it holds its lock: said now, before anything is discarded.
    lockDownload(rival.part, local).release();
    const before = replacing;
    replacing = () => {
      before?.();
      rmSync(rival.part, { force: true });
      forgetJob(rival.record.id, rival.journal);
      note.info(`the interrupted download of ${rival.url} to ${local} was discarded`);
    };
  }
  const rec: TransferRecord = {
    id,
    direction: "get",
    kind: "file",
    url: displayUrl(url),
    local,
    part: besideFile(local, PART_SUFFIX),
    remoteSize: null,
    remoteMtime: null,
    hash: opts.hash,
    verify: opts.verify,
    ...(opts.alwaysDigest ? { alwaysDigest: true } : {}),
    ...recordSettings(url, opts),
    ...(opts.segments && opts.segments > 1 ? { segmentCount: opts.segments } : {}),
    startedAt: new Date().toISOString(),
  };
  return runDownload(url, rec, opts, false, replacing);
}

/** Continue a recorded download (`resume`), or start one. */
export async function runDownload(url: FtpUrl, rec: TransferRecord, opts: TransferOptions, resuming: boolean, replacing?: () => void): Promise<TransferResult> {
  const dir = opts.journal ?? journalDir();
  const note = new Notifier(opts.quiet);
  // Listed when the resume began: another run may have finished it since.
  if (resuming) rec = stillPending(rec, dir);
  const part = rec.part ?? besideFile(rec.local, PART_SUFFIX);
  if (resuming) checkWritableDir(dirname(rec.local));
  // The partial download is gone but the file is there: finished before the record was removed, or
  // made anew since. Either way it is not overwritten by a download started from scratch.
  if (resuming && !existsSync(part) && existsSync(rec.local)) {
    forgetJob(rec.id, dir);
    throw new ClientError(`${rec.local} exists and its partial download is gone (finished, or replaced since): nothing to resume, nothing was changed. ${capitalized((opts.words ?? CLI_WORDS).startOver("get", [rec.url, rec.local]))} to download it again`);
  }
  const creds = new Credentials(url, loadPassword(rec.id, url), opts.prompt);
  const progress = new Progress(basename(rec.local), progressMode(opts), null);
  note.progress = progress;
  using _soFar = reportSoFar((signal) => [cutShort(rec.local, rec.url, progress.moved, signal)]);
  const session = await Session.open(url, opts, creds, note);
  // Resuming: finished by another run while this one logged in (the file's lock is taken only then)?
  const locked = resuming ? () => void stillPending(rec, dir) : replacing;
  const ctx = fileContext(rec, opts, progress, note, dir, creds, locked, (remote) => {
    if (!resuming) {
      rec.remoteSize = remote.size;
      rec.remoteMtime = remote.mtime;
      // In the record saved before the first byte: a new download needs no second write until its limit.
      if (!rec.segmentCount) rec.partBound = firstBound(remote.size);
    }
    rec.part = part;
  });
  const expect = {
    size: rec.remoteSize,
    mtime: rec.remoteMtime,
    changedHint: `${capitalized((opts.words ?? CLI_WORDS).startOver("get", opts.restart ? [rec.url] : [rec.url, rec.local]))} to download it again`,
  };
  try {
    const out = rec.segmentCount
      ? await segmentedDownload(
          session,
          () => Session.another(url, opts, creds),
          {
            remote: session.resolve(url.path),
            local: rec.local,
            part,
            count: rec.segmentCount,
            segments: resuming ? rec.segments : undefined,
            save(segments) {
              rec.segments = segments;
              saveRecord(rec, dir, opts.fsync === true);
            },
            single() {
              delete rec.segmentCount;
              delete rec.segments;
            },
            ...(resuming ? { expect } : {}),
            remoteTime: true,
          },
          ctx,
        )
      : await downloadFile(
      session,
      {
        remote: session.resolve(url.path),
        local: rec.local,
        part,
        resuming,
        expect,
        remoteTime: true,
        bound: {
          recorded: resuming ? (rec.partBound ?? null) : null,
          get journaled() {
            return rec.partBound ?? null;
          },
          save(b) {
            rec.partBound = b;
            // Not flushed, even with --fsync: a journal that lost this write holds a smaller limit and
            // an earlier offset, which only make a resume fetch more again.
            saveRecord(rec, dir, false);
          },
        },
        sideSession: (signal) => Session.another(url, opts, creds.settled(), signal),
      },
      ctx,
    );
    forgetJob(rec.id, dir);
    progress.finish(out.digest ? `${rec.hash} ${out.digest} (${out.verifiedBy})` : out.verifiedBy);
    return await closeFinished(session, { local: rec.local, url: rec.url, size: out.size, moved: out.moved, digest: out.digest, hash: rec.hash, verifiedBy: out.verifiedBy, ...(out.whyUnverified ? { whyUnverified: out.whyUnverified } : {}), ...(out.partCut ? { partCut: out.partCut } : {}) });
  } catch (err) {
    if (err instanceof FinishedElsewhere) {
      session.destroy();
      throw err;
    }
    const remote = session.resolve(url.path);
    const isDir = err instanceof ClientError && err.code === 550 && !resuming && !session.client.control.isClosed && (await remoteDirExists(session.client, remote));
    const gone = resuming ? await abandonIfRemoteGone(rec, dir, part, session.client, remote, err) : null;
    session.destroy();
    if (gone) throw failedAfter(gone, progress.moved);
    throw isDir ? new ClientError(`${remote} is a directory: fetch it with get -r`, { code: 550, kind: "usage" }) : failedAfter(err, progress.moved);
  }
}

/** `ftpkit put LOCAL URL`. */
export async function putFile(localArg: string, urlText: string, opts: TransferOptions): Promise<TransferResult> {
  const url0 = parseUrlArg(urlText);
  checkTlsFlags(url0, opts);
  const local = resolve(localArg);
  const url: FtpUrl = { ...url0, path: uploadTarget(url0, local) };
  // The remote name is the local one: FTP commands end at CR LF, so it would cut them in two (a glob
  // leaves such a file out with this reason). Said before connecting, as a local fault.
  if (url.path !== url0.path && /[\r\n]/.test(basename(local))) {
    throw new ClientError(`${JSON.stringify(localArg)}: a name with a line break cannot be sent over FTP; give the remote file another name (ftpkit put FILE ${displayUrl(url0)}NAME)`, { kind: "local" });
  }
  const dir = opts.journal ?? journalDir();
  const id = transferId("put", displayUrl(url), local);
  const note = new Notifier(opts.quiet);
  using _job = lockUploadJob(id, local);
  const pending = loadRecord(id, dir);
  if (pending) abandonIfSourceGone(pending, dir);
  const st = localFile(local);
  // Another local file's interrupted upload to the same remote file: starting would write over what
  // it sent, and its resume would then append its own bytes after ours.
  const rival = otherUploadTo(displayUrl(url), id, dir);
  if (rival && !opts.restart) {
    throw new ClientError(`an interrupted upload of ${rival.record.local} to ${rival.record.url} is pending: finish it with ${resumeThere(rival)}, or add ${(opts.words ?? CLI_WORDS).restart} to discard it and upload ${local} instead`);
  }
  // As for get: the pending record and its password go once the new upload holds the file's lock.
  let replacing: (() => void) | undefined;
  if (pending) {
    const decision = await decideResume(pending, opts, note);
    if (decision === "resume") return await runUpload(url, pending, withRecordSettings(opts, pending), true);
    replacing = () => {
      forgetJob(id, dir);
      if (decision === "declined") note.info(`the interrupted upload of ${local} was discarded: uploading it from the start (over the partial remote file)`);
    };
  }
  // A run still moving it holds its job's lock: held from here, so it cannot start while this one runs.
  // (The same job recorded from another directory: this run holds its lock already.)
  using _rivalJob = rival && rival.record.id !== id ? lockUploadJob(rival.record.id, rival.record.local) : undefined;
  if (rival) {
    const before = replacing;
    replacing = () => {
      before?.();
      forgetJob(rival.record.id, rival.journal);
      note.info(`the interrupted upload of ${rival.record.local} to ${rival.record.url} was discarded`);
    };
  }
  const rec: TransferRecord = {
    id,
    direction: "put",
    kind: "file",
    url: displayUrl(url),
    local,
    remoteSize: null,
    remoteMtime: null,
    localSize: st.size,
    localMtimeMs: st.mtimeMs,
    hash: opts.hash,
    verify: opts.verify,
    ...(opts.alwaysDigest ? { alwaysDigest: true } : {}),
    ...recordSettings(url, opts),
    startedAt: new Date().toISOString(),
  };
  return await runUpload(url, rec, opts, false, replacing);
}

/**
 * A single upload holds its job's lock for the whole run, so a second run of it (a put, a resume) is
 * refused before it announces resuming: the remote file's own lock needs the login to name it.
 */
export function lockUploadJob(id: string, local: string): Lock {
  return acquireLock(`put-job\n${id}`, local);
}

/** Continue a recorded upload (`resume`), or start one. */
export async function runUpload(url: FtpUrl, rec: TransferRecord, opts: TransferOptions, resuming: boolean, replacing?: () => void): Promise<TransferResult> {
  const dir = opts.journal ?? journalDir();
  const note = new Notifier(opts.quiet);
  // The caller holds the job's lock: listed when the resume began, it may have been finished since.
  if (resuming) rec = stillPending(rec, dir);
  if (resuming) abandonIfSourceGone(rec, dir);
  const st = localFile(rec.local);
  const creds = new Credentials(url, loadPassword(rec.id, url), opts.prompt);
  const changedHint = `${(opts.words ?? CLI_WORDS).startOver("put", [rec.local, rec.url])} to upload it again`;
  if (resuming && (st.size !== rec.localSize || Math.round(st.mtimeMs) !== Math.round(rec.localMtimeMs ?? -1))) {
    throw new ClientError(`the local file ${rec.local} changed since the interrupted upload; ${changedHint}`);
  }
  const progress = new Progress(basename(rec.local), progressMode(opts), st.size);
  note.progress = progress;
  using _soFar = reportSoFar((signal) => [cutShort(rec.local, rec.url, progress.moved, signal)]);
  const session = await Session.open(url, opts, creds, note);
  const ctx = fileContext(rec, opts, progress, note, dir, creds, replacing, (before) => {
    if (!resuming) {
      rec.remoteSize = before.size;
      rec.remoteMtime = before.mtime;
    }
  });
  // A record written before this version has no "before" state: unknown, so the remote is inspected.
  const before = resuming
    ? rec.remoteSize === null && rec.remoteMtime === null
      ? rec.kind === "file" ? null : undefined
      : { size: rec.remoteSize, mtime: rec.remoteMtime }
    : undefined;
  try {
    const out = await uploadFile(session, { local: rec.local, remote: session.resolve(url.path), resuming, before }, ctx);
    forgetJob(rec.id, dir);
    progress.finish(out.digest ? `${rec.hash} ${out.digest} (${out.verifiedBy})` : out.verifiedBy);
    return await closeFinished(session, { local: rec.local, url: rec.url, size: out.size, moved: out.moved, digest: out.digest, hash: rec.hash, verifiedBy: out.verifiedBy, ...(out.whyUnverified ? { whyUnverified: out.whyUnverified } : {}), ...(out.partCut ? { partCut: out.partCut } : {}) });
  } catch (err) {
    session.destroy();
    throw failedAfter(err, progress.moved);
  }
}

/** A hint that begins a sentence. */
function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
