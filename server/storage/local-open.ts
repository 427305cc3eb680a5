// Opening a served name for reading or writing only once it is known to be a regular file: it is
// first opened O_PATH (which opens no device and no FIFO end) and checked, then reopened through its
// descriptor, the same inode. A FIFO, socket or device is never opened for I/O: a FIFO's open woke a
// local writer or reader waiting on it (its data lost, or an end of file it did not expect), and a
// device's open may act (a tape rewinds, a watchdog starts, a terminal becomes the controlling one).
import * as fs from "node:fs";
import { StorageError } from "./backend.ts";
import { closeQuietly, fdPath, O_PATH_FLAG } from "./local-jail.ts";

const O_CLOEXEC = 0o2000000;

/**
 * Reopen the O_PATH descriptor `pathFd` with `flags` if it names a regular file; `pathFd` is closed
 * in every case. A directory is "is-a-directory", a symlink ELOOP (as O_NOFOLLOW), anything else "denied".
 */
export function reopenRegular(pathFd: number, flags: number): number {
  const { O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  try {
    const st = fs.fstatSync(pathFd);
    if (st.isDirectory()) throw new StorageError("is-a-directory", "not a regular file");
    if (st.isSymbolicLink()) throw Object.assign(new Error("ELOOP"), { code: "ELOOP", errno: -40 });
    if (!st.isFile()) throw new StorageError("denied", "not a regular file");
    // /proc/self/fd/N is a magic link to the inode held: nothing is looked up by name again.
    return fs.openSync(fdPath(pathFd), flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW));
  } finally {
    closeQuietly(pathFd);
  }
}

/**
 * open(2) of `path` (its last segment not followed: callers pass O_NOFOLLOW) that opens only a
 * regular file or, with O_CREAT, creates one (exclusively: a name that appears meanwhile is looked
 * at again). Errors as open(2)'s, or reopenRegular's.
 */
export function openRegularAt(path: string, flags: number, mode: number): number {
  const { O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  if (flags & O_CREAT && flags & O_EXCL) return fs.openSync(path, flags, mode);
  for (let attempt = 0; ; attempt++) {
    let pathFd: number;
    try {
      pathFd = fs.openSync(path, O_PATH_FLAG | O_NOFOLLOW | O_CLOEXEC);
    } catch (err) {
      if (!(flags & O_CREAT) || (err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 3) throw err;
      try {
        return fs.openSync(path, flags | O_EXCL, mode);
      } catch (err2) {
        if ((err2 as NodeJS.ErrnoException).code !== "EEXIST") throw err2;
        continue;
      }
    }
    return reopenRegular(pathFd, flags);
  }
}
