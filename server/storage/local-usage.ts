// The usage walk of quotas (local backend): bytes of regular files under a directory, at any depth,
// whatever their names' encoding. Split out of local-walk.ts.
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { closeQuietly, fdPath, O_PATH_FLAG, statAt, type Jail } from "./local-jail.ts";
import { StorageError } from "./backend.ts";
import { storageError } from "./local-errors.ts";
import { nameBytes } from "./local-names.ts";

/** Entries stat'ed between two yields of a usage walk (≈1–2 ms of lstat calls). */
const USAGE_BATCH = 1000;

/** Directory levels a usage walk holds open; deeper ones are reached again from the last of them. */
const HELD_LEVELS = 32;
/**
 * Below HELD_LEVELS, levels held open at once: a directory deeper than that is reopened from the last
 * held level. Each of them was: 10,000 empty directories 2,000 levels down made one walk ~20 million
 * opens (27 s) and ~470 MB of paths (one array of ~2,000 names each).
 */
const BELOW_LEVELS = 8;

/** A directory below the held levels: its name (raw: local-names.ts) in its parent's node (the root of a subtree: null). */
interface Below {
  parent: Below | null;
  name: string;
}

/** The names from the subtree's root down to `node`. */
function pathOf(node: Below): string[] {
  const names: string[] = [];
  for (let n: Below | null = node; n; n = n.parent) names.push(n.name);
  return names.reverse();
}

/**
 * Bytes of regular files under the directory (or file) open as `start`, walked through opened
 * directories (never following links) in batches that yield to the event loop: 100,000 files never
 * stall other sessions. `skipTop` is a name left out at the top level (the temp directory of
 * uploads in progress, which their own reservations book). `start` stays open: the caller's.
 * Every depth counts: the walk used to stop at 64 levels, and a tree deeper than that held bytes
 * the quota never saw (70 nested MKDs, then uploads). Down to HELD_LEVELS each level's descriptor is
 * held; below, BELOW_LEVELS more at most, and a deeper directory is reopened one name at a time from
 * the last held level, so a hostile depth costs time (bounded per directory), never descriptors.
 * Names are read and looked up as bytes (local-names.ts): read as UTF-8, a name that is not was
 * looked up under another name, and its file, or its whole subtree, counted 0 (900 KB under
 * `legacy\xE9/` beside a 1 MB quota: "used 0", and a 300 KB upload accepted).
 */
export async function diskUsage(jail: Jail, start: number, skipTop: string | null, onUnreadable?: (folders: number) => void): Promise<number> {
  let total = 0;
  let unreadable = 0;
  /**
   * A folder the walk could not list or open. Gone or replaced meanwhile (ENOENT, ENOTDIR, ELOOP: now
   * a link): nothing to count. Not the server's to read (EACCES, EPERM): counted as skipped, and the
   * caller warns that the figure is short (it used to be silently: a root-owned 0700 folder of 900 KB
   * in a home served as nobody, "used 0"). Anything else (EMFILE, ENFILE, EIO, ENOMEM) is a passing
   * state of the server: the measure fails, and the ledger stays unmeasured (uploads 451 "try again
   * later", measured again at the next) rather than under-count for as long as it lives.
   */
  const skipped = (err: unknown) => {
    // The jail's own refusals (a loop of links, a path outside the home) are not folders to count.
    if (err instanceof StorageError && err.kind !== "transient") return;
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return;
    if (code === "EACCES" || code === "EPERM") {
      unreadable++;
      return;
    }
    throw storageError(err);
  };
  let sinceYield = 0;
  const pace = async () => {
    if (++sinceYield >= USAGE_BATCH) {
      sinceYield = 0;
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  const entriesOf = async (fd: number): Promise<fs.Dirent[]> => {
    try {
      return await fsp.readdir(fdPath(fd), { withFileTypes: true, encoding: "latin1" });
    } catch (err) {
      skipped(err);
      return [];
    }
  };
  const openDir = (fd: number, name: string): number | null => {
    try {
      return jail.openAt(fd, nameBytes(name), O_PATH_FLAG | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      skipped(err);
      return null;
    }
  };
  /** The directory `names` below `base`, opened name by name (never following a link); null if gone. */
  const reopen = (base: number, names: readonly string[]): number | null => {
    let fd = base;
    for (const name of names) {
      const next = openDir(fd, name);
      if (fd !== base) closeQuietly(fd);
      if (next === null) return null;
      fd = next;
    }
    return fd;
  };
  /**
   * Everything below `base`'s subdirectory `first`, holding at most BELOW_LEVELS more descriptors:
   * each directory is walked from its open parent while that many are held, and only deeper ones are
   * reopened from `base`. Their paths share their prefixes (a node per directory), so the walk's
   * memory grows with the directories, not with directories × depth.
   */
  const walkBelow = async (base: number, first: string): Promise<void> => {
    const pending: Below[] = [{ parent: null, name: first }];
    while (pending.length > 0) {
      const node = pending.pop()!;
      const fd = reopen(base, pathOf(node));
      if (fd === null) continue;
      try {
        await walkOpen(fd, node, 1, pending);
      } finally {
        closeQuietly(fd);
      }
    }
  };
  const walkOpen = async (fd: number, node: Below, level: number, pending: Below[]): Promise<void> => {
    for (const e of await entriesOf(fd)) {
      await pace();
      if (e.isFile()) {
        total += statAt(fd, e.name, true)?.size ?? 0;
        continue;
      }
      if (!e.isDirectory()) continue;
      const child: Below = { parent: node, name: e.name };
      if (level >= BELOW_LEVELS) {
        pending.push(child);
        continue;
      }
      const childFd = openDir(fd, e.name);
      if (childFd === null) continue;
      try {
        await walkOpen(childFd, child, level + 1, pending);
      } finally {
        closeQuietly(childFd);
      }
    }
  };
  const walk = async (fd: number, depth: number, top: boolean): Promise<void> => {
    for (const e of await entriesOf(fd)) {
      await pace();
      if (e.isFile()) {
        total += statAt(fd, e.name, true)?.size ?? 0;
      } else if (e.isDirectory()) {
        if (top && e.name === skipTop) continue;
        if (depth + 1 >= HELD_LEVELS) {
          await walkBelow(fd, e.name);
          continue;
        }
        const child = openDir(fd, e.name);
        if (child === null) continue;
        try {
          await walk(child, depth + 1, false);
        } finally {
          closeQuietly(child);
        }
      }
    }
  };
  const st = fs.fstatSync(start);
  if (st.isFile()) return st.size;
  if (!st.isDirectory()) return 0;
  await walk(start, 0, true);
  if (unreadable > 0) onUnreadable?.(unreadable);
  return total;
}
