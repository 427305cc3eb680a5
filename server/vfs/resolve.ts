import { FtpError } from "../../protocol/errors.ts";
import { isWithin, normalizeVirtualPath, virtualBasename } from "../../protocol/path.ts";
import { hasUnsafeNameChars } from "../../protocol/printable.ts";
import type { Perm } from "../auth/types.ts";
import type { Mount } from "./mounts.ts";
import { isReservedName, StorageError, type EntryStat } from "../storage/backend.ts";

/** Where a virtual path lives: its mount and the key inside that mount's storage. */
export interface Resolved {
  vpath: string;
  mount: Mount;
  key: string;
  /** A mount's root or an ancestor of a mount point: a directory of the virtual tree itself, which
   * cannot be created, removed, renamed or overwritten, and exists even if absent on disk. */
  virtual: boolean;
  /** An ancestor of a deeper mount point ("/a" for a mount at "/a/b"), a mount's root or not. */
  aboveMount: boolean;
  /**
   * Written ending in "/" (or "/.", "/.."): the name must be a directory, as open("a.txt/") is ENOTDIR
   * on Unix and vsftpd refuses it (checkDirName). Folded away, `STOR a.txt/` wrote a.txt and `DELE
   * cur/` removed the link cur. Directory verbs take "dir/" as "dir"; a link there is followed.
   */
  dirOnly: boolean;
}

/** The longest mount prefix wins: "/pub/x" goes to a mount at "/pub" rather than "/". */
export function longestPrefix(mounts: readonly Mount[], vpath: string): Mount {
  let best: Mount | undefined;
  for (const m of mounts) {
    if (isWithin(m.vpath, vpath) && (!best || m.vpath.length > best.vpath.length)) best = m;
  }
  if (!best) throw new FtpError(550, "No such file or directory");
  return best;
}

/**
 * The one door to storage: client path in, a place out — or an FtpError that never names a real
 * path. `need` is checked against the permissions of the longest matching mount.
 */
export function resolvePath(mounts: readonly Mount[], cwd: string, input: string, need?: Perm): Resolved {
  // CR or LF in a name would forge lines in listings and replies (a bare CR survives line framing).
  if (/[\r\n]/.test(input)) throw new FtpError(553, "File name not allowed");
  const vpath = normalizeVirtualPath(cwd, expandHome(input));
  if (vpath.split("/").some(isReservedName)) throw new FtpError(553, "File name not allowed");
  const mount = longestPrefix(mounts, vpath);
  if (need && !mount.perms.has(need)) throw new FtpError(550, "Permission denied");
  const key = mount.vpath === "/" ? vpath.slice(1) : vpath.slice(mount.vpath.length + 1);
  const last = input.slice(input.lastIndexOf("/") + 1);
  const dirOnly = vpath !== "/" && input.includes("/") && (last === "" || last === "." || last === "..");
  return { vpath, mount, key, virtual: key === "" || isVirtualDirectory(mounts, vpath), aboveMount: mounts.some((m) => m.vpath !== vpath && m.vpath !== "/" && isWithin(vpath, m.vpath)), dirOnly };
}

/** A name written as a directory's ("a.txt/", Resolved.dirOnly) that is not one: ENOTDIR, as Unix says. */
export function checkDirName(r: Resolved, st: EntryStat): EntryStat {
  if (r.dirOnly && st.type !== "dir") throw new StorageError("not-a-directory");
  return st;
}

/** What an upload says to a name ending in "/" (vsftpd: 553, open(2): EISDIR): a file cannot have it. */
export function slashedUploadName(): FtpError {
  return new FtpError(553, "File name not allowed: a name ending in / names a directory");
}

/**
 * `~` and `~/…` name the login directory, "/" for every user, as vsftpd and ProFTPD expand them
 * (`curl ftp://host/~/file` sends CWD ~; scripts `cd ~/incoming`). `./~` is a file named `~`;
 * `~user` is not expanded (vsftpd does not either).
 */
function expandHome(input: string): string {
  return input === "~" || input.startsWith("~/") ? `/${input.slice(1)}` : input;
}

/**
 * A name about to be created (MKD, STOR/APPE of a new file, RNTO): the last segment may not hold a
 * control character, DEL, a C1 control or U+2028/U+2029 (protocol/printable.ts): listed to other
 * users, it would drive their terminals. Names already there are shown masked, not refused.
 */
export function checkNewName(r: Resolved): void {
  if (hasUnsafeNameChars(virtualBasename(r.vpath))) throw new FtpError(553, "File name not allowed: control characters");
}

export { isReservedName };

export function requirePerm(r: Resolved, need: Perm): void {
  if (!r.mount.perms.has(need)) throw new FtpError(550, "Permission denied");
}

/**
 * Names inside `dir` that lead to a mount point (they appear in its listing): the mount itself, or
 * the first segment of the virtual directories above a deeper one ("/a" for a mount at "/a/b/c").
 */
export function childMountNames(mounts: readonly Mount[], dir: string): string[] {
  const names = new Set<string>();
  for (const m of mounts) {
    if (m.vpath === "/" || m.vpath === dir || !isWithin(dir, m.vpath)) continue;
    const below = dir === "/" ? m.vpath.slice(1) : m.vpath.slice(dir.length + 1);
    names.add(below.split("/", 1)[0]!);
  }
  return [...names];
}

/**
 * Whether a virtual directory absent from storage stands as an empty one. An ancestor of a mount
 * point always does, and so does a root on an object store (a prefix exists only by its objects).
 * A home or mount root on disk does not: its directory is missing (a typo, a network mount not up;
 * the admin is told when the users file is read), and showing it empty would hide that from both.
 */
export function absentStandsEmpty(r: Resolved, storageGone = false): boolean {
  // A mount's root that is also above a deeper mount ("/pub" missing, "/pub/sub" mounted) stands
  // too: 550 there hid /pub/sub from a client that walks down to it (get -r, mirror, CWD pub; CWD sub).
  // A storage gone as a whole (a bucket deleted) has no implicit directories left to stand for.
  return r.virtual && (r.aboveMount || r.key !== "" || (!storageGone && r.mount.storage.implicitDirectories === true));
}

/**
 * Storage failed `err` for the directory at `r`: returns when it is a directory of the virtual tree
 * that stands empty though absent (absentStandsEmpty), else throws. A root that is gone
 * ("unavailable": a local home or mount directory missing or removed while served, a bucket
 * deleted) throws its own error, so the log says why; one storage does not find, missingRoot().
 */
export function standEmptyOrThrow(r: Resolved, err: unknown): void {
  const gone = err instanceof StorageError && err.kind === "unavailable";
  if (!r.virtual || !(gone || (err instanceof StorageError && err.kind === "not-found"))) throw err;
  if (absentStandsEmpty(r, gone)) return;
  throw gone ? err : missingRoot();
}

/** A home or mount root whose directory is missing (see absentStandsEmpty): never its real path. */
export function missingRoot(): FtpError {
  return new FtpError(550, "Directory not available");
}

/** Is `vpath` a mount point or an ancestor of one (a directory that exists virtually)? */
function isVirtualDirectory(mounts: readonly Mount[], vpath: string): boolean {
  return mounts.some((m) => m.vpath !== "/" && isWithin(vpath, m.vpath));
}
