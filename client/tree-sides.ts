// Both sides of a tree job, walked (tree-walk.ts), with what the walks leave out: the source's
// skipped entries and unreadable directories are reported (a script reading --json sees them), the
// destination's excluded and odd entries are kept and never written into.
import { realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { ClientError } from "./client.ts";
import type { FileReport } from "./report.ts";
import type { Notifier } from "./messages.ts";
import type { Session } from "./session.ts";
import type { Excluded, NameMatch, TreeEntry } from "./tree-plan.ts";
import { shown } from "./tree-prepare.ts";
import { walkRemote, type WalkOptions } from "./tree-walk.ts";
import type { Listers } from "./tree-walk-list.ts";
import { walkLocal } from "./tree-walk-local.ts";

/** What a tree job walks, and how. */
export interface SidesSpec {
  direction: "get" | "put";
  mode: "copy" | "sync";
  recursive: boolean;
  excluded: Excluded;
  remoteRoot: string;
  local: string;
  /** The local root exists (a download may create it; an upload's source must exist). */
  localExists: boolean;
  listers: Listers;
  /** The first connection: asked whether a missing remote root is a file. */
  first: Session;
  note: Notifier;
  /** The job's journal directory (where its record is kept). */
  journal: string;
  /**
   * A new job that copies every file (get -r or put -r, not a sync, not a resume, not a dry run): its
   * other connections are opened for its files as soon as they are known, instead of after the plan.
   * An upload's source is walked first, so they log in while the destination is listed (their logins
   * took ~30 ms of a 0.9 s job against vsftpd); a download's once its source is listed.
   */
  openEarly?: boolean;
}

export interface Sides {
  /** The remote root exists (a put creates it if not). */
  remoteExists: boolean;
  source: TreeEntry[];
  dest: TreeEntry[];
  /** Destination paths --delete must leave: what the source skipped or could not read, what is excluded. */
  keep: Set<string>;
  /** Destination paths holding something a copy must not write into or through, and what. */
  odd: Map<string, string>;
  /** The odd entries that are symbolic links: a sync --delete removes such a link itself (DELE, unlink), never through it. */
  oddLinks: Set<string>;
  /** A download's part files in the destination. */
  parts: string[];
  /** The source's entries left out for what they are (a link to a directory, a FIFO): reported as skips. */
  skipped: FileReport[];
  /**
   * Directories (or entries) of either side that could not be read: reported as failed, with the
   * refusal. The source's are left out of it; nothing is copied into the destination's.
   */
  unreadable: { rel: string; err: ClientError; side: "source" | "destination" }[];
}

/** Walk both sides (the source's top level filtered by `match`, a glob). */
export async function listSides(o: SidesSpec, match?: NameMatch): Promise<Sides> {
  const { note } = o;
  // What the walks leave out: the source's skipped and unreadable entries and the destination's
  // excluded ones stay where they are (--delete keeps them), and the destination's odd ones (a link
  // to a directory) are never written into.
  const keep = new Set<string>();
  const odd = new Map<string, string>();
  const oddLinks = new Set<string>();
  const unreadable: Sides["unreadable"] = [];
  const skipped: FileReport[] = [];
  // A directory whose listing was partly unreadable: nothing in or under it is deleted.
  const onPartial = (rel: string, why: string) => (keep.add(rel), note.warn(`${shown(rel || ".")}: ${why}; nothing in it is deleted`));
  const sourceWalk: WalkOptions = {
    recursive: o.recursive,
    excluded: o.excluded,
    match,
    onPartial(rel, why, leftOut) {
      onPartial(rel, why);
      // --json silences the warning: what the source left out unnamed by onSkip is in the report too.
      for (const l of leftOut) skipped.push({ path: rel || ".", action: "skip", reason: "left out", bytes: 0, result: `skipped: ${l.name !== undefined ? `${JSON.stringify(l.name)}, ` : ""}${l.why}` });
    },
    onSkip(rel, why) {
      keep.add(rel);
      // --json silences the warning: the report must say it instead (skipped entries vanished from it).
      skipped.push({ path: rel, action: "skip", reason: "left out", bytes: 0, result: `skipped: ${why}` });
      note.warn(`${shown(rel)}: skipped (${why})`);
    },
    // Its contents are unknown, not absent: --delete keeps the destination's copy of it.
    onUnreadable(rel, err) {
      keep.add(rel);
      unreadable.push({ rel, err, side: "source" });
      note.error(`${shown(rel)}: ${err.message}; nothing in it is copied`);
    },
  };
  // Part files in the destination: those of files the source no longer has are an interrupted run's.
  const parts: string[] = [];
  const destWalk: WalkOptions = {
    recursive: o.recursive,
    excluded: o.excluded,
    match,
    onPartial,
    onSkip(rel, why, link) {
      odd.set(rel, why.replace(/ is not followed$/, ""));
      if (link) oddLinks.add(rel);
    },
    onExcluded: (rel) => keep.add(rel),
    onPart: (rel) => parts.push(rel),
    // What it holds cannot be compared, nor kept from being overwritten: nothing goes into it, nothing in it is deleted.
    onUnreadable(rel, err) {
      keep.add(rel);
      unreadable.push({ rel, err, side: "destination" });
      note.error(`${shown(rel)}: ${err.message}; nothing is copied into it`);
    },
  };
  // Only the job's own leftovers are left out unsaid (the journal it writes in the local tree; in a
  // download's destination, its part files): a user's file that merely ends in .ftpkit-part is copied.
  // A remote name is never the job's own: an upload writes no remote part file.
  const journal = journalRel(o.local, o.journal);
  if (journal !== undefined && o.direction === "put") keep.add(journal);
  const sourceRels = new Set<string>();
  sourceWalk.leftovers = { side: "source", ...(journal !== undefined ? { journal } : {}) };
  if (o.direction === "get") destWalk.leftovers = { side: "dest", ...(journal !== undefined ? { journal } : {}), sourceHas: (rel) => sourceRels.has(rel) };
  const [remoteWalk, localWalk] = o.direction === "get" ? [sourceWalk, destWalk] : [destWalk, sourceWalk];
  // The local walk needs nothing from the remote one: an upload's comes first when it sizes the job.
  const early = o.openEarly === true && o.direction === "put" && o.localExists ? walkLocal(o.local, localWalk) : null;
  if (early) o.listers.widen(early.filter((e) => e.type === "file").length);
  const listed = await walkRemote(o.listers, o.remoteRoot, remoteWalk).catch((err: unknown) => {
    // An upload-only directory (a drop box) exists but refuses to be listed: a copy into it
    // plans against nothing there (a sync must see the other side, so it fails as it is).
    if (o.direction !== "put" || o.mode !== "copy" || !(err instanceof ClientError) || err.code !== 550) throw err;
    note.info(`${o.remoteRoot} cannot be listed (${err.message}), as an upload-only directory: uploading every file`);
    return [];
  });
  if (listed === null) {
    if ((await o.first.client.size(o.remoteRoot).catch(() => null)) !== null) throw new ClientError(`${o.remoteRoot} is a file, not a directory${o.direction === "get" ? (o.mode === "sync" ? ": sync mirrors a directory; fetch a file with get" : ": fetch it without -r") : ""}`, { kind: "usage" });
    if (o.direction === "get") throw new ClientError(`remote directory not found: ${o.remoteRoot}`, { kind: "server" });
  }
  const remote = listed ?? [];
  // Said once a job (a server that dates every file so would say it for each).
  const undated = remote.filter((e) => e.unreadableTime !== undefined);
  if (undated.length > 0) {
    const first = undated[0]!;
    note.warn(`${undated.length} remote ${undated.length === 1 ? "entry is" : "entries are"} listed with a time that cannot be read (the first: ${shown(first.rel)}, modify=${JSON.stringify(first.unreadableTime)}): compared by size only, and a copy is dated when it is made`);
  }
  if (o.direction === "get") for (const e of remote) sourceRels.add(e.rel);
  // A download's files are known now: its other connections log in while its times are sharpened
  // (an MDTM per file where the server has no MLSD) and its plan is made.
  if (o.openEarly === true && o.direction === "get") o.listers.widen(remote.filter((e) => e.type === "file").length);
  const local = early ?? (o.localExists ? walkLocal(o.local, localWalk) : []);
  const [walked, dest] = o.direction === "get" ? [remote, local] : [local, remote];
  // The source's unreadable directories exist, but what they hold does not reach the plan: nor do they.
  const unknown = new Set(unreadable.filter((u) => u.side === "source").map((u) => u.rel));
  const source = unknown.size > 0 ? walked.filter((e) => !unknown.has(e.rel)) : walked;
  return { remoteExists: listed !== null, source, dest, keep, odd, oddLinks, parts: o.direction === "get" ? parts : [], skipped, unreadable };
}

/** The report entries of what the source walk skipped and of what either walk could not read. */
export function walkReports({ skipped, unreadable }: Pick<Sides, "skipped" | "unreadable">): FileReport[] {
  return [...skipped, ...unreadable.map(({ rel, err, side }) => ({ path: rel, action: "copy", reason: `unreadable in the ${side}`, bytes: 0, result: `failed: ${err.message}` } satisfies FileReport))];
}

/**
 * Where the job's journal is, relative to the local root, when the local tree holds it: its
 * `.ftpkit` directory (the journal is `.ftpkit/transfers` of the working directory), else the
 * journal directory itself.
 */
function journalRel(localRoot: string, journal: string): string | undefined {
  const top = basename(dirname(journal)) === ".ftpkit" ? dirname(journal) : journal;
  const real = (path: string): string => {
    try {
      return realpathSync(path);
    } catch {
      return resolve(path);
    }
  };
  const rel = relative(real(localRoot), real(top));
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join("/");
}
