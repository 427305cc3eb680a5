// The walks of a tree job: a remote tree listed by MLSD (else LIST) over the job's connections, a
// local one by readdir. What a walk leaves out (a link it does not follow, a name FTP cannot carry)
// is told to its caller, never silently dropped (the local walk: tree-walk-local.ts; how each level
// of a remote one is listed, retried and its links resolved: tree-walk-list.ts).
import { ClientError } from "./client.ts";
import { besideFile, CORRUPT_SUFFIX, PART_SUFFIX } from "./file-transfer.ts";
import { unreadableWhy } from "./listing.ts";
import type { ListingBudget } from "./listing-read.ts";
import type { FileInfo } from "../protocol/listing.ts";
import { isRefusal, isTransientReply, listLevel, type Listers } from "./tree-walk-list.ts";
import type { Excluded, NameMatch, TreeEntry } from "./tree-plan.ts";

/**
 * The names a download writes beside its file `X` (`X.ftpkit-part` while it runs, `X.ftpkit-corrupt`
 * when it fails verification), and the journal directory: how each side of a job treats them.
 * Only the job's own are left out unsaid; a file of that name that is the user's is copied, or, when
 * the job cannot copy it under that name, left out and reported (onSkip).
 */
export interface Leftovers {
  /**
   * "source": a name that is the part file or set-aside copy of a file beside it that the job copies
   * cannot be copied (a download of that file writes that very name; uploaded, it is an unfinished or
   * bad download, not a file of the tree): reported. Every other such name is the user's: copied.
   * "dest" (a download's local side): such names (and `.ftpkit` directories) are the job's, or an
   * earlier job's, unless the source has an entry of that name (then they are its copy); part files go to onPart.
   */
  side: "source" | "dest";
  /** The job's journal directory, relative to the local root, when the local tree holds it. */
  journal?: string;
  /** dest: the source has an entry at this path. */
  sourceHas?: (rel: string) => boolean;
}

/** Is `name` one a download writes beside a file? */
export function isBesideName(name: string): boolean {
  return name.endsWith(PART_SUFFIX) || name.endsWith(CORRUPT_SUFFIX);
}

/**
 * Of a directory's `names`, those that are the part file or set-aside copy of one of its `copied`
 * files, each with why it cannot be copied. Empty (and nothing computed) when no name ends so.
 */
export function clashingNames(names: readonly string[], copied: (name: string) => boolean, side: "remote" | "local"): Map<string, string> {
  const clashes = new Map<string, string>();
  const candidates = new Set(names.filter(isBesideName));
  if (candidates.size === 0) return clashes;
  for (const name of names) {
    if (!copied(name)) continue;
    for (const suffix of [PART_SUFFIX, CORRUPT_SUFFIX]) {
      const beside = besideFile(name, suffix);
      if (!candidates.has(beside) || beside === name) continue;
      const what = suffix === PART_SUFFIX ? "part file a download of" : "set-aside copy a failed download of";
      clashes.set(
        beside,
        side === "remote"
          ? `its name is that of the ${what} "${name}" beside it writes locally; rename it on the server to fetch it`
          : `the ${what} "${name}" beside it leaves, not a file of the tree; rename it to upload it`,
      );
    }
  }
  return clashes;
}

/**
 * Bounds of a remote walk: a server can list a tree without end (a directory in every directory),
 * which grew the client by gigabytes; real trees stay far inside both. Entries count as their
 * listings' lines arrive (ListingBudget), over every listing under way, not once a level has ended.
 * Each entry costs the client ~1 KB of memory at the walk's peak, ~1.8 KB at a download's and ~2.7 KB
 * with --json (measured: `get -r --dry-run` of 990,000 files 1.0 GB; `get -r` of 200,000 files
 * 394 MB, of 100,000 with --json 319 MB), so the 5,000,000 entries allowed before let a server take
 * 9–13 GB.
 */
const MAX_WALK_DEPTH = 256;
const MAX_WALK_ENTRIES = 1_000_000;
// Grouped by hand: toLocaleString loads ICU's number formatting, ~3 ms of every tree job's start-up.
const tooManyEntries = `the remote tree has more than ${String(MAX_WALK_ENTRIES).replace(/\B(?=(\d{3})+$)/g, ",")} entries; not walking it further (copy it in parts)`;
/**
 * Listing bytes of one walk: 537 bytes a line for 1,000,000 entries (ProFTPD's MLSD lines with every
 * fact and a long name: ~250). The names a walk keeps are at most these bytes.
 */
const MAX_WALK_LISTING_BYTES = 512 * 1024 ** 2;
const tooLarge = `the remote tree's listings are larger than ${MAX_WALK_LISTING_BYTES / 1024 ** 2} MiB; not walking it further (copy it in parts)`;

/** Listed, left out of a walk, and told by no onSkip: a name it cannot copy, or lines it could not read (no name). */
export interface LeftOut {
  name?: string;
  why: string;
}

/** How a walk is bounded and filtered, and who hears of what it leaves out. */
export interface WalkOptions {
  recursive: boolean;
  excluded: Excluded;
  match?: NameMatch;
  /** An entry left out for what it is (a link to a directory, a FIFO, a name FTP cannot carry). */
  /** An entry left out, and why; `link`: it is a symbolic link (removed itself by a delete: DELE, unlink). */
  onSkip?: (rel: string, why: string, link?: true) => void;
  /** An entry left out by --exclude. */
  onExcluded?: (rel: string) => void;
  /**
   * A remote directory some lines of whose listing could not be read: what it holds is not all known.
   * `leftOut` is what of it no onSkip names (names holding "/", lines not read), for a report to count.
   */
  onPartial?: (rel: string, why: string, leftOut: LeftOut[]) => void;
  /** Local walks: a download's part file (never an entry of the tree). */
  onPart?: (rel: string) => void;
  /** Which names are the job's own, and which cannot be copied under their name; none without it (a remote destination). */
  leftovers?: Leftovers;
  /**
   * A directory below the root that cannot be listed (the server refuses it, the disk denies it),
   * or a local entry that cannot be looked at: not entered (a directory stays in the walk's entries:
   * it exists), and the walk goes on. Without this, the walk fails on it (one locked directory
   * stopped a whole job).
   */
  onUnreadable?: (rel: string, err: ClientError) => void;
}

interface Pending {
  rel: string;
  /** The unique facts of the directories from the root down to this one. */
  line: readonly string[];
}

/**
 * List a remote tree below `root` (recursively unless `recursive` is false); excluded paths are not
 * entered, nor a directory whose MLSD `unique` fact is that of one of its own ancestors: a link back
 * made `get -r` fetch the same files again at every level, until the server's limit on nested links.
 * (A link to a sibling is no cycle: it is copied like a directory, as `cp -rL` would.)
 * The directories of one level are listed over every connection `listers` has ready; the entries
 * come out in the order of a breadth-first walk on one connection, parents before children.
 */
export async function walkRemote(listers: Listers, root: string, opts: WalkOptions): Promise<TreeEntry[] | null> {
  const out: TreeEntry[] = [];
  const budget: ListingBudget = { left: MAX_WALK_ENTRIES, bytesLeft: MAX_WALK_LISTING_BYTES, tooMany: tooManyEntries, tooLarge };
  let level: Pending[] = [{ rel: "", line: [] }];
  for (let depth = 1; level.length > 0; depth++) {
    if (level.length > 1) listers.widen();
    const listings = await listLevel(listers, root, level, budget, (rel, err, retried) => rel !== "" && opts.onUnreadable !== undefined && (isRefusal(err) || (retried === true && isTransientReply(err))));
    if (listings === null) return null;
    const next: Pending[] = [];
    level.forEach(({ rel, line: above }, i) => {
      const listing = listings[i]!;
      if ("refused" in listing) {
        opts.onUnreadable!(rel, listing.refused);
        return;
      }
      const { entries, via, self, unreadable } = listing;
      // Said once per listing, what it holds not all known: "/" names (no name in a directory holds one,
      // and a tree cannot copy it under its name) were left out without a word.
      const slashed = entries.filter((e) => e.name.includes("/") && (rel !== "" || !opts.match || opts.match(e.name))).map((e) => e.name);
      // A source's name that is not UTF-8 (Latin-1 on an old host) may be the very file the destination
      // holds under its UTF-8 spelling (a mirror made by lftp with ftp:charset): sync --delete removed it.
      const garbled = opts.leftovers?.side === "source" && listing.undecodable ? entries.filter((e) => listing.undecodable!.has(e.name) && (rel !== "" || !opts.match || opts.match(e.name))).length : 0;
      const unread = unreadable > 0 ? `${unreadable} line(s) of its listing could not be read (${unreadableWhy(listing)})` : "";
      const partial = [
        unread,
        slashed.length > 0 && `${slashed.length} name(s) in its listing hold "/", which no name in a directory can: left out`,
        garbled > 0 && `${garbled} name(s) in its listing are not valid UTF-8, which FTP commands cannot carry: left out`,
      ].filter(Boolean);
      // The garbled names are each an onSkip below; these are not.
      const leftOut: LeftOut[] = [...slashed.map((name) => ({ name, why: 'a name holding "/", which no name in a directory can' })), ...(unread ? [{ why: unread }] : [])];
      if (partial.length > 0) opts.onPartial?.(rel, partial.join("; "), leftOut);
      const line = self && !above.includes(self) ? [...above, self] : above;
      const modesKnown = !modesSayNothing(entries, via);
      let byName: Map<string, FileInfo> | undefined;
      const clashes =
        opts.leftovers?.side === "source"
          ? clashingNames(
              entries.map((e) => e.name),
              (name) => {
                const e = (byName ??= new Map(entries.map((x) => [x.name, x]))).get(name)!;
                return e.type !== "dir" && !listing.notFiles?.has(name) && (rel !== "" || !opts.match || opts.match(name)) && !opts.excluded(rel ? `${rel}/${name}` : name, () => false);
              },
              "remote",
            )
          : undefined;
      const twice = namesListedTwice(entries);
      for (const e of entries) {
        if (e.name === "." || e.name === ".." || e.name.includes("/")) continue;
        // An empty name (a broken or hostile server's MLSD line) is the directory itself: as a file it
        // made the part file land beside the destination; as a directory, the same listing forever.
        if (e.name === "") {
          opts.onSkip?.(rel || ".", "an entry without a name in its listing");
          continue;
        }
        if (rel === "" && opts.match && !opts.match(e.name)) continue;
        const child = rel ? `${rel}/${e.name}` : e.name;
        if (opts.excluded(child, () => e.type === "dir")) {
          opts.onExcluded?.(child);
          continue;
        }
        // One name, two different entries (a file and a directory, two sizes): which is there cannot
        // be told. Taken in turn, a sync --delete put the file in place of the local directory and
        // its files. The same entry twice (an object store's prefix and its marker) is taken once.
        const dup = twice?.get(e.name);
        if (dup !== undefined) {
          if (dup === "conflict") opts.onSkip?.(child, "listed more than once by the server, as different entries: which one is there cannot be told");
          twice!.set(e.name, "done");
          if (dup !== "same") continue;
        }
        if (listing.undecodable?.has(e.name)) {
          opts.onSkip?.(child, "a name that is not valid UTF-8: FTP commands carry UTF-8, so it cannot be asked for");
          continue;
        }
        if (listing.notFiles?.has(e.name)) {
          opts.onSkip?.(child, "a symbolic link to a directory or to nothing (the server does not size it as a file): not followed", true);
          continue;
        }
        // As the local walk leaves them out: RETR of a pipe waits for a writer, of a device reads it.
        if (e.special) {
          opts.onSkip?.(child, e.special === "?" ? "neither a file nor a directory on the server (a type its listing does not name)" : "not a regular file on the server: a device, pipe or socket");
          continue;
        }
        const clash = clashes?.get(e.name);
        if (clash !== undefined) {
          opts.onSkip?.(child, clash);
          continue;
        }
        if (child === opts.leftovers?.journal) {
          opts.onSkip?.(child, "its local copy would go into the journal directory of this job (`.ftpkit`); fetch it into another directory");
          continue;
        }
        if (e.type === "dir" && e.unique !== undefined && line.includes(e.unique)) {
          opts.onSkip?.(child, "a link back to a directory it is in");
          continue;
        }
        const precisionMs = via === "MLSD" ? 1000 : (e.mtimePrecisionMs ?? 60_000);
        out.push({ rel: child, type: e.type, size: e.size, mtimeMs: e.mtime.getTime(), precisionMs, ...(e.link ? { link: e.link } : {}), ...(e.mode !== undefined && modesKnown ? { mode: e.mode } : {}), ...(e.sizeUnknown ? { sizeUnknown: true } : {}), ...(e.mtimeUnknown ? { timeUnknown: true } : {}), ...(e.unreadableTime !== undefined ? { unreadableTime: e.unreadableTime } : {}) });
        if (out.length > MAX_WALK_ENTRIES) throw new ClientError(tooManyEntries);
        if (e.type !== "dir" || !opts.recursive) continue;
        if (depth >= MAX_WALK_DEPTH) opts.onSkip?.(child, `deeper than ${MAX_WALK_DEPTH} levels: not entered`);
        else next.push({ rel: child, line: e.unique !== undefined ? [...line, e.unique] : line });
      }
    });
    level = next;
  }
  return out;
}

/**
 * The names `entries` holds more than once, or null when none: "same" when every entry of the name
 * is the same directory, or the same file (size and time), else "conflict" ("done" once the walk
 * has taken the name).
 */
function namesListedTwice(entries: readonly FileInfo[]): Map<string, "same" | "conflict" | "done"> | null {
  const first = new Map<string, FileInfo>();
  let twice: Map<string, "same" | "conflict" | "done"> | null = null;
  for (const e of entries) {
    const was = first.get(e.name);
    if (!was) {
      first.set(e.name, e);
      continue;
    }
    const same = was.type === e.type && !was.link === !e.link && !was.special === !e.special && (e.type === "dir" || (was.size === e.size && was.mtime.getTime() === e.mtime.getTime()));
    twice ??= new Map();
    if (!same || twice.get(e.name) !== "conflict") twice.set(e.name, same ? "same" : "conflict");
  }
  return twice;
}

/**
 * Some servers (IIS in its Unix style) list every file as rwxrwxrwx, whatever it is: such modes say
 * nothing and are not carried (a real directory of nothing but 777 files is rare).
 */
function modesSayNothing(entries: readonly FileInfo[], via: "MLSD" | "LIST"): boolean {
  return via !== "MLSD" && entries.some((e) => e.type === "file") && entries.every((e) => e.type !== "file" || e.mode === 0o777);
}
