// The directories of a tree job, created before its files, parents first. One that cannot be created
// (a refused MKD, a local permission), or in the destination listed, fails alone, as in lftp's mirror
// and rsync: it and everything the plan has under it are reported as failed, and the rest of the job goes on.
import { mkdirSync } from "node:fs";
import { resolve, sep } from "node:path";
import { ClientError, type FtpClient } from "./client.ts";
import { localCause } from "./errors.ts";
import type { FileReport } from "./report.ts";
import type { Notifier } from "./messages.ts";
import type { Session } from "./session.ts";
import type { PlanItem } from "./tree-plan.ts";
import { mkdirOrFound } from "./remote-dirs.ts";
import { planned, shown } from "./tree-prepare.ts";

/** The directories nothing can be copied into (not created, or not listed), and how to report what was under them. */
export class FailedDirs {
  /** rel → what went wrong with it ("could not be created"). */
  private readonly failed = new Map<string, string>();

  add(rel: string, what: string): void {
    this.failed.set(rel, what);
  }

  /** The outermost failed directory `rel` is in, if any. */
  holding(rel: string): string | undefined {
    for (let at = rel.indexOf("/"); at >= 0; at = rel.indexOf("/", at + 1)) {
      const dir = rel.slice(0, at);
      if (this.failed.has(dir)) return dir;
    }
    return undefined;
  }

  /** The report of an item not attempted because of `dir`, which holds it. */
  unreached(item: PlanItem, dir: string): FileReport {
    return planned(item, `failed: not attempted: its directory ${dir} ${this.failed.get(dir)}`);
  }
}

/**
 * The plan without what lies under a destination directory that could not be listed: what it holds
 * could not be compared (nor kept from being overwritten), so nothing is copied, created or deleted
 * in it. Those items are reported as not attempted, by the run and by its dry run alike.
 */
export function leaveOutUnlisted(items: readonly PlanItem[], unlisted: readonly string[]): { items: PlanItem[]; unreached: FileReport[] } {
  if (unlisted.length === 0) return { items: [...items], unreached: [] };
  const failed = new FailedDirs();
  for (const rel of unlisted) failed.add(rel, "could not be listed");
  const kept: PlanItem[] = [];
  const unreached: FileReport[] = [];
  for (const i of items) {
    const dir = failed.holding(i.rel);
    if (dir === undefined) kept.push(i);
    else unreached.push(failed.unreached(i, dir));
  }
  return { items: kept, unreached };
}

/** Directories created at once (pipelined on one connection, as tree-prepare.ts's MDTMs are). */
const MKD_BATCH = 500;

/**
 * Create `mkdirs` with `make`, a level at a time: the directories of one depth all at once (on one
 * FTP connection their MKDs go out together, one round trip a level instead of one a directory: 10
 * took 40 ms against vsftpd while the job's other connections logged in), each after its parent. Each one
 * created, or failed, is reported, in the plan's order; one inside a directory that failed is not
 * attempted (it would fail the same way).
 */
export async function makePlannedDirs(mkdirs: readonly PlanItem[], make: (rel: string) => Promise<void>, job: { reports: FileReport[]; failedWith(err: unknown): void; note: Notifier }): Promise<FailedDirs> {
  const failed = new FailedDirs();
  const outcome = new Map<PlanItem, { err: unknown } | { above: string } | null>();
  // By depth (a rel's number of segments), shallowest first.
  const levels = new Map<number, PlanItem[]>();
  for (const d of mkdirs) {
    const depth = d.rel.split("/").length;
    const level = levels.get(depth);
    if (level) level.push(d);
    else levels.set(depth, [d]);
  }
  for (const [, here] of [...levels].sort(([a], [b]) => a - b)) {
    for (let at = 0; at < here.length; at += MKD_BATCH) {
      await Promise.all(
        here.slice(at, at + MKD_BATCH).map(async (d) => {
          const above = failed.holding(d.rel);
          if (above !== undefined) return void outcome.set(d, { above });
          try {
            await make(d.rel);
            outcome.set(d, null);
          } catch (err) {
            outcome.set(d, { err });
          }
        }),
      );
    }
    for (const d of here) if (outcome.get(d) !== null) failed.add(d.rel, "could not be created");
  }
  for (const d of mkdirs) {
    const o = outcome.get(d)!;
    if (o === null) job.reports.push(planned(d, "created"));
    else if ("above" in o) job.reports.push(failed.unreached(d, o.above));
    else {
      const err = o.err;
      job.reports.push(planned(d, `failed: ${(err as Error).message}`));
      job.failedWith(err);
      job.note.error(`${shown(d.rel)}: ${(err as Error).message}; nothing in it is copied`);
    }
  }
  return failed;
}

/**
 * The local path of `rel` under `root`, which must be strictly inside it: names come from a server's
 * listing, and one that resolved to the root itself or beyond (an empty name did) would make the
 * part file, its rename and a set-aside land outside the destination.
 */
export function insideRoot(root: string, rel: string): string {
  const p = resolve(root, rel);
  if (!p.startsWith(root.endsWith(sep) ? root : root + sep)) throw new ClientError(`${shown(rel)}: not a name inside ${root}; skipped`);
  return p;
}

/** mkdir -p, failing with one line that names the directory (as a single get says it cannot write). */
export function makeLocalDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    throw new ClientError(`cannot create ${path}: ${localCause(err)}`, { kind: "local" });
  }
}

/**
 * MKD on the job's first connection, a directory already there counting as made (or, with `make`,
 * the destination's `mkdir -p`); one that dropped (or a 4yz) is reconnected and tried again,
 * --retries times: only a lasting refusal fails that directory (and what is under it) alone, where a
 * dropped connection failed every directory after it.
 */
export async function mkdirRetrying(s: Session, path: string, note: Notifier, make: (client: FtpClient, path: string) => Promise<void> = mkdirOrFound): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const client = s.client;
    try {
      return await make(client, path);
    } catch (err) {
      const reached = await s.retryAfter(client, err, attempt, note);
      if (reached === null) throw err;
      attempt = reached;
    }
  }
}
