// The steps between a tree job's plan and its first byte: --checksum settles same-size files by
// digest, a resumed download removes the part files of files the source no longer has, and
// --dry-run prints the plan. Also how a job's messages show a path.
import { closeSync, constants, futimesSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { joinRemote } from "../protocol/path.ts";
import { printableName } from "../protocol/printable.ts";
import { besideFile, lockDownload, PART_SUFFIX } from "./file-transfer.ts";
import { hashFile } from "./hasher.ts";
import type { TransferRecord } from "./journal.ts";
import { noDigestReason } from "./remote-hash.ts";
import { printReport, summarizePlan, writeStdout, type FileReport } from "./report.ts";
import type { Notifier } from "./messages.ts";
import type { Session } from "./session.ts";
import { byTime, sameTime, type PlanItem, type TreeEntry } from "./tree-plan.ts";
import { ClientError, type FtpClient } from "./client.ts";
import { localCause } from "./errors.ts";
import { parseTimeVal } from "../protocol/listing.ts";

import { shown } from "./messages.ts";

export { shown };

/** MDTMs in flight at once: each batch is pipelined on one connection. */
const MDTM_BATCH = 500;

/**
 * LIST gives times to the minute (older files: the day), a recent one without its year. A sync compared
 * a same-size file edited in the minute of its upload as unchanged, and set a downloaded file's time to
 * the minute. For every same-size file — and, in a download, for every file it will write (one the
 * destination lacks or has at another size), whose local time is set from it — the remote time is
 * asked by MDTM, to the second. `remote` entries are updated in place.
 */
export async function sharpenTimes(s: Session, note: Notifier, remoteRoot: string, remote: TreeEntry[], local: TreeEntry[], direction: "get" | "put", remoteTimesSettable: boolean, mode: "copy" | "sync"): Promise<void> {
  const here = new Map(local.filter((e) => e.type === "file").map((e) => [e.rel, e]));
  const unsure = remote.filter((r) => {
    if (r.type !== "file" || r.precisionMs <= 1000) return false;
    const l = here.get(r.rel);
    // A copy down writes every file, and each one's time comes from here.
    if (!l || mode === "copy") return direction === "get";
    // A sync down rewrites a file of another size: given the listing's minute, the next sync (or the
    // resume of this one, killed after it) found it changed and fetched it again.
    if (l.size !== r.size) return direction === "get";
    // Without MFMT, an upload counts as changed when the local file is newer than the remote one.
    const t = l.mtimeMs;
    if (direction === "put" && !remoteTimesSettable) return t > r.mtimeMs && t <= r.mtimeMs + r.precisionMs;
    // Every same-size file, also one whose listed time differs: LIST gives a recent time without its
    // year, and a time more than 6 months ahead (pyftpdlib) or a year guessed wrong read as another
    // year's, so such a file was copied again by every sync, and a download got the wrong year.
    return true;
  });
  // A refusal is an answer (no MDTM: the listing's minute it is); a connection that drops is not: its
  // files are asked again on a new one, --retries times. Taken for refusals, they kept the minute, the
  // downloads were dated with it, and the next sync fetched every one of them again.
  let pending = unsure;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const client = s.client;
    const unanswered: TreeEntry[] = [];
    let failure: unknown = null;
    for (let at = 0; at < pending.length; at += MDTM_BATCH) {
      await Promise.all(
        pending.slice(at, at + MDTM_BATCH).map(async (r) => {
          const t = await client.mdtm(joinRemote(remoteRoot, r.rel)).catch((err: unknown) => {
            failure ??= err;
            unanswered.push(r);
            return null;
          });
          if (t === null) return;
          r.mtimeMs = parseTimeVal(t).getTime();
          r.precisionMs = 1000;
        }),
      );
    }
    if (unanswered.length === 0) return;
    const reached = await s.retryAfter(client, failure, attempt, note);
    if (reached === null) throw failure;
    attempt = reached;
    pending = unanswered;
  }
}

/**
 * A resumed download job removes the part files its interrupted run left for files the source no
 * longer has (deleted on the server since): nothing will finish them, and no record would point at
 * them once the job is done. Only parts the job's log says it started: those of another job (one
 * into a subdirectory), of a single `get`, or made by hand are not its own. Kept also while a live
 * transfer holds the file's lock.
 */
export function dropStaleParts(localRoot: string, parts: string[], copying: Set<string>, started: ReadonlyMap<string, unknown>, kept: (rel: string) => boolean, note: Notifier): void {
  for (const partRel of parts) {
    const rel = partRel.slice(0, -PART_SUFFIX.length);
    // In a directory the source could not list this time, the file's absence is not known: kept.
    if (copying.has(rel) || !started.has(rel) || kept(rel)) continue;
    const part = join(localRoot, partRel);
    if (besideFile(join(localRoot, rel), PART_SUFFIX) !== part) continue;
    try {
      using _lock = lockDownload(part, join(localRoot, rel));
      rmSync(part, { force: true });
      note.info(`${shown(rel)}: removed its partial download (the source no longer has it)`);
    } catch {
      // held by a live transfer, or not ours to remove: left as it is
    }
  }
}

/** Same size under --checksum: compare digests (HASH), or say there is none and compare times. */
export async function settleChecksums(s: Session, items: PlanItem[], source: TreeEntry[], dest: TreeEntry[], remoteRoot: string, localRoot: string, rec: TransferRecord, note: Notifier): Promise<PlanItem[]> {
  const src = new Map(source.map((e) => [e.rel, e]));
  const dst = new Map(dest.map((e) => [e.rel, e]));
  let noHash = false;
  for (const item of items) {
    if (item.reason !== "checksum?") continue;
    let remote: Awaited<ReturnType<typeof s.client.remoteDigest>> | undefined;
    for (let attempt = 1; remote === undefined; attempt++) {
      const client = s.client;
      try {
        remote = noHash ? null : await client.remoteDigest(joinRemote(remoteRoot, item.rel), rec.hash);
      } catch (err) {
        // A dropped connection (or a 421, which closes it): asked again on a new one, --retries times.
        if ((await s.retryAfter(client, err, attempt, note)) !== null) continue;
        // The server will not hash this one file, now (450 busy) or at all (550 unreadable): it may
        // differ, so it is copied, and fails alone if it cannot be; the refusal stopped the whole sync before.
        if (!(err instanceof ClientError) || err.code === undefined || err.code === 421 || client.control.isClosed) throw err;
        item.reason = `no ${rec.hash}: ${err.message}`;
        break;
      }
    }
    if (remote === undefined) continue;
    if (remote === null) {
      if (!noHash) note.warn(`--checksum: ${noDigestReason(s.client, rec.hash)}; comparing sizes and modification times instead`);
      noHash = true;
      const t = byTime(src.get(item.rel)!, dst.get(item.rel)!, { direction: rec.direction, remoteTimesSettable: s.client.features.has("MFMT") });
      Object.assign(item, t.changed ? { reason: `${t.reason} (no HASH)` } : { action: "skip", reason: `${t.reason} (no HASH)` });
      continue;
    }
    const local = hashFile(join(localRoot, item.rel), rec.hash);
    if (local !== remote.hex) {
      item.reason = `${rec.hash} differs`;
      continue;
    }
    Object.assign(item, { action: "skip", reason: `same ${rec.hash}` });
    // Same bytes, another time: left so, the next sync by times copied the file again. An upload's
    // remote time can be set only with MFMT.
    if (!src.get(item.rel)!.timeUnknown && !sameTime(src.get(item.rel)!, dst.get(item.rel)!) && (rec.direction === "get" || s.client.features.has("MFMT"))) item.retime = true;
  }
  return items;
}

/**
 * Give the destination's copies --checksum found the same (`retime`) the source's time, as a copy
 * would have (rsync -c -t does the same): a sync by size and time then finds them unchanged. A time
 * that cannot be set is said and changes nothing else.
 */
export async function retimeSame(items: PlanItem[], direction: "get" | "put", client: FtpClient, remoteRoot: string, localPath: (rel: string) => string, note: Notifier): Promise<void> {
  const due = items.filter((i) => i.retime && i.mtimeMs !== undefined);
  for (let at = 0; at < due.length; at += MDTM_BATCH) {
    await Promise.all(
      due.slice(at, at + MDTM_BATCH).map(async (i) => {
        try {
          if (direction === "get") retimeLocal(localPath(i.rel), new Date(i.mtimeMs!));
          else if (!(await client.setMtime(joinRemote(remoteRoot, i.rel), new Date(i.mtimeMs!)))) throw new Error("MFMT refused");
        } catch (err) {
          if ((err as { code?: string }).code === "ELOOP") note.warn(`${shown(i.rel)}: the same as the source, but a symbolic link in the destination: its time was not set (nothing is written through a link there)`);
          else note.warn(`${shown(i.rel)}: the same as the source, but its time could not be set (${localCause(err)})`);
        }
      }),
    );
  }
}

/**
 * Set a destination file's time, never through a symbolic link (O_NOFOLLOW: ELOOP): a link there may
 * point out of the tree, and a copy replaces the link itself rather than write its target.
 * O_NONBLOCK: a FIFO put in the file's place since the walk is not waited on.
 */
function retimeLocal(path: string, time: Date): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    futimesSync(fd, time, time);
  } finally {
    closeSync(fd);
  }
}

export function planned(i: PlanItem, result: string): FileReport {
  return { path: i.rel, action: i.action, reason: i.reason, bytes: 0, result };
}

/**
 * --dry-run: one line per action on stdout ("copy a/b.txt (size differs)"), or the JSON plan, with
 * `besides` (what the walks reported: entries skipped or unreadable).
 */
export function printPlan(planOrder: PlanItem[], json: boolean, besides: FileReport[] = []): void {
  // In the order the run does them: what stands in the way (a case rename's old name) is deleted
  // before the copies, the rest after them.
  const isFirst = (i: PlanItem) => i.action === "delete" && i.first === true;
  const isLast = (i: PlanItem) => i.action === "delete" && !i.first;
  const items = [...planOrder.filter(isFirst), ...planOrder.filter((i) => !isFirst(i) && !isLast(i)), ...planOrder.filter(isLast)];
  if (json) {
    printReport(summarizePlan([...items.map((i) => planned(i, "planned (dry run)")), ...besides]));
    return;
  }
  const lines = items.filter((i) => i.action !== "skip").map((i) => `${i.action} ${printableName(i.rel)}${i.type === "dir" && i.action !== "mkdir" ? "/" : ""} (${i.reason})\n`);
  writeStdout(lines.join(""));
  const n = (a: string) => items.filter((i) => i.action === a).length;
  writeStdout(`dry run: ${n("copy")} to copy, ${n("mkdir")} directories to create, ${n("delete")} to delete, ${n("skip")} unchanged; nothing was changed\n`);
}
