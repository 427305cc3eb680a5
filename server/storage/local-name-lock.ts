// A new name's reservation as other processes see it (--workers): a lock file in the root's temp
// directory, named by a digest of the reservation's id, held with flock(2) while reserved. The lock
// belongs to the open file, so a worker that dies lets its names go with it. The verdict locks of
// files (verdictLocks, for local-removal.ts) are such lock files too.
import * as fs from "node:fs";
import * as nodePath from "node:path";
import { closeQuietly, fdPath, tryLockExclusive } from "./local-jail.ts";
import { pathNamesOpenFile } from "./local-identity.ts";
import type { OpenTempDir } from "./local-temp.ts";

/** No host name holds "@", so the temp directory's sweep of dead processes' files never takes these for one. */
export const NAME_LOCK_PREFIX = "@name.";

export interface NameLock {
  readonly fd: number;
  /** The temp directory, held open while locked: `path` goes through it. */
  readonly dirFd: number;
  readonly path: string;
}

/**
 * Lock `id` (parent dev:ino and name) among every process serving `tempDir`'s root. "busy": another
 * process (or another claim of this one) holds it. null: no lock file could be had (a read-only or
 * full disk, a temp directory that is not one): the caller's in-process reservation is then all there is.
 */
export function lockName(tempDir: OpenTempDir, id: string): NameLock | "busy" | null {
  const lock = lockFile(tempDir, id);
  return lock === "raced" ? null : lock;
}

/** lockName; "raced": each try found the file unlinked by its holder between our open and our lock. */
function lockFile(tempDir: OpenTempDir, id: string): NameLock | "busy" | "raced" | null {
  const digest = new Bun.CryptoHasher("sha256").update(id).digest("hex").slice(0, 40);
  let dirFd: number;
  try {
    dirFd = tempDir();
  } catch {
    return null;
  }
  const path = nodePath.join(fdPath(dirFd), NAME_LOCK_PREFIX + digest);
  const { O_RDWR, O_CREAT, O_NOFOLLOW } = fs.constants;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600);
    } catch {
      break;
    }
    if (!tryLockExclusive(fd)) {
      closeQuietly(fd);
      closeQuietly(dirFd);
      return "busy";
    }
    // Its holder unlinks the file before letting go: a lock on an unlinked file guards nothing, so
    // the lock counts only while the path still names the file locked.
    if (pathNamesOpenFile(path, fd)) return { fd, dirFd, path };
    closeQuietly(fd);
    if (attempt === 2) {
      closeQuietly(dirFd);
      return "raced";
    }
  }
  closeQuietly(dirFd);
  return null;
}

/**
 * Takes the verdict lock of an open file, or of a file by its lstat (see VerdictLocks in local-removal.ts): its release, or
 * "busy" while another session of any process holds it.
 */
export type VerdictLock = (file: number | FileId) => (() => void) | "busy";

/** A file by device and inode, for one this process cannot open (mode 000): its lstat. */
export interface FileId {
  dev: number | bigint;
  ino: number | bigint;
}

/**
 * The verdict locks of a root that other processes serve too: a lock file per file (device and
 * inode) in the root's temp directory, held with flock(2) for the few system calls of a verdict, so
 * a process that dies holding one lets it go. A lock file that cannot be had at all (a read-only or
 * full disk) leaves the verdict unguarded, as a process alone.
 */
export function verdictLocks(tempDir: OpenTempDir): VerdictLock {
  return (file) => {
    let id: string;
    try {
      const st = typeof file === "number" ? fs.fstatSync(file) : file;
      id = `verdict ${st.dev}:${st.ino}`;
    } catch {
      return () => {};
    }
    const lock = lockFile(tempDir, id);
    if (lock === "busy" || lock === "raced") return "busy";
    return lock ? () => unlockName(lock) : () => {};
  };
}

/** Let the name go: unlinked while still locked (see lockName), then closed, which ends the lock. */
export function unlockName(lock: NameLock): void {
  unlinkLocked(lock.path, lock.fd);
  closeQuietly(lock.dirFd);
}

/** Remove a lock file no process holds (one a killed server left), leaving held ones alone. */
export function sweepNameLock(path: string): void {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
  } catch {
    return;
  }
  if (tryLockExclusive(fd) && pathNamesOpenFile(path, fd)) unlinkLocked(path, fd);
  else closeQuietly(fd);
}

function unlinkLocked(path: string, fd: number): void {
  try {
    fs.unlinkSync(path);
  } catch {}
  closeQuietly(fd);
}

