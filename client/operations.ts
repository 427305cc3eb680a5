// Single-file jobs (`get URL`, `put LOCAL URL`) and `ls`: each is a plan of one file run by the
// shared verified transfer (file-transfer.ts), with its journal record and saved password. Resuming
// them (and tree jobs) is resume.ts.
import { accessSync, constants, existsSync, lstatSync, readlinkSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { FtpUrl } from "../protocol/url.ts";
import { ClientError, type DigestAlgorithm } from "./client.ts";
import { failedAfter } from "./errors.ts";
import { Progress, progressMode } from "./progress.ts";
import { closeFinished, cutShort, reportSoFar } from "./report.ts";
import { decideResume } from "./resume-question.ts";
import { listRecords, loadRecord, saveRecord, transferId, journalDir, type TransferRecord } from "./journal.ts";
import { acquireLock, loadPassword, savePassword, type Lock } from "./state.ts";
import { checkTlsFlags, displayUrl, parseUrlArg, tlsMode, type TransferOptions } from "./options.ts";
import { Notifier } from "./messages.ts";
import { Credentials } from "./credentials.ts";
import { Session } from "./session.ts";
import { segmentedDownload } from "./segmented.ts";
import { remoteDirExists } from "./tree-plan.ts";
import { besideFile, checkWritableDir, lockDownload, PART_SUFFIX, type FileContext } from "./file-transfer.ts";
import { downloadFile } from "./retrieve.ts";
import { localFile, uploadFile } from "./file-upload.ts";
import { abandonIfRemoteGone, abandonIfSourceGone, forgetJob } from "./job-end.ts";
import { journalsElsewhere } from "./journal-index.ts";

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

/**
 * What a job began with, kept in its record so `resume` needs no flags again: the TLS trust, the
 * rate limit, active mode and --fsync.
 */
export function recordSettings(url: FtpUrl, opts: TransferOptions): Pick<TransferRecord, "tls" | "insecure" | "ca" | "rate" | "active" | "fsync"> {
  const mode = tlsMode(url, opts);
  return {
    ...(mode === "explicit" ? { tls: "explicit" as const } : {}),
    ...(mode && opts.insecure ? { insecure: true } : {}),
    ...(mode && opts.ca?.length ? { ca: opts.ca } : {}),
    ...(opts.rate > 0 ? { rate: opts.rate } : {}),
    ...(opts.active ? { active: true as const } : {}),
    ...(opts.fsync ? { fsync: true as const } : {}),
  };
}

/**
 * The options a resumed job runs with: a transfer that began over TLS continues over TLS with the
 * same trust (never silently in clear text); its rate limit, active mode and --fsync stay unless
 * the resuming command gives its own.
 */
export function withRecordSettings(opts: TransferOptions, rec: TransferRecord): TransferOptions {
  // The digest the job began with: its session announces that one (OPTS HASH), not --hash's.
  const out = { ...opts, hash: rec.hash };
  if (rec.tls === "explicit") out.tls = true;
  if (rec.insecure) out.insecure = true;
  if (rec.ca?.length) out.ca = [...(opts.ca ?? []), ...rec.ca.filter((c) => !opts.ca?.includes(c))];
  if (!opts.rateGiven && rec.rate) out.rate = rec.rate; // `--limit-rate 0` lifts it
  if (rec.active) out.active = true;
  if (rec.fsync) out.fsync = true;
  return out;
}

/** Persist a job before its first byte: the record in the journal (flushed with --fsync), the password in the user's state dir. */
export function persistJob(rec: TransferRecord, creds: Credentials, dir: string, durable: boolean): void {
  // A login name that came from ~/.netrc goes into the record's URL: a resume logs in as that user,
  // with the password kept for it, also once the netrc is gone (it logged in as anonymous).
  const url = parseUrlArg(rec.url);
  if (url.user === undefined && !creds.anonymous) rec.url = displayUrl({ ...url, user: creds.user });
  saveRecord(rec, dir, durable);
  const pw = creds.known();
  if (pw !== undefined) savePassword(rec.id, pw, parseUrlArg(rec.url), dir);
}


/** `ftpkit get URL [LOCAL]`. */
export async function getFile(urlText: string, localArg: string | undefined, opts: TransferOptions): Promise<TransferResult> {
  const url = parseUrlArg(urlText);
  checkTlsFlags(url, opts);
  const local = landingPath(downloadTarget(url, localArg));
  checkWritableDir(dirname(local));
  const dir = opts.journal ?? journalDir();
  const id = transferId("get", displayUrl(url), local);
  const note = new Notifier(opts.quiet);
  const pending = loadRecord(id, dir);
  // Another URL's interrupted download into the same file: the part file is keyed by the file alone,
  // so starting would truncate what that job kept (and leave it listed, to fail on resume).
  const rival = otherDownloadInto(local, id, dir);
  if (rival && !opts.restart) {
    throw new ClientError(`an interrupted download of ${rival.url} to ${local} is pending (its partial file ${rival.part}): finish it with ${resumeThere(rival)}, or add --restart to discard it and download ${displayUrl(url)} instead`);
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

/** A pending download of another URL whose part file is the one a download into `local` uses. */
function otherDownloadInto(local: string, id: string, dir: string): (PendingRival & { url: string; part: string }) | null {
  const part = besideFile(local, PART_SUFFIX);
  const r = otherPendingJob("get", id, dir, (r) => (r.part ?? besideFile(r.local, PART_SUFFIX)) === part || r.local === local);
  return r ? { ...r, url: r.record.url, part: r.record.part ?? besideFile(r.record.local, PART_SUFFIX) } : null;
}

/** A pending upload of another local file to `url` (the remote file it would write). */
function otherUploadTo(url: string, id: string, dir: string): PendingRival | null {
  return otherPendingJob("put", id, dir, (r) => r.url === url);
}

/** A pending job in the way, the journal that holds it, and where `ftpkit resume` runs it (null: this directory). */
interface PendingRival {
  record: TransferRecord;
  journal: string;
  cwd: string | null;
}

/**
 * Another pending single-file job whose target `clashes` with this one's: a job is keyed by URL +
 * local file, but a download's part file is the local file's and an upload writes the remote one.
 * This directory's journal first, then every other one the pending index knows (a job started from
 * another directory and killed writes the same part file or remote file); there, this very job
 * (same id) is in the way too, since this directory has no record of it.
 */
function otherPendingJob(direction: TransferRecord["direction"], id: string, dir: string, clashes: (r: TransferRecord) => boolean): PendingRival | null {
  const fits = (r: TransferRecord) => r.direction === direction && r.kind === "file" && clashes(r);
  if (existsSync(dir)) {
    for (const r of listRecords(dir)) if (r.id !== id && fits(r)) return { record: r, journal: dir, cwd: null };
  }
  for (const place of journalsElsewhere(dir)) {
    for (const r of listRecords(place.journal)) if (fits(r)) return { record: r, journal: place.journal, cwd: place.cwd };
  }
  return null;
}

/** "`ftpkit resume`", and where to run it when the job was recorded from another directory. */
function resumeThere(rival: PendingRival): string {
  return rival.cwd === null ? "`ftpkit resume`" : `\`ftpkit resume\` in ${rival.cwd}`;
}

function fileContext(
  rec: TransferRecord,
  opts: TransferOptions,
  progress: Progress,
  note: Notifier,
  dir: string,
  creds: Credentials,
  /** --restart: discard what was pending, once the file's lock is held. */
  replacing: (() => void) | undefined,
  onRemote: (r: { size: number | null; mtime: string | null }) => void,
): FileContext {
  return {
    opts,
    algo: rec.hash,
    verify: opts.verify && rec.verify !== false,
    alwaysDigest: opts.alwaysDigest === true || rec.alwaysDigest === true,
    note,
    progress,
    beforeFirstByte(remote) {
      onRemote(remote);
      persistJob(rec, creds, dir, opts.fsync === true);
    },
    discard() {
      forgetJob(rec.id, dir);
    },
    ...(replacing ? { locked: replacing } : {}),
  };
}

/** Continue a recorded download (`resume`), or start one. */
export async function runDownload(url: FtpUrl, rec: TransferRecord, opts: TransferOptions, resuming: boolean, replacing?: () => void): Promise<TransferResult> {
  const dir = opts.journal ?? journalDir();
  const note = new Notifier(opts.quiet);
  const part = rec.part ?? besideFile(rec.local, PART_SUFFIX);
  if (resuming) checkWritableDir(dirname(rec.local));
  // The partial download is gone but the file is there: finished before the record was removed, or
  // made anew since. Either way it is not overwritten by a download started from scratch.
  if (resuming && !existsSync(part) && existsSync(rec.local)) {
    forgetJob(rec.id, dir);
    throw new ClientError(`${rec.local} exists and its partial download is gone (finished, or replaced since): nothing to resume, nothing was changed. Run \`ftpkit get --restart ${rec.url} ${rec.local}\` to download it again`);
  }
  const creds = new Credentials(url, loadPassword(rec.id, url));
  const progress = new Progress(basename(rec.local), progressMode(opts), null);
  note.progress = progress;
  using _soFar = reportSoFar((signal) => [cutShort(rec.local, rec.url, progress.moved, signal)]);
  const session = await Session.open(url, opts, creds, note);
  const ctx = fileContext(rec, opts, progress, note, dir, creds, replacing, (remote) => {
    if (!resuming) {
      rec.remoteSize = remote.size;
      rec.remoteMtime = remote.mtime;
    }
    rec.part = part;
  });
  const expect = {
    size: rec.remoteSize,
    mtime: rec.remoteMtime,
    changedHint: `Run \`ftpkit get --restart ${rec.url}${opts.restart ? "" : ` ${rec.local}`}\` to download it again`,
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
      },
      ctx,
    );
    forgetJob(rec.id, dir);
    progress.finish(out.digest ? `${rec.hash} ${out.digest} (${out.verifiedBy})` : out.verifiedBy);
    return await closeFinished(session, { local: rec.local, url: rec.url, size: out.size, moved: out.moved, digest: out.digest, hash: rec.hash, verifiedBy: out.verifiedBy });
  } catch (err) {
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
    throw new ClientError(`an interrupted upload of ${rival.record.local} to ${rival.record.url} is pending: finish it with ${resumeThere(rival)}, or add --restart to discard it and upload ${local} instead`);
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
  if (resuming) abandonIfSourceGone(rec, dir);
  const st = localFile(rec.local);
  const creds = new Credentials(url, loadPassword(rec.id, url));
  const changedHint = `run \`ftpkit put --restart ${rec.local} ${rec.url}\` to upload it again`;
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
    return await closeFinished(session, { local: rec.local, url: rec.url, size: out.size, moved: out.moved, digest: out.digest, hash: rec.hash, verifiedBy: out.verifiedBy });
  } catch (err) {
    session.destroy();
    throw failedAfter(err, progress.moved);
  }
}

export function sameRecordTarget(rec: TransferRecord, url: FtpUrl): boolean {
  return rec.url === displayUrl(url);
}
