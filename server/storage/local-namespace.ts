// MKD, RMD, DELE and RNFR/RNTO on local storage: each acts on a name inside its parent directory
// opened beneath the root (local-jail.ts), never on a path looked up again after the check. Apart
// from local.ts, which opens the root and maps errors (sync), so that file keeps to the backend's shape.
import * as fs from "node:fs";
import { onlyReservedNames, StorageError } from "./backend.ts";
import type { Jail } from "./local-jail.ts";
import { freedByRemoval, holdingLock, renameToFree, type VerdictLocks } from "./local-removal.ts";
import { holdsOnlyReservedNames, unremovableEntries } from "./local-walk.ts";

/** Make directory `key`. Throws as fs does; the caller maps it. */
export function mkdirBeneath(jail: Jail, key: string, perm: number): void {
  using p = jail.parent(key);
  // The owner's read and search bits stay, as for setMode: the server must list and measure it.
  fs.mkdirSync(p.path, { mode: (perm & 0o777) | 0o500 });
}

/** Remove the empty directory `key` (not the root), saying why one that looks empty cannot go. */
export function rmdirBeneath(jail: Jail, key: string): void {
  using p = jail.parent(key);
  if (!fs.lstatSync(p.path).isDirectory()) throw new StorageError("not-a-directory");
  try {
    fs.rmdirSync(p.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTEMPTY" && holdsOnlyReservedNames(p.path)) throw onlyReservedNames();
    // Listed empty, or holding only what no command can name, yet not removable: say so, not a
    // bare "Directory not empty" for ever (a link to nothing in it, a Latin-1 name).
    const why = (err as NodeJS.ErrnoException).code === "ENOTEMPTY" ? unremovableEntries(jail, key) : null;
    if (why === "hidden") {
      throw new StorageError("not-empty", "only hidden entries", "it holds only entries FTP does not show (links to nothing or out of the home, special files, names with line breaks), which only an administrator can remove");
    }
    if (why === "not-utf8") {
      throw new StorageError("not-empty", "names not UTF-8", "it holds names that are not UTF-8 (listed with ? for each such byte), which no FTP command can name; only an administrator can rename or remove them");
    }
    throw err;
  }
}

/** Remove the file (or symlink) `key`; the bytes it freed (freedByRemoval). One try of `removing`. */
export function removeBeneath(jail: Jail, key: string, lastTry: boolean, verdicts: VerdictLocks): number {
  using p = jail.parent(key);
  const st = fs.lstatSync(p.path);
  if (st.isDirectory()) throw new StorageError("is-a-directory");
  // A symlink is removed itself, its target untouched (the unlink acts in the jailed parent):
  // one to a directory is listed as a link; one leading out or to nothing, hidden, kept its
  // directory from ever being removed (vsftpd and ProFTPD's DELE remove those too).
  // FIFOs, sockets and devices are not served, so not removed either.
  if (!st.isSymbolicLink() && !st.isFile()) throw new StorageError("not-found", "not a regular file");
  return freedByRemoval(p.path, st, () => fs.unlinkSync(p.path), lastTry, verdicts);
}

/** Rename `from` to `to` (neither the root); the bytes of a file it replaced. One try of `removing`. */
export function renameBeneath(jail: Jail, from: string, to: string, lastTry: boolean, verdicts: VerdictLocks, refuseWritten?: boolean): number {
  using src = jail.parent(from);
  using dst = jail.parent(to);
  const srcSt = fs.lstatSync(src.path);
  if (from === to) return 0;
  if (to.startsWith(from + "/")) throw new StorageError("denied", "cannot move a directory into itself", "cannot move a directory into itself");
  // Synchronous, as remove: the replaced file's bytes are counted once (across workers: the
  // source held under its lock, a free target renamed to only while still free).
  const old = fs.lstatSync(dst.path, { throwIfNoEntry: false });
  // Two names of one file (hard links): rename(2) changes nothing (and its verdict lock is the source's, held).
  if (old && old.dev === srcSt.dev && old.ino === srcSt.ino) return 0;
  const rename = (toFree: boolean) => {
    try {
      if (toFree) renameToFree(src.path, dst.path);
      else fs.renameSync(src.path, dst.path);
    } catch (err) {
      // EINVAL: into itself by another spelling (through a symlink).
      if ((err as NodeJS.ErrnoException).code === "EINVAL") throw new StorageError("denied", "cannot move a directory into itself", "cannot move a directory into itself");
      throw err;
    }
  };
  const move = () => {
    if (!old) {
      rename(true);
      return 0;
    }
    return freedByRemoval(dst.path, old, () => rename(false), lastTry, verdicts);
  };
  return holdingLock(src.path, lastTry, move, verdicts, refuseWritten);
}
