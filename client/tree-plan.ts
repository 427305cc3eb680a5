// Tree jobs as plans: given both sides' listings (tree-walk.ts), decide for each path whether to
// copy, skip, create or delete it. Planning moves no byte and changes nothing, so `--dry-run` is
// the plan printed.
import { compileGlob } from "../protocol/glob.ts";
import { ClientError } from "./client.ts";

/** One file or directory of a tree, by its path relative to the tree's root ("a/b.txt"). */
export interface TreeEntry {
  rel: string;
  type: "file" | "dir";
  size: number;
  /** Modification time, in ms since the epoch (a number, not a Date: a tree's entries are kept for the whole job). */
  mtimeMs: number;
  /** How finely `mtimeMs` is known: 1 s from MLSD and the local disk, a minute (or a day) from LIST. */
  precisionMs: number;
  /** A remote symbolic link from LIST, taken for a file (the listing does not say what it points to). */
  link?: true;
  /** Permission bits, where known (the local disk; LIST's columns, MLSD's UNIX.mode): execute bits are carried. */
  mode?: number;
  /** A remote file whose listing gave no size (MLSD without the size fact): SIZE is asked before it moves. */
  sizeUnknown?: true;
  /** A remote entry whose listing gave no time that can be read (FileInfo.mtimeUnknown): `mtimeMs` is 0 (the epoch); compared by size. */
  timeUnknown?: true;
  /** Its modify fact as sent, when it could not be read (FileInfo.unreadableTime). */
  unreadableTime?: string;
}

export type Action = "copy" | "skip" | "mkdir" | "delete";

export interface PlanItem {
  rel: string;
  action: Action;
  /** Why: "new", "size differs", "already done", "not in source"… */
  reason: string;
  type: "file" | "dir";
  size: number;
  /** The source's modification time in ms since the epoch (TreeEntry.mtimeMs), when known. */
  mtimeMs?: number;
  /** The source is a remote symbolic link from LIST (see TreeEntry). */
  link?: true;
  /** A delete that makes room (sync --delete: a directory where a file goes, or the reverse): done first. */
  first?: true;
  /** The source file's permission bits, where known (TreeEntry.mode). */
  mode?: number;
  /** TreeEntry.sizeUnknown of the source. */
  sizeUnknown?: true;
  /** The source's time is exact to the second (a remote MLSD listing, or a local file): with its size, it tells a file unchanged. */
  exactTime?: true;
  /** A skip --checksum found the same but dated otherwise: the destination's copy gets the source's time (`mtimeMs`). */
  retime?: true;
}

/** A name filter: the pattern of a glob job, or an --exclude pattern. */
export type NameMatch = (name: string) => boolean;

/** Whether a path is excluded; `isDir` is asked only when a pattern that ends in "/" matches it. */
export type Excluded = (rel: string, isDir: () => boolean) => boolean;

/**
 * --exclude GLOB: a pattern with "/" matches the path from the tree's root, one without matches any
 * entry's name; one that ends in "/" matches directories only, as in rsync (`build/`, `*\/`). A `**`
 * segment stands for any number of directories, none included: `**\/*.log` is every .log file at
 * any depth, `build/**` everything under build.
 */
export function excluder(patterns: readonly string[]): Excluded {
  // Segment by segment for a pattern with "/" (a "*" never crosses one); `*` also matches hidden names, as in rsync.
  const res = patterns.map((p) => {
    const parts = p
      .replace(/^\/+|\/+$/g, "")
      .split("/")
      .map((seg) => (seg === "**" ? ANY_DEPTH : compileGlob(seg, { dotfiles: true })));
    return { parts, whole: p.replace(/\/+$/, "").includes("/"), dirsOnly: p.endsWith("/") };
  });
  return (rel, isDir) => {
    const segs = rel.split("/");
    const name = segs[segs.length - 1]!;
    return res.some(({ parts, whole, dirsOnly }) => (whole ? matchSegments(parts, segs) : parts[0] === ANY_DEPTH || (parts[0] as NameMatch)(name)) && (!dirsOnly || isDir()));
  };
}

/** A `**` segment of an --exclude pattern. */
const ANY_DEPTH = Symbol("**");

function matchSegments(parts: readonly (NameMatch | typeof ANY_DEPTH)[], segs: readonly string[]): boolean {
  const [head, ...rest] = parts;
  if (head === undefined) return segs.length === 0;
  if (head === ANY_DEPTH) {
    for (let skip = 0; skip <= segs.length; skip++) if (matchSegments(rest, segs.slice(skip))) return true;
    return false;
  }
  return segs.length > 0 && head(segs[0]!) && matchSegments(rest, segs.slice(1));
}

/** Kept here for the single-file commands that ask it (the walks live in tree-walk.ts). */
export { remoteDirExists } from "./remote-dirs.ts";

export interface CompareOptions {
  direction: "get" | "put";
  mode: "copy" | "sync";
  delete: boolean;
  /** Compare by digest (when `digestsEqual` can tell) instead of modification time. */
  checksum: boolean;
  /** Uploads only: can the client give remote files their local time (MFMT)? If not, remote times are upload times. */
  remoteTimesSettable: boolean;
  /** Files finished by an interrupted run of this job (by rel). */
  done?: ReadonlySet<string>;
  /**
   * Destination paths --delete must leave, with everything below and above them: excluded ones,
   * and those the source has but does not copy (a link to a directory, a FIFO).
   */
  keep?: ReadonlySet<string>;
  /** Destination paths holding something a copy must not write into or through (a link to a directory, a FIFO), and what. */
  odd?: ReadonlyMap<string, string>;
  /** Those of `odd` that are symbolic links: --delete removes one the source does not have, the link itself. */
  oddLinks?: ReadonlySet<string>;
}

/** Same modification time, as finely as both sides know it; a time past a file system's ceiling is held as that ceiling. */
export function sameTime(a: TreeEntry, b: TreeEntry): boolean {
  const p = Math.max(a.precisionMs, b.precisionMs);
  return Math.floor(a.mtimeMs / p) === Math.floor(b.mtimeMs / p) || heldAsCeiling(a.mtimeMs, b.mtimeMs) || heldAsCeiling(b.mtimeMs, a.mtimeMs);
}

/**
 * The latest times Linux file systems keep, in seconds: a later time given to a file is stored as
 * its file system's ceiling (the kernel clamps since 5.4). 2038-01-19T03:14:07Z: ext3, ext4 with
 * 128-byte inodes, XFS without bigtime; 2446-05-10T22:38:55Z: ext4 (measured). A remote file dated
 * 9999 was downloaded with that time, kept as 2446, and fetched again by every later sync.
 */
const TIME_CEILINGS_S: ReadonlySet<number> = new Set([2_147_483_647, 15_032_385_535]);

/** `held` is a file system's ceiling and `given` later: the time the file was given, as its disk keeps it. */
function heldAsCeiling(heldMs: number, givenMs: number): boolean {
  const s = Math.floor(heldMs / 1000);
  return TIME_CEILINGS_S.has(s) && givenMs >= (s + 1) * 1000;
}

/** Whether two files of the same size differ by their times, and why. */
export function byTime(s: TreeEntry, d: TreeEntry, o: Pick<CompareOptions, "direction" | "remoteTimesSettable">): { changed: boolean; reason: string } {
  // A side without a time (MLSD without a readable modify fact): the sizes, already the same, decide.
  if (s.timeUnknown || d.timeUnknown) return { changed: false, reason: "same size (no time listed)" };
  // Without MFMT the remote time is when it was uploaded: changed only if the local file is newer than that.
  if (o.direction === "put" && !o.remoteTimesSettable) {
    return s.mtimeMs > d.mtimeMs + d.precisionMs ? { changed: true, reason: "newer locally" } : { changed: false, reason: "same size, not newer" };
  }
  return sameTime(s, d) ? { changed: false, reason: "same size and time" } : { changed: true, reason: "time differs" };
}

/**
 * Decide each path. `source` and `dest` are the two listings; files that need a digest comparison
 * (--checksum, same size) come back as "copy" with reason "checksum?" for the caller to settle.
 */
export function planTree(source: TreeEntry[], dest: TreeEntry[], o: CompareOptions): PlanItem[] {
  const there = new Map(dest.map((e) => [e.rel, e]));
  const here = new Set(source.map((e) => e.rel));
  const items: PlanItem[] = [];
  /** Destination paths removed first to make room for the source's type (sync --delete). */
  const cleared = new Set<string>();
  // What else the destination holds that the walk left out (a FIFO, a name FTP cannot carry) stays,
  // and so do the directories holding it: their RMD failed on it after their files were deleted.
  const stays = [...(o.odd?.keys() ?? [])].filter((rel) => !o.oddLinks?.has(rel));
  const kept = keeper(new Set([...(o.keep ?? []), ...stays]));
  const makeRoom = (s: TreeEntry, d: TreeEntry | { rel: string; what: string }) => {
    const theirs = "what" in d ? d.what : `a ${d.type === "dir" ? "directory" : "file"}`;
    const what = `${s.rel} is a ${s.type === "dir" ? "directory" : "file"} in the source but ${theirs} in the destination`;
    if (!o.delete) throw new ClientError(`${what}; nothing was changed: remove one of them, or sync with --delete to replace it`);
    if ("what" in d) {
      cleared.add(d.rel);
      items.push({ rel: d.rel, action: "delete", reason: `in the way of the source's ${s.type === "dir" ? "directory" : "file"} ${s.rel}`, type: "file", size: 0, first: true });
      return;
    }
    if (kept(d.rel)) throw new ClientError(`${what}, and it holds excluded or skipped entries; nothing was changed: remove it yourself`);
    const inTheWay = dest.filter((e) => e.rel === d.rel || e.rel.startsWith(`${d.rel}/`)).sort(deepestFirst);
    for (const e of inTheWay) {
      cleared.add(e.rel);
      items.push({ rel: e.rel, action: "delete", reason: `in the way of the source's ${s.type === "dir" ? "directory" : "file"} ${s.rel}`, type: e.type, size: e.type === "file" ? e.size : 0, first: true });
    }
  };
  for (const s of source) {
    const d = there.get(s.rel);
    // Never into or through what the walk did not list: a copy into a link to a directory wrote outside the destination.
    const odd = o.odd?.get(s.rel);
    if (odd !== undefined) makeRoom(s, { rel: s.rel, what: odd });
    // The destination's entry of that name was excluded (`--exclude 'f/'` names only directories):
    // left out of `there`, the file was planned as new, and the copy then failed on the directory
    // after the dry run had promised it. Excluded entries are never replaced: refused before anything moves.
    if (!d && s.type === "file" && o.keep?.has(s.rel)) {
      throw new ClientError(`${s.rel} is a file in the source, but the destination's ${s.rel} is excluded or skipped; nothing was changed: remove it yourself, or exclude the file too`);
    }
    if (s.type === "dir") {
      if (!d) items.push({ rel: s.rel, action: "mkdir", reason: "new directory", type: "dir", size: 0 });
      else if (d.type !== "dir") {
        makeRoom(s, d);
        items.push({ rel: s.rel, action: "mkdir", reason: "replaces a file", type: "dir", size: 0 });
      }
      continue;
    }
    // A source time not known is not given to the copy (it would be dated 1970): it keeps the time it is made.
    const time = s.timeUnknown ? {} : { mtimeMs: s.mtimeMs, ...(s.precisionMs !== undefined && s.precisionMs <= 1000 ? { exactTime: true } : {}) };
    const item: PlanItem = { rel: s.rel, action: "copy", reason: "new", type: "file", size: s.size, ...time, ...(s.link ? { link: s.link } : {}), ...(s.mode !== undefined ? { mode: s.mode } : {}), ...(s.sizeUnknown ? { sizeUnknown: true } : {}) };
    if (o.done?.has(s.rel)) Object.assign(item, { action: "skip", reason: "done by the interrupted run" });
    else if (d?.type === "dir") {
      makeRoom(s, d);
      item.reason = "replaces a directory";
    } else if (d && o.mode === "sync") {
      // A remote size the listing did not give cannot differ: the times decide.
      if (d.size !== s.size && !s.sizeUnknown && !d.sizeUnknown) item.reason = "size differs";
      else if (o.checksum) item.reason = "checksum?";
      else {
        const t = byTime(s, d, o);
        Object.assign(item, t.changed ? { reason: t.reason } : { action: "skip", reason: t.reason });
      }
    } else if (d) item.reason = "replace";
    items.push(item);
  }
  if (o.delete) {
    const gone = dest.filter((d) => !here.has(d.rel) && !cleared.has(d.rel) && !kept(d.rel));
    // A name the source has in another case (Report.TXT renamed report.txt): on a case-insensitive
    // store (IIS on NTFS, a macOS disk) the copy replaced it and the delete after the copies removed
    // the copy. Deleted first, with what is under it; on any store the end is the same.
    const folded = new Set(source.map((e) => e.rel.toLowerCase()));
    const inCase = (rel: string) => {
      for (let end = rel.length; end > 0; end = rel.lastIndexOf("/", end - 1)) {
        const p = rel.slice(0, end);
        if (!here.has(p) && folded.has(p.toLowerCase())) return true;
      }
      return false;
    };
    const deletion = (d: TreeEntry): PlanItem => ({ rel: d.rel, action: "delete", reason: "not in source", type: d.type === "dir" ? "dir" : "file", size: d.type === "file" ? d.size : 0, ...(inCase(d.rel) ? { first: true as const } : {}) });
    // Files first, then directories deepest first, so each directory is empty when it is removed. A
    // link the walk did not follow is a file to delete: DELE and unlink remove the link, never its target
    // (kept, it held its directory's RMD to "Directory not empty" for ever).
    for (const d of gone.filter((g) => g.type === "file")) items.push(deletion(d));
    for (const rel of o.oddLinks ?? []) {
      if (!here.has(rel) && !cleared.has(rel) && !kept(rel)) items.push({ rel, action: "delete", reason: "not in source (a symbolic link: removed itself)", type: "file", size: 0, ...(inCase(rel) ? { first: true as const } : {}) });
    }
    for (const d of gone.filter((g) => g.type === "dir").sort(deepestFirst)) items.push(deletion(d));
  }
  return items;
}

/**
 * Is `rel` a kept path, inside one, or a directory holding one? (Deleting a directory that holds an
 * excluded file failed on it, after deleting the rest.)
 */
export function keeper(keep: ReadonlySet<string>): (rel: string) => boolean {
  if (keep.has("")) return () => true; // the root itself: nothing is known to be gone
  const holders = new Set<string>();
  for (const k of keep) for (let at = k.indexOf("/"); at >= 0; at = k.indexOf("/", at + 1)) holders.add(k.slice(0, at));
  return (rel) => {
    if (keep.has(rel) || holders.has(rel)) return true;
    for (let at = rel.indexOf("/"); at >= 0; at = rel.indexOf("/", at + 1)) if (keep.has(rel.slice(0, at))) return true;
    return false;
  };
}

/** Deeper paths first (a directory's entries before the directory itself). */
function deepestFirst(a: TreeEntry, b: TreeEntry): number {
  return b.rel.split("/").length - a.rel.split("/").length || b.rel.localeCompare(a.rel);
}
