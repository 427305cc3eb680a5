// MFMT and SITE CHMOD on local storage: a file's or directory's time and mode, set on the inode
// opened beneath the root (local-jail.ts), never on a path looked up again after the check.
import * as fs from "node:fs";
import { ROOT_MODE_REFUSED, StorageError } from "./backend.ts";
import { closeQuietly, fdPath, type Jail } from "./local-jail.ts";
import { reopenRegular } from "./local-open.ts";

/** Set the modification time of `key` (its access time kept). Throws as fs does; the caller maps it. */
export function setMtimeBeneath(jail: Jail, key: string, mtime: Date): void {
  // A directory's time (lftp's mirror and rclone keep them): set through its O_PATH descriptor's
  // /proc link, the inode opened beneath the root, never a path looked up again.
  const opened = jail.openPath(key);
  let st: fs.Stats;
  try {
    st = fs.fstatSync(opened);
  } catch (err) {
    closeQuietly(opened);
    throw err;
  }
  if (st.isDirectory()) {
    try {
      fs.utimesSync(fdPath(opened), st.atime, mtime);
    } finally {
      closeQuietly(opened);
    }
    return;
  }
  // Only a regular file is opened for it (local-open.ts).
  const fd = reopenRegular(opened, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    fs.futimesSync(fd, fs.fstatSync(fd).atime, mtime);
  } finally {
    closeQuietly(fd);
  }
}

/** Set the permission bits of `key` (never setuid, setgid or sticky). */
export function setModeBeneath(jail: Jail, key: string, mode: number): void {
  // Resolved beneath the root like every open, but O_PATH: a file or directory whose mode denies
  // reading (SITE CHMOD 000) can still be given its bits back.
  const fd = jail.openPath(key);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() && !st.isDirectory()) throw new StorageError("denied", "not a regular file or directory");
    // The root itself, reached by a link to it (`self -> .`, `sub/up -> ..`): SITE CHMOD refuses the
    // root by its path only, and `SITE CHMOD 777 self` made a home world-writable. Judged on the
    // inode opened, the one chmod changes.
    const root = fs.fstatSync(jail.rootFd);
    if (st.dev === root.dev && st.ino === root.ino) throw new StorageError("denied", ROOT_MODE_REFUSED);
    // A directory keeps its owner's read and search bits: the server (its owner) must be able to
    // list it and measure what it holds; a directory it could not read counted 0 bytes of quota.
    fs.chmodSync(fdPath(fd), st.isDirectory() ? (mode & 0o777) | 0o500 : mode & 0o777);
  } finally {
    closeQuietly(fd);
  }
}
