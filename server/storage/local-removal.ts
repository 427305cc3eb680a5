// What a removal gives back to the quota (part of the local backend): a DELE, a rename over a file,
// an overwrite's commit — each acting on a name another session's upload may still be writing, or
// (under --workers) another process may be removing at the same moment.
import * as fs from "node:fs";
import { StorageError } from "./backend.ts";
import { closeQuietly, renameNoReplace, tryLockExclusive } from "./local-jail.ts";
import { flockHeldOn, pathNamesOpenFile } from "./local-identity.ts";
import type { FileId, VerdictLock } from "./local-name-lock.ts";

/**
 * Who gives a removed file's bytes back is decided twice: by the removal (a lock held by a writer:
 * nothing, the writer will) and by the writer when it ends (its file gone: it gives back its bytes;
 * still there: it keeps them). Within one process each verdict is synchronous with its act, so they
 * cannot cross. Under --workers (and --state) they ran at the same moment in two processes: an APPE
 * on one worker ended and found its file still there, a DELE on the other, which had found its lock
 * still held a moment before, then removed it giving back nothing, and the file's bytes stayed in
 * the quota for good (SITE QUOTA 400,000 above the disk after 10 s of six sessions). Each verdict
 * and its act now run holding the file's verdict lock, seen by every process (local-name-lock.ts):
 * a removal's (and a move's) from its look at the file's lock to the unlink or rename, a writer's
 * end to the closing of its descriptor, which lets its lock go, and a writer's start from taking
 * that lock to finding the name still its file's. So, under it, a held lock is a live writer's, and
 * the removal decides either before the writer's end (which then finds its file gone) or after it
 * (the lock free: the removal gives back the file's size). Null: this process alone serves the root,
 * and nothing more is needed.
 */
export type VerdictLocks = VerdictLock | null;

/** How often, and how long apart, a writer's end (or a removal: LookAgain) asks again for a verdict lock held elsewhere (for a few system calls). */
const VERDICT_TRIES = 500;
const VERDICT_PAUSE_MS = 2;

/**
 * A writer's end (in-place upload, overwrite, claim let go): take the verdict lock of its open file
 * `fd`, waiting while another process's removal holds it. Resolves to its release. After
 * VERDICT_TRIES (a holder stopped, never a removal's few system calls) it goes on unguarded.
 */
export async function verdictOf(fd: number, verdicts: VerdictLocks): Promise<() => void> {
  if (!verdicts) return () => {};
  for (let i = 0; i < VERDICT_TRIES; i++) {
    const release = verdicts(fd);
    if (release !== "busy") return release;
    await Bun.sleep(VERDICT_PAUSE_MS);
  }
  return () => {};
}

/** Run a writer's end `end` (its verdict, and the closing of its descriptor `fd`) under the file's verdict lock. */
export async function underVerdict<T>(fd: number, verdicts: VerdictLocks, end: () => T): Promise<T> {
  const verdict = await verdictOf(fd, verdicts);
  try {
    return end();
  } finally {
    verdict();
  }
}

/** How long verdictNow asks again, at most, and its pause between tries (~0.15 ms measured). */
const VERDICT_NOW_MS = 10;
const VERDICT_NOW_PAUSE_MS = 0.1;
/** Atomics.wait on it is a synchronous pause below a millisecond: Bun.sleepSync takes whole milliseconds (0.1 sleeps not at all). */
const pause = new Int32Array(new SharedArrayBuffer(4));

/** verdictOf for a caller that cannot wait for the event loop (a writer's start, a claim let go by disposal): briefer pauses, for ~10 ms at most. */
export function verdictNow(fd: number, verdicts: VerdictLocks): () => void {
  if (!verdicts) return () => {};
  const until = performance.now() + VERDICT_NOW_MS;
  for (;;) {
    const release = verdicts(fd);
    if (release !== "busy") return release;
    if (performance.now() >= until) return () => {};
    Atomics.wait(pause, 0, 0, VERDICT_NOW_PAUSE_MS);
  }
}

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
 * lock held that long is an upload's. With `verdicts` (VerdictLocks) each try runs under the file's
 * verdict lock, and so do moves (holdingLock): the last try's busy lock is then a writer's, never a
 * move's or a removal's in another process (a move's was taken for a writer's: the file unlinked
 * giving back nothing, and the move then failed). A name found gone (moved or removed by another
 * process since the lstat) is looked at again, the last try too: it may name another file by now.
 */
export function freedByRemoval(path: string, st: fs.Stats, remove: () => void, lastTry = true, verdicts: VerdictLocks = null): number {
  if (!st.isFile()) {
    remove();
    return 0;
  }
  let fd = -1;
  try {
    const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    // The next try sees the name as it is now (an unlink then fails, not-found; a rename goes to a free name).
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw lastTry ? new LookAgain() : new RemovalBusy();
    // Unreadable (SITE CHMOD 000, the server not root): its lock is asked of /proc/locks, below.
  }
  let verdict: (() => void) | null = null;
  try {
    verdict = takeVerdict(fd >= 0 ? fd : st, verdicts);
    // An unreadable file an APPE or REST+STOR opened before its mode went to 000: its upload gives
    // its bytes back when it finds it gone, so this removal must not too. The lstat's size was given
    // back by both (a 3,000-byte file appended 5,000 bytes, then deleted: 11,000 bytes given back).
    const locked = fd >= 0 ? tryLockExclusive(fd) : !flockHeldOn(st.dev, st.ino);
    if (fd >= 0 && !lastTry && (!locked || !pathNamesOpenFile(path, fd))) throw new RemovalBusy();
    if (fd < 0 && !lastTry && !locked) throw new RemovalBusy();
    const written = !locked;
    const size = fd >= 0 ? fs.fstatSync(fd).size : st.size;
    remove();
    return written ? 0 : size;
  } finally {
    verdict?.();
    if (fd >= 0) closeQuietly(fd);
  }
}

/** A removal met a lock it could not take now: nothing was changed; `removing` tries again. */
export class RemovalBusy extends StorageError {
  constructor() {
    super("transient", "file busy", "the file is being changed by another session");
  }
}

/** Nothing was changed, and the try (the last too) comes again a moment later: a verdict lock held, a name found gone. */
class LookAgain extends RemovalBusy {}

/** The verdict lock of the file open at `file` (or of its lstat) for a removal or a move; null without `verdicts`; LookAgain while held. */
function takeVerdict(file: number | FileId, verdicts: VerdictLocks): (() => void) | null {
  if (!verdicts) return null;
  const taken = verdicts(file);
  if (taken === "busy") throw new LookAgain();
  return taken;
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
  for (let i = 0, waits = 0; ; ) {
    try {
      return attempt(i === BUSY_TRIES);
    } catch (err) {
      if (!(err instanceof RemovalBusy)) throw err;
      if (err instanceof LookAgain) {
        if (++waits > VERDICT_TRIES) throw err;
      } else if (i++ === BUSY_TRIES) throw err;
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
 * `lastTry`, when the lock is an in-place upload's and the file moves all the same, or, with
 * `refuseWritten` (RenameOptions), stays where it is: "file busy". With `verdicts`, under the file's
 * verdict lock, as a removal (freedByRemoval).
 */
export function holdingLock<T>(path: string, lastTry: boolean, move: () => T, verdicts: VerdictLocks = null, refuseWritten = false): T {
  let fd: number;
  try {
    const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return move(); // a link, an unreadable file, or gone: the move says what it finds
  }
  let verdict: (() => void) | null = null;
  try {
    if (fs.fstatSync(fd).isFile()) {
      verdict = takeVerdict(fd, verdicts);
      const locked = tryLockExclusive(fd);
      if (!lastTry && (!locked || !pathNamesOpenFile(path, fd))) throw new RemovalBusy();
      if (!locked && refuseWritten) throw new StorageError("transient", "file busy", "the file is being uploaded by another session");
    }
    return move();
  } finally {
    verdict?.();
    closeQuietly(fd);
  }
}

