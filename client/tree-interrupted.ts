// A tree job and its interruptions: how a pending run's options differ from a new command's, the
// uploads a resume finds orphaned (reported as failed, once), what a signal cut short (for its --json
// report), and each upload's remote state before its first byte (so a resume never appends to another file).
import type { TreeSpec } from "./journal.ts";
import type { DoneEntry, PlanState } from "./tree-journal.ts";
import { remoteState, type FileProgress, type RemoteState } from "./file-transfer.ts";
import type { FileReport } from "./report.ts";
import type { Notifier } from "./messages.ts";
import type { Session } from "./session.ts";
import { sameTime, type PlanItem, type TreeEntry } from "./tree-plan.ts";
import { planned, shown } from "./tree-prepare.ts";

/**
 * The files an interrupted run finished that still count as done: the destination has each at the
 * size it was copied with (a download's also at the time it was given, the source's), and the source
 * is as it was then. One deleted, rewritten or changed on either side since is copied again, so every
 * file ends as its source is now, verified.
 */
export function stillDone(finished: ReadonlyMap<string, DoneEntry>, source: readonly TreeEntry[], dest: readonly TreeEntry[], direction: "get" | "put"): Set<string> {
  const files = (side: readonly TreeEntry[]) => new Map(side.filter((e) => e.type === "file").map((e) => [e.rel, e]));
  const [from, to] = [files(source), files(dest)];
  const out = new Set<string>();
  for (const [rel, d] of finished) {
    const there = to.get(rel);
    const src = from.get(rel);
    if (!there || there.size !== d.size) continue;
    if (src && (src.size !== d.size || (d.sourceMtimeMs !== undefined && src.mtimeMs !== d.sourceMtimeMs))) continue;
    if (direction === "get" && d.sourceMtimeMs !== undefined && there.mtimeMs !== d.sourceMtimeMs) continue;
    // An upload gave its remote copy the source's time (MFMT): dated otherwise, it was rewritten since
    // (at the same size: a sync would copy it, so the resume does).
    if (d.timeGiven && d.sourceMtimeMs !== undefined && !there.timeUnknown && !sameTime(there, { ...there, mtimeMs: d.sourceMtimeMs, precisionMs: 1000 })) continue;
    out.add(rel);
  }
  return out;
}

/**
 * A resumed upload whose plan had a file that was new on the server, not finished, and no longer in
 * the local source: what the server has under its name is the interrupted upload's part, and it can
 * never be completed. Each is named and reported as failed, as a single `put` of it is (exit 3), and
 * the partial copy is left as it is (a copy cannot tell it from a file written there since; a sync
 * --delete removes it, and does not come here). As for a single put, it is then forgotten: it is
 * dropped from `plan` (the caller saves it), so no later resume reports it again.
 */
export function dropOrphanedUploads(plan: PlanState, source: readonly TreeEntry[], dest: readonly TreeEntry[], done: ReadonlySet<string>, note: Notifier): FileReport[] {
  const sourceHas = new Set(source.map((e) => e.rel));
  const destFiles = new Set(dest.filter((e) => e.type === "file").map((e) => e.rel));
  const out: FileReport[] = [];
  for (const [rel, before] of Object.entries(plan.remote)) {
    if (before !== null || sourceHas.has(rel) || !destFiles.has(rel) || done.has(rel)) continue;
    const why = "its upload was interrupted and the local file is gone since; the partial copy on the server is left as it is";
    note.error(`${shown(rel)}: ${why}`);
    out.push({ path: rel, action: "copy", reason: "local file gone", bytes: 0, result: `failed: ${why}` });
    delete plan.remote[rel];
    delete plan.local[rel];
  }
  return out;
}

/** The planned items a signal ends before their report: those moving with their bytes so far, the rest not started. */
export function cutShortItems(items: readonly PlanItem[], reports: readonly FileReport[], inFlight: ReadonlyMap<PlanItem, FileProgress>, signal: string): FileReport[] {
  // A link found to be a directory is reported as a skip of its copy.
  const reported = new Set(reports.flatMap((f) => (f.action === "skip" ? [`${f.path}\0skip`, `${f.path}\0copy`] : [`${f.path}\0${f.action}`])));
  return items
    .filter((i) => !reported.has(`${i.rel}\0${i.action}`))
    .map((i) => {
      const moving = inFlight.get(i);
      return moving ? { ...planned(i, `failed: interrupted by ${signal}`), bytes: moving.moved } : planned(i, `failed: not started (interrupted by ${signal})`);
    });
}

/** How two specs of the same job differ in what they copy or delete ("" when they do not). */
export function specDifference(was: TreeSpec, now: TreeSpec): string {
  const out: string[] = [];
  if ((was.delete === true) !== (now.delete === true)) out.push(was.delete ? "it deletes (--delete)" : "it does not delete");
  if ((was.checksum === true) !== (now.checksum === true)) out.push(was.checksum ? "it compares digests (--checksum)" : "it compares sizes and times");
  if ((was.recursive !== false) !== (now.recursive !== false)) out.push(was.recursive !== false ? "recursive" : "not recursive");
  const ex = (s: TreeSpec) => [...(s.exclude ?? [])].sort().join("\0");
  if (ex(was) !== ex(now)) out.push(`its excludes: ${(was.exclude ?? []).map((e) => `--exclude '${e}'`).join(" ") || "none"}`);
  return out.join("; ");
}

export function toState(b: { size: number; mtime: string } | null | undefined): RemoteState | null | undefined {
  return b === undefined ? undefined : b;
}

export async function beforeState(s: Session, path: string): Promise<{ size: number; mtime: string } | null> {
  const st = await remoteState(s.client, path);
  if (st.missing || st.size === null) return null;
  return { size: st.size, mtime: st.mtime ?? "" };
}
