// Reading whole directories of the local backend: the sorted (and, for big directories, shared)
// name list of a listing, its entries stat'ed in rounds, and why RMD found one not empty. Split out of
// local.ts. Names are read as bytes and stat'ed by them (local-names.ts).
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { closeQuietly, fdPath, O_PATH_FLAG, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, statAt, type EntryFacts, type Jail } from "./local-jail.ts";
import { isReservedName, type DirEntry } from "./backend.ts";
import { decodeName, listedName, maskedName, nameBytes, splitListed } from "./local-names.ts";
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
 * The names of the directory open as `fd` (listedName: one that is not UTF-8 with its bytes), sorted
 * by the name shown. Big ones are shared by every listing of the same
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
  const reading = fsp.readdir(fdPath(fd), "latin1").then((raw) => raw.map(listedName).sort());
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
 * Why the directory `key` (one rmdir found not empty) is not empty though no FTP command can empty
 * it: "hidden" when a listing shows none of its entries (links to nothing or out of the root, special
 * files, names with CR or LF, reserved names), "not-utf8" when besides those it holds names that are
 * not UTF-8 (listed masked, which no command can name); null when it holds an entry FTP can act on.
 * RMD then says why. Stops at the first such entry, so a full directory costs one entry's look.
 */
export function unremovableEntries(jail: Jail, key: string): "hidden" | "not-utf8" | null {
  let fd = -1;
  try {
    fd = jail.openPath(key, true);
    let notUtf8 = false;
    const only = holdsOnly(fdPath(fd), (raw) => {
      if (isReservedName(raw)) return true;
      const name = decodeName(raw);
      if (!listEntry(jail, key, name ?? maskedName(raw), statAt(fd, raw, true), fd, name === null ? raw : null)) return true;
      if (name !== null) return false;
      notUtf8 = true;
      return true;
    });
    return !only ? null : notUtf8 ? "not-utf8" : "hidden";
  } catch {
    return null;
  } finally {
    if (fd >= 0) closeQuietly(fd);
  }
}

/** Whether the directory at `path` holds entries and `hidden` is true of each raw name (read up to the first it is not). */
function holdsOnly(path: string, hidden: (raw: string) => boolean): boolean {
  let dir: fs.Dir | null = null;
  try {
    dir = fs.opendirSync(path, { encoding: "latin1" });
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
      // A name that is not UTF-8 is stat'ed by its bytes and listed masked, with its own stat.
      for (let i = from; i < to; i++) {
        const { shown, raw } = splitListed(names[i]!);
        const entry = listEntry(jail, key, shown, raw === null ? statAt(fd, shown) : statAt(fd, raw, true), fd, raw);
        if (entry) out.push(entry);
      }
    } finally {
      closeQuietly(fd);
    }
    yield out;
  }
}

/** Open (O_PATH, following links beneath the root) the entry of `dir` whose name is the bytes `raw` (local-names.ts). */
function openRawPath(jail: Jail, dir: string, raw: string): number {
  const bytes = nameBytes(raw);
  return jail.openAt(jail.rootFd, dir === "" ? bytes : Buffer.concat([Buffer.from(`${dir}/`), bytes]), O_PATH_FLAG);
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
 * serves it; DELE removes the link); a link to a directory as a link (DirEntry.link). `name` is the
 * name shown; `raw`, for a name that is not UTF-8, its bytes (local-names.ts).
 */
function listEntry(jail: Jail, dir: string, name: string, st: EntryFacts | undefined, dirFd: number, raw: string | null = null): DirEntry | null {
  // A name with CR or LF would forge a line of the listing (such names cannot be addressed either).
  if (name.includes("\r") || name.includes("\n")) return null;
  if (st && (st.mode & S_IFMT) === S_IFLNK) {
    // Only links whose target stays inside the root are shown (the kernel resolves them beneath it).
    try {
      const fd = raw === null ? jail.openPath(dir === "" ? name : `${dir}/${name}`) : openRawPath(jail, dir, raw);
      try {
        const t = fs.fstatSync(fd, { bigint: true });
        // A link back to this directory or one above it (up -> ..) is a cycle: a client that follows
        // links (lftp's mirror -L) would go down it for ever. Left out.
        if (t.isDirectory() && leadsAbove(jail, dir, t.dev, t.ino)) return null;
        // Listed as a directory, a link was a way through: lftp's `rm -r` and `sync --delete`
        // emptied the directory it names, elsewhere in the home, and no command removed the link.
        if (t.isDirectory()) return dirLinkEntry(name, st, dirFd, raw);
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
function dirLinkEntry(name: string, st: EntryFacts, dirFd: number, raw: string | null = null): DirEntry {
  const target = shownTarget(dirFd, raw === null ? Buffer.from(name) : nameBytes(raw));
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
function shownTarget(dirFd: number, name: Buffer): string | undefined {
  try {
    // Read as bytes: a target that is not UTF-8 is shown masked, as names are (local-names.ts).
    const bytes = fs.readlinkSync(Buffer.concat([Buffer.from(`${fdPath(dirFd)}/`), name]), "latin1");
    const target = decodeName(bytes) ?? maskedName(bytes);
    return target.startsWith("/") || /[\r\n\0]/.test(target) ? undefined : target;
  } catch {
    return undefined;
  }
}
