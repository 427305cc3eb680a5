// What a run of a tree job will do: both sides listed (a glob in the last segment, or the whole
// tree), times sharpened where a listing cannot tell them, the plan made (tree-plan.ts) with what an
// interrupted run finished, checksums settled, and what lies under an unlisted directory left out.
import { existsSync, statSync } from "node:fs";
import { compileGlob, globLiteral } from "../protocol/glob.ts";
import { ClientError } from "./client.ts";
import type { TransferRecord } from "./journal.ts";
import type { DoneEntry, JobLog } from "./tree-journal.ts";
import type { Notifier } from "./messages.ts";
import type { FileReport } from "./report.ts";
import type { Session } from "./session.ts";
import type { Connections } from "./tree-pool.ts";
import { settleChecksums, sharpenTimes, shown } from "./tree-prepare.ts";
import { excluder, planTree, type NameMatch, type PlanItem } from "./tree-plan.ts";
import { stillDone } from "./tree-interrupted.ts";
import { listSides, walkReports, type Sides, type SidesSpec } from "./tree-sides.ts";
import { leaveOutUnlisted } from "./tree-dirs.ts";
import { deleteLinksNotThrough } from "./tree-delete-links.ts";
import type { Roots } from "./tree-roots.ts";

export interface JobPlan extends Pick<Sides, "remoteExists" | "source" | "dest" | "keep" | "parts" | "unreadable"> {
  /** What the run does, item by item (copies, skips, mkdirs, deletes). */
  items: PlanItem[];
  /** What the walks skipped or could not read, and what is under a destination directory not listed. */
  walked: FileReport[];
  /** Resuming: the files the interrupted run finished, and the names of those still as they were. */
  finished: Map<string, DoneEntry>;
  done: Set<string>;
}

export interface PlanInput {
  r: Roots;
  rec: TransferRecord;
  first: Session;
  conns: Connections;
  note: Notifier;
  /** The job's journal directory. */
  dir: string;
  resuming: boolean;
  remoteRoot: string;
  /** Resuming: the job's log, read once (tree-journal.ts readLog). */
  log: JobLog | null;
  /** Not a dry run: the job may open its other connections before its plan is made (SidesSpec.openEarly). */
  running: boolean;
}

/** Entries named in the error of a pattern whose every match was left out. */
const LEFT_OUT_NAMED = 5;

export async function planJob({ r, rec, first, conns, note, dir, resuming, remoteRoot, log, running }: PlanInput): Promise<JobPlan> {
  const spec = rec.tree!;
  const excluded = excluder(spec.exclude ?? []);
  const recursive = spec.recursive !== false;
  const localExists = existsSync(r.local);
  if (localExists && !statSync(r.local).isDirectory()) {
    // The source itself is a file: the command was meant for one file (as get -r of a remote file says).
    if (rec.direction === "put") throw new ClientError(`${r.local} is a file, not a directory: ${spec.mode === "sync" ? "sync mirrors directories; ftpkit put uploads one file" : "upload it without -r"}`, { kind: "usage" });
    throw new ClientError(`${r.local} is not a directory`, { kind: "local" });
  }
  if (!localExists && rec.direction === "put") throw new ClientError(`cannot read ${r.local}: no such directory`, { kind: "local" });
  const sides: SidesSpec = { direction: rec.direction, mode: spec.mode, recursive, excluded, remoteRoot, local: r.local, localExists, listers: conns, first, note, journal: dir, openEarly: running && !resuming && spec.mode === "copy" };
  const listBoth = (match?: NameMatch) => listSides(sides, match);
  let { remoteExists, source, dest, keep, odd, oddLinks, parts, skipped, unreadable } = await listBoth(r.glob ? compileGlob(r.glob) : undefined);
  // What the pattern matched but the walk left out: said if nothing else is left to copy.
  const leftOut = [...skipped.map((s) => `${shown(s.path)} (${s.result.replace(/^skipped: /, "")})`), ...unreadable.filter((u) => u.side === "source").map((u) => `${shown(u.rel)} (${u.err.message})`)];
  // As in a shell, a pattern that matches nothing stands for itself: `a[1].txt` names that file.
  if (r.glob && source.length === 0) {
    const literal = await listBoth((name) => name === globLiteral(r.glob!));
    // A sync whose pattern matches nothing mirrors nothing: its destination's matches go (--delete).
    if (literal.source.length > 0 || spec.mode === "copy") ({ remoteExists, source, dest, keep, odd, oddLinks, parts, skipped, unreadable } = literal);
  }
  // Like cp without -r: a directory the pattern matched is left out, and said so.
  if (!recursive) {
    for (const e of source) if (e.type === "dir") note.warn(`${shown(e.rel)}: a directory, not copied without -r`), leftOut.push(`${shown(e.rel)} (a directory, not copied without -r)`);
    source = source.filter((e) => e.type !== "dir");
    dest = dest.filter((e) => e.type !== "dir");
  }
  // Like cp, scp and lftp's mget: a pattern that names nothing is an error, not an empty success
  // (a sync may find its source empty: that is what it then mirrors).
  if (r.glob && spec.mode === "copy" && source.length === 0) {
    const side = rec.direction === "get" ? "remote" : "local";
    const where = `"${r.glob}" in ${rec.direction === "get" ? remoteRoot : r.local}`;
    const kind = rec.direction === "get" ? "server" : "local";
    if (leftOut.length === 0) throw new ClientError(`no ${side} file matches ${where}`, { kind });
    // Matches there were, each left out (a FIFO, a link to nothing, a directory without -r): "no file matches" misled.
    const named = leftOut.length > LEFT_OUT_NAMED ? `${leftOut.slice(0, LEFT_OUT_NAMED).join(", ")} and ${leftOut.length - LEFT_OUT_NAMED} more` : leftOut.join(", ");
    throw new ClientError(`nothing to copy: ${leftOut.length === 1 ? `the one ${side} entry` : `all ${leftOut.length} ${side} entries`} matching ${where} ${leftOut.length === 1 ? "was" : "were"} left out: ${named}`, { kind });
  }
  // A sync decides by times: where LIST's minute cannot, MDTM tells the second. A download sets its
  // files' times from it too (a get -r over LIST set them to the minute, or the day, and a later
  // sync took a same-size file changed within it for unchanged), as lftp's mirror does.
  if (spec.mode === "sync" || rec.direction === "get") {
    const [remote, local] = rec.direction === "get" ? [source, dest] : [dest, source];
    await sharpenTimes(first, note, remoteRoot, remote, local, rec.direction, first.client.features.has("MFMT"), spec.mode);
  }
  const finished = log?.done ?? new Map<string, DoneEntry>();
  const done = resuming ? stillDone(finished, source, dest, rec.direction) : new Set<string>();
  let items = planTree(source, dest, {
    direction: rec.direction,
    mode: spec.mode,
    delete: spec.delete === true,
    checksum: spec.checksum === true,
    remoteTimesSettable: first.client.features.has("MFMT"),
    done,
    keep,
    odd,
    oddLinks,
  });
  if (spec.delete) {
    const inPlan = new Set(items.map((i) => i.rel));
    for (const [rel, why] of odd) {
      if (inPlan.has(rel)) continue;
      note.warn(`${shown(rel)}: not deleted (${why})`);
      // --json silences the warning: the report says it (a script sees what the destination keeps).
      skipped.push({ path: rel, action: "skip", reason: "kept in the destination", bytes: 0, result: `skipped: not deleted (${why})` });
    }
  }
  if (spec.delete && rec.direction === "put") items = await deleteLinksNotThrough(first.client, remoteRoot, items);
  if (spec.checksum) items = await settleChecksums(first, items, source, dest, remoteRoot, r.local, rec, note);
  // Decided before a dry run returns, so that it plans (and reports) what the run will do.
  const { items: doable, unreached } = leaveOutUnlisted(items, unreadable.filter((u) => u.side === "destination").map((u) => u.rel));
  return { remoteExists, source, dest, keep, parts, unreadable, items: doable, walked: [...walkReports({ skipped, unreadable }), ...unreached], finished, done };
}
