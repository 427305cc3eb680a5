// The one verified file transfer every job runs (a single get/put, each file of a tree, a sync):
// lock, record the remote state before the first byte, stream while hashing, reconnect and continue
// after a drop, compare sizes and the server's digest, then publish (rename) or set the bad data aside.
// This file holds what both directions share; retrieve.ts the download, file-upload.ts the upload.
import { accessSync, constants, renameSync, statSync } from "node:fs";
import { ClientError, FtpClient, type DigestAlgorithm } from "./client.ts";
import { localCause } from "./errors.ts";
import { acquireLock, type Lock } from "./state.ts";
import type { TransferOptions } from "./options.ts";
import { shown, type Notifier } from "./messages.ts";
import { noDigestReason } from "./remote-hash.ts";
import { parseTimeVal } from "../protocol/listing.ts";
import { CLI_WORDS } from "./option-words.ts";

export const PART_SUFFIX = ".ftpkit-part";
export const CORRUPT_SUFFIX = ".ftpkit-corrupt";

/** Resuming a download: the remote file as the interrupted run saw it, and what to do if it changed. */
export interface RemoteExpectation {
  size: number | null;
  mtime: string | null;
  changedHint: string;
}

/** Refuse to continue a download whose remote file is no longer the one the interrupted run saw. */
export function refuseIfChanged(was: RemoteExpectation, now: { size: number | null; mtime: string | null }): void {
  const change = describeChange(was, now);
  if (change) throw new ClientError(`the remote file changed since the interrupted download (${change}); nothing was written. ${was.changedHint}`);
}

/** How a remote file differs from what it was ("size 6 → 3, modified … → …"); "" when nothing known differs. */
export function describeChange(was: { size: number | null; mtime: string | null }, now: { size: number | null; mtime: string | null }): string {
  const changes: string[] = [];
  if (was.size !== null && now.size !== null && now.size !== was.size) changes.push(`size ${was.size} → ${now.size}`);
  if (was.mtime !== null && now.mtime !== null && now.mtime !== was.mtime) changes.push(`modified ${was.mtime} → ${now.mtime}`);
  return changes.join(", ");
}

/** Longest file name most filesystems take, in bytes. */
const NAME_MAX = 255;

/**
 * The name of a file kept beside `local` (its part file, a set-aside copy): `local` + `suffix`, or,
 * when that name would be longer than a filesystem allows (a name of 244+ bytes could not be
 * downloaded), the name cut short with a digest of the whole, so it stays one per file.
 */
export function besideFile(local: string, suffix: string): string {
  const slash = local.lastIndexOf("/");
  const name = local.slice(slash + 1);
  if (Buffer.byteLength(name + suffix) <= NAME_MAX) return local + suffix;
  const tag = `~${new Bun.CryptoHasher("sha256").update(name).digest("hex").slice(0, 12)}`;
  let cut = name;
  while (Buffer.byteLength(cut + tag + suffix) > NAME_MAX) cut = Array.from(cut).slice(0, -1).join("");
  return local.slice(0, slash + 1) + cut + tag + suffix;
}

/**
 * Keep a bad (or changed-meanwhile) download beside its file as FILE.ftpkit-corrupt, and say where it
 * is. What stands at that name and cannot be replaced (a directory) leaves the bytes in the part file:
 * the verdict stays the verification's (exit 9), not "EISDIR: … rename" (exit 3) with no word of it.
 */
export function setAsideBad(part: string, local: string): string {
  const aside = besideFile(local, CORRUPT_SUFFIX);
  try {
    renameSync(part, aside);
    return shown(aside);
  } catch (err) {
    return `${shown(part)} (not in ${shown(aside)}: ${localCause(err)})`;
  }
}

/**
 * Refuse, before any byte moves, a download whose local name is longer than file systems take: the
 * whole file came, and then its rename into place failed (ENAMETOOLONG, in Node's words), leaving
 * the bytes in a part file no run could finish (a Windows server's 100 CJK characters are 300 bytes).
 */
export function checkLocalName(local: string, hint = ""): void {
  const bytes = Buffer.byteLength(local.slice(local.lastIndexOf("/") + 1));
  if (bytes > NAME_MAX) throw new ClientError(`cannot create ${local}: its name is ${bytes} bytes, more than a file system takes (${NAME_MAX})${hint}`, { kind: "local" });
}

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
  /** Compute our digest even when the server is known to give none to compare it with (--hash given). */
  alwaysDigest?: boolean;
  note: Notifier;
  progress: FileProgress;
  /** Called once the remote state is known and before the first byte moves: persist resume state here. */
  beforeFirstByte(remote: RemoteState): void;
  /** Called when nothing resumable is left (a fresh transfer that moved nothing, or data set aside). */
  discard(): void;
  /**
   * Called once this file's lock is held: a --restart discards what was pending only now (earlier, a
   * run still moving the file lost its part file and record to a restart the lock then refused).
   */
  locked?(): void;
  /**
   * Called once the file's last command is on the wire (its reply pending): a tree job's next file
   * may start on the same control connection now, its commands pipelined behind (replies keep order).
   */
  controlFree?(): void;
  /**
   * Asked at a drop worth retrying, with the bytes of the file that are kept (local part or remote
   * partial): true when the caller (a tree job) takes the file back to try it on whichever of its
   * connections is free first; the error is then thrown instead of reconnecting.
   */
  handBack?(kept: number): boolean;
  /**
   * Tries this file already had in this job (a tree job's file back from its list): they count
   * against --retries, so that its reconnections here add up to --retries with them, not to twice that.
   */
  tried?: number;
}

/**
 * The digest to compute while the bytes move (null: none). Only one the server may be asked to
 * match: against a server with no digest command, hashing cost a core for a number nobody checks
 * (the file is then verified by its size), unless the user asked for the digest itself.
 */
export function localDigest(client: FtpClient, ctx: Pick<FileContext, "verify" | "algo" | "alwaysDigest">): DigestAlgorithm | null {
  if (!ctx.verify) return null;
  return ctx.alwaysDigest || client.mayGiveDigest(ctx.algo) ? ctx.algo : null;
}

/** Why a resumed transfer's partial data goes unchecked: the user's --no-verify, or the server. */
export function uncheckedPrefixReason(ctx: Pick<FileContext, "verify" | "opts">): string {
  return ctx.verify ? "the server offers no ranged hash" : (ctx.opts.words ?? CLI_WORDS).noVerify;
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
  /** Why it was not verified by digest, as the job's info line says it (absent when it was, or when no check was asked). */
  whyUnverified?: string;
  /** An upload: the remote file was given the local file's modification time (MFMT answered 213). */
  timeGiven?: true;
  /** A resumed download whose part file held bytes this client never wrote: how it was cut back (part-bound.ts). */
  partCut?: string;
}

/**
 * The modification time a single download gives its file: the remote one (MDTM), as lftp's get and
 * wget do and as tree jobs already did, so the file does not look newer than the server's. Only from
 * a server that offers MDTM (FEAT): one that does not may answer it with a local time, or not at all.
 * Without it the file keeps the time of the download, and the note says so (once).
 */
export function remoteTimeToKeep(client: FtpClient, mdtm: string | null, note: Pick<Notifier, "info">): Date | undefined {
  if (client.features.has("MDTM") && mdtm !== null) return parseTimeVal(mdtm);
  note.info(`the server gives no modification time (${client.features.has("MDTM") ? "MDTM failed" : "no MDTM"}): the file keeps the time of the download`);
  return undefined;
}

/** Check the directory a download lands in before any network traffic. */
export function checkWritableDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new ClientError(`cannot write to ${dir}: no such directory`, { kind: "local" });
  }
  if (!st.isDirectory()) throw new ClientError(`cannot write to ${dir}: not a directory`, { kind: "local" });
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    // EROFS too (a read-only mount), which was said to be "permission denied".
    throw new ClientError(`cannot write to ${dir}: ${localCause(err)}`, { kind: "local" });
  }
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
    if (!(err instanceof ClientError && err.code === 550)) throw err;
    // Some servers refuse SIZE for some files (Pure-FTPd, embedded ones) yet serve them: a time from
    // MDTM says the file is there (curl, wget and lftp send RETR whatever SIZE said).
    const mtime = await mtimeP.catch(() => null);
    return mtime === null ? { size: null, mtime: null, missing: true } : { size: null, mtime };
  }
  return { size, mtime: await mtimeP };
}

/** The lock on a download's part file (`local` names it in a refusal): one writer per part file. */
export function lockDownload(part: string, local: string): Lock {
  return acquireLock(`get\n${part}`, local);
}

/**
 * Why one file stands unverified: said through the job's note (once per job, as every line of it)
 * and kept for this file's outcome. Per file: a tree's files share one note, and with several
 * connections another file's reason (or none) would be read as this one's.
 */
export function unverifiedReason(note: { unverified(msg: string): void }): { unverified(msg: string): void; entry(): { whyUnverified?: string } } {
  let why: string | undefined;
  return {
    unverified(msg) {
      why = msg;
      note.unverified(msg);
    },
    entry: () => (why === undefined ? {} : { whyUnverified: why }),
  };
}

/**
 * The server's digest to compare with ours — or, when there is none to get, the verdict to report.
 * The digest command goes out at once; `remoteSize` (what SIZE said or will say) only words the
 * verdict, and is called only when there is no digest.
 */
export async function askDigest(
  client: FtpClient,
  path: string,
  algo: DigestAlgorithm,
  verify: boolean,
  remoteSize: () => number | null | Promise<number | null>,
  note: { unverified(msg: string): void },
): Promise<{ hex: string; via: string } | string> {
  const asked = verify ? client.remoteDigest(path, algo) : null;
  if (!asked) return (await remoteSize()) !== null ? "size verified, digest not requested" : "not verified";
  const remote = await asked;
  if (remote) return remote;
  // Worded by what is left: a server without SIZE either (pyftpdlib without it, old hosts) was
  // said to be "verified size only" just before the file's own line said "not verified".
  const sized = (await remoteSize()) !== null;
  note.unverified(`${noDigestReason(client, algo)}; ${sized ? "verified size only" : "not verified (no size either)"}`);
  return sized ? "size verified only" : "not verified";
}
