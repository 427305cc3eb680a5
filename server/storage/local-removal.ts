// What a removal gives back to the quota (part of the local backend): a DELE, a rename over a file,
// an overwrite's commit — each acting on a name another session's upload may still be writing, or
// (under --workers) another process may be removing at the same moment.
import * as fs from "node:fs";
import { StorageError } from "./backend.ts";
import { closeQuietly, pathNamesOpenFile, renameNoReplace, tryLockExclusive } from "./local-jail.ts";

/** The size of an open file that is no longer in any directory (removed or replaced while open), else 0. */
export function removedSize(fd: number): number {
  try {
    const st = fs.fstatSync(fd);
    return st.nlink === 0 ? st.size : 0;
  } catch {
    return 0;
  }
}

/**
 * Run `remove` (an unlink, or a rename over the name) on the entry at `path` whose lstat is `st`,
 * and return the bytes it gave back to the quota. A file an in-place upload is still writing gives
 * back nothing: that upload finds its file gone when it ends and settles for it (`delta` in
 * local-upload.ts), so the bytes are counted back once — before, DELE gave back the size at that
 * moment and the upload then booked the whole file it had written into the void. The removal runs
 * holding the file's lock, so no upload can start writing it in between (it gets 450, file busy).
 *
 * Within one process nothing runs between the lock and the removal. Under --workers another
 * process's removal of the same file can hold that lock (for microseconds), and it was taken for an
 * upload's: of two DELEs of one file on two workers one removed it giving back nothing, the other
 * failed (550), and the quota kept the file's bytes for good (1 round in 150). So a busy lock, or a
 * name that no longer names the file locked, is RemovalBusy until `lastTry` (see `removing`): only a
 * lock held that long is an upload's. A file gone since the lstat was removed, and given back, by
 * another process: nothing to give back here.
 */
export function freedByRemoval(path: string, st: fs.Stats, remove: () => void, lastTry = true): number {
  if (!st.isFile()) {
    remove();
    return 0;
  }
  let fd = -1;
  try {
    const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      if (!lastTry) throw new RemovalBusy(); // the next try sees the name as it is now
      remove(); // an unlink then fails (not-found), a rename creates the name
      return 0;
    }
    // Unreadable (SITE CHMOD 000): no lock to ask; the lstat's size is the best known.
  }
  try {
    const locked = fd >= 0 && tryLockExclusive(fd);
    if (fd >= 0 && !lastTry && (!locked || !pathNamesOpenFile(path, fd))) throw new RemovalBusy();
    const written = fd >= 0 && !locked;
    const size = fd >= 0 ? fs.fstatSync(fd).size : st.size;
    remove();
    return written ? 0 : size;
  } finally {
    if (fd >= 0) closeQuietly(fd);
  }
}

/** A removal met a lock it could not take now: nothing was changed; `removing` tries again. */
export class RemovalBusy extends StorageError {
  constructor() {
    super("transient", "file busy", "the file is being changed by another session");
  }
}

/** Tries of `removing` before a busy lock counts as an upload's, and the pause between them (the event loop runs meanwhile). */
const BUSY_TRIES = 25;
const BUSY_PAUSE_MS = 2;

/**
 * Run `attempt`, a synchronous step that ends in freedByRemoval (given `lastTry`), again a moment
 * later while it throws RemovalBusy; the last try takes a lock still busy for an upload's. Each try
 * is synchronous from its lstat to the removal, so within one process nothing slips in between.
 */
export async function removing<T>(attempt: (lastTry: boolean) => T): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return attempt(i === BUSY_TRIES);
    } catch (err) {
      if (!(err instanceof RemovalBusy) || i === BUSY_TRIES) throw err;
    }
    await Bun.sleep(BUSY_PAUSE_MS);
  }
}

/**
 * Rename `from` to `to`, a name its lstat found free: never over a file another process put there
 * since (an upload's commit, a rename), whose bytes would then stay in the quota for good: RemovalBusy
 * then, and the next try sees it. Where renameat2's RENAME_NOREPLACE is missing, a plain rename.
 */
export function renameToFree(from: string, to: string): void {
  try {
    if (renameNoReplace(from, to)) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new RemovalBusy();
    throw err;
  }
  fs.renameSync(from, to);
}

/**
 * Run `move` (a rename of the entry at `path`) holding that file's lock, as a removal does: another
 * process's removal or replacement of it, which measured it under its lock, cannot see it move away
 * in between (it would give back the bytes of a file still there). Busy: RemovalBusy until
 * `lastTry`, when the lock is an in-place upload's and the file moves all the same, as before.
 */
export function holdingLock<T>(path: string, lastTry: boolean, move: () => T): T {
  let fd: number;
  try {
    const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return move(); // a link, an unreadable file, or gone: the move says what it finds
  }
  try {
    if (fs.fstatSync(fd).isFile() && !lastTry && (!tryLockExclusive(fd) || !pathNamesOpenFile(path, fd))) throw new RemovalBusy();
    return move();
  } finally {
    closeQuietly(fd);
  }
}

