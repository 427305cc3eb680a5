// Reading whole directories of the local backend: the sorted (and, for big directories, shared)
// name list of a listing, its entries stat'ed in rounds, and the usage walk of quotas. Split out of local.ts.
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { closeQuietly, fdPath, O_PATH_FLAG, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, statAt, uniqueFromDev, type EntryFacts, type Jail } from "./local-jail.ts";
import { isReservedName, type DirEntry } from "./backend.ts";
import { LoopShare } from "../../protocol/loop-share.ts";

/** Directories at least this big share one sorted name list between concurrent listings. */
const SHARED_NAMES_MIN = 1000;
/**
 * Name lists by directory version, held weakly: a list lives as long as a listing still uses it
 * (then every listing of that version shares it), not after. Held strongly, the 16 last versions
 * stayed for the server's life: a 60,000-entry directory that changed between listings kept ~3.6 MB
 * per version, 60 MB after 16 listings (a million entries: ~1 GB), with no listing running.
 */
const sharedNames = new Map<string, WeakRef<string[]>>();
/** Entries kept (a dead one is pruned when a list is added). */
const SHARED_NAMES_MAX = 64;
/** Name lists being read now, by directory version: a listing of the same version waits for the one read. */
const readingNames = new Map<string, Promise<string[]>>();

/**
 * The names of the directory open as `fd`, sorted. Big ones are shared by every listing of the same
 * unchanged directory running at once (keyed by device, inode, mtime and ctime in ns): fifty
 * sessions listing one 100,000-entry directory and reading nothing hold one name list, not fifty.
 */
export async function sortedNames(fd: number): Promise<string[]> {
  const st = fs.fstatSync(fd, { bigint: true });
  const version = `${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
  const hit = sharedNames.get(version)?.deref();
  if (hit) return hit;
  // Listings that start while the first one still reads wait for its list: each read its own before
  // (fifty LISTs of a 100,000-entry directory sent at once held fifty lists, ~1 GB).
  const pending = readingNames.get(version);
  if (pending) return pending;
  const reading = fsp.readdir(fdPath(fd)).then((names) => names.sort());
  readingNames.set(version, reading);
  let names: string[];
  try {
    names = await reading;
  } finally {
    readingNames.delete(version);
  }
  if (names.length >= SHARED_NAMES_MIN) {
    for (const [key, ref] of sharedNames) if (ref.deref() === undefined) sharedNames.delete(key);
    if (sharedNames.size >= SHARED_NAMES_MAX) sharedNames.delete(sharedNames.keys().next().value!);
    sharedNames.set(version, new WeakRef(names));
  }
  return names;
}

/**
 * Does the directory at `path` (one rmdir found not empty) hold reserved names only? Read until the
 * first other name, which an ordinary non-empty directory shows at once.
 */
export function holdsOnlyReservedNames(path: string): boolean {
  return holdsOnly(path, isReservedName);
}

/**
 * Whether the directory `key` holds entries but none a listing shows (links to nothing or out of the
 * root, special files, names with CR or LF, reserved names): RMD then says why it is not empty. Stops
 * at the first entry shown, so a full directory costs one entry's look.
 */
export function holdsOnlyHiddenEntries(jail: Jail, key: string): boolean {
  let fd = -1;
  try {
    fd = jail.openPath(key, true);
    return holdsOnly(fdPath(fd), (name) => isReservedName(name) || !listEntry(jail, key, name, statAt(fd, name), fd));
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeQuietly(fd);
  }
}

/** Whether the directory at `path` holds entries and `hidden` is true of each (read up to the first it is not). */
function holdsOnly(path: string, hidden: (name: string) => boolean): boolean {
  let dir: fs.Dir | null = null;
  try {
    dir = fs.opendirSync(path);
    let any = false;
    for (let e = dir.readSync(); e; e = dir.readSync()) {
      if (!hidden(e.name)) return false;
      any = true;
    }
    return any;
  } catch {
    return false;
  } finally {
    try {
      dir?.closeSync();
    } catch {}
  }
}

/** Name lists shared now (tests: none once no listing runs and the garbage collector has run). */
export function sharedNameLists(): number {
  let n = 0;
  for (const ref of sharedNames.values()) if (ref.deref() !== undefined) n++;
  return n;
}

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

/** A directory below the held levels: its name in its parent's node (the root of a subtree: null). */
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
 */
export async function diskUsage(jail: Jail, start: number, skipTop: string | null): Promise<number> {
  let total = 0;
  let sinceYield = 0;
  const pace = async () => {
    if (++sinceYield >= USAGE_BATCH) {
      sinceYield = 0;
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  const entriesOf = async (fd: number): Promise<fs.Dirent[]> => {
    try {
      return await fsp.readdir(fdPath(fd), { withFileTypes: true });
    } catch {
      return [];
    }
  };
  const openDir = (fd: number, name: string): number | null => {
    try {
      return jail.openAt(fd, name, O_PATH_FLAG | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch {
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
        total += statAt(fd, e.name)?.size ?? 0;
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
        total += statAt(fd, e.name)?.size ?? 0;
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
  return total;
}

/**
 * Entries stat'ed per round of a listing: each round is one batch of listBatches (LIST sends it
 * while the next is stat'ed), and between rounds the event loop serves other sessions.
 */
const LIST_BLOCK = 2048;

/** A listing's entries in rounds of LIST_BLOCK names, each stat'ed inside the directory opened anew. */
export async function* statRounds(jail: Jail, key: string, names: string[]): AsyncGenerator<DirEntry[]> {
  const share = new LoopShare();
  for (let from = 0; from < names.length; from += LIST_BLOCK) {
    await share.turn(); // a consumer that never waits (a fast client, STAT, a glob) would not give one
    const to = Math.min(names.length, from + LIST_BLOCK);
    const out: DirEntry[] = [];
    let fd: number;
    try {
      fd = jail.openPath(key, true);
    } catch {
      return; // the directory went away mid-listing
    }
    try {
      // Entries are stat'ed inside the opened directory (statx relative to its descriptor), so a
      // rename of an ancestor cannot swap in another directory's (outside) files — and one name
      // lookup per entry, without a path walk, is about twice as fast as lstat by path.
      for (let i = from; i < to; i++) {
        const name = names[i]!;
        const entry = listEntry(jail, key, name, statAt(fd, name), fd);
        if (entry) out.push(entry);
      }
    } finally {
      closeQuietly(fd);
    }
    yield out;
  }
}

/** Whether the directory (dev, ino) is `dir` (a key below the root) or one of its ancestors, the root included. */
function leadsAbove(jail: Jail, dir: string, dev: bigint, ino: bigint): boolean {
  const parts = dir === "" ? [] : dir.split("/");
  for (let n = parts.length; n >= 0; n--) {
    let fd: number;
    try {
      fd = jail.openPath(parts.slice(0, n).join("/"), true);
    } catch {
      continue;
    }
    try {
      const a = fs.fstatSync(fd, { bigint: true });
      if (a.dev === dev && a.ino === ino) return true;
    } finally {
      closeQuietly(fd);
    }
  }
  return false;
}

/**
 * One listed entry from its lstat, or null for what a listing must not show: vanished (no
 * stat), dangling, escaping or looping links (to the directory itself or one above it), anything
 * but files and directories, names with CR or LF. A link to a file is listed as that file (RETR
 * serves it; DELE removes the link); a link to a directory as a link (DirEntry.link).
 */
function listEntry(jail: Jail, dir: string, name: string, st: EntryFacts | undefined, dirFd: number): DirEntry | null {
  // A name with CR or LF would forge a line of the listing (such names cannot be addressed either).
  if (name.includes("\r") || name.includes("\n")) return null;
  if (st && (st.mode & S_IFMT) === S_IFLNK) {
    // Only links whose target stays inside the root are shown (the kernel resolves them beneath it).
    try {
      const fd = jail.openPath(dir === "" ? name : `${dir}/${name}`);
      try {
        const t = fs.fstatSync(fd, { bigint: true });
        // A link back to this directory or one above it (up -> ..) is a cycle: a client that follows
        // links (lftp's mirror -L) would go down it for ever. Left out.
        if (t.isDirectory() && leadsAbove(jail, dir, t.dev, t.ino)) return null;
        // Listed as a directory, a link was a way through: lftp's `rm -r` and `sync --delete`
        // emptied the directory it names, elsewhere in the home, and no command removed the link.
        if (t.isDirectory()) return dirLinkEntry(name, st, dirFd);
        st = { mode: Number(t.mode), size: Number(t.size), mtimeMs: Number(t.mtimeMs) };
      } finally {
        closeQuietly(fd);
      }
    } catch {
      return null; // dangling, escaping or unreadable
    }
  }
  if (!st) return null;
  const type = st.mode & S_IFMT;
  if (type === S_IFDIR) return { name, type: "dir", size: 0, mtime: new Date(st.mtimeMs), unique: st.unique, mode: st.mode & 0o777 };
  if (type === S_IFREG) return { name, type: "file", size: st.size, mtime: new Date(st.mtimeMs), mode: st.mode & 0o777 };
  return null;
}

/**
 * A link to a directory as listings and MLST show it: its own size and time. Its size is its
 * target's length: none when the target is not shown (an absolute one's length told the length of
 * the server's real path).
 */
function dirLinkEntry(name: string, st: EntryFacts, dirFd: number): DirEntry {
  const target = shownTarget(dirFd, name);
  return { name, type: "dir", size: target === undefined ? 0 : st.size, mtime: new Date(st.mtimeMs), link: { target } };
}

/**
 * `key` (not the root) when it is itself a symbolic link to a directory inside the root, as its
 * directory's listing shows it; a link back up (`up -> ..`), which listings leave out, included: MLST
 * of it must not say "dir" either. Null for anything else (a link to a file is that file).
 */
export function dirLinkAt(jail: Jail, key: string): DirEntry | null {
  const slash = key.lastIndexOf("/");
  const dir = slash < 0 ? "" : key.slice(0, slash);
  const name = key.slice(slash + 1);
  const dirFd = jail.openPath(dir, true);
  try {
    const st = statAt(dirFd, name);
    if (!st || (st.mode & S_IFMT) !== S_IFLNK) return null;
    let fd: number;
    try {
      fd = jail.openPath(key);
    } catch {
      return null; // dangling, escaping or looping: not a directory
    }
    try {
      return fs.fstatSync(fd).isDirectory() ? dirLinkEntry(name, st, dirFd) : null;
    } finally {
      closeQuietly(fd);
    }
  } finally {
    closeQuietly(dirFd);
  }
}

/**
 * A link's text as LIST's "name -> target" and MLSD's "OS.unix=slink:target" show it: only a relative
 * one (an absolute one names the server's real paths), and none that would break a line (MLSD leaves
 * out what a fact value cannot hold: formatMlsxLine).
 */
function shownTarget(dirFd: number, name: string): string | undefined {
  try {
    const target = fs.readlinkSync(`${fdPath(dirFd)}/${name}`);
    return target.startsWith("/") || /[\r\n\0]/.test(target) ? undefined : target;
  } catch {
    return undefined;
  }
}
