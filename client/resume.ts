// `ftpkit resume`: the interrupted transfers recorded in a journal, listed (--list) or continued,
// each with what it started with (withRecordSettings); a job recorded in another directory is found
// there when named.
import { lstatSync } from "node:fs";
import { join, resolve } from "node:path";
import { ClientError } from "./client.ts";
import { failureKind, movedBefore, worstKind, type FailureKind } from "./errors.ts";
import { finishedEntry, printReport, reportAround, summarize, type FileReport } from "./report.ts";
import { journalDir, scanRecords, type TransferRecord } from "./journal.ts";
import { loadDone } from "./tree-journal.ts";
import { journalsElsewhere, whereElse } from "./journal-index.ts";
import { forgetOrphanedPasswords } from "./state.ts";
import { parseUrlArg, type TransferOptions } from "./options.ts";
import { consola, Notifier } from "./messages.ts";
import { lockUploadJob, runDownload, runUpload, type TransferResult } from "./operations.ts";
import { withRecordSettings } from "./job-records.ts";
import { FinishedElsewhere } from "./job-end.ts";

/** Why a job listed at the start was not run: another run finished it meanwhile (its report entry's reason). */
const FINISHED_ELSEWHERE = "finished by another ftpkit resume";

/** One pending transfer as `ftpkit resume --list` shows it. */
export interface PendingTransfer {
  kind: "file" | "tree";
  /** A tree job started by `ftpkit sync` (a copy otherwise). */
  sync?: true;
  direction: "get" | "put";
  url: string;
  local: string;
  startedAt: string;
  /** get: bytes in the partial file; tree: files finished; put: unknown here (the server has them). */
  done: { bytes: number } | { files: number } | null;
  /** Begun with --tls (an ftp:// URL, encrypted): it resumes over TLS. */
  tls?: true;
}

/** The interrupted transfers recorded in the journal (`ftpkit resume --list`); damaged records are warned about. */
export function pendingTransfers(opts: { journal?: string; only?: string } = {}): PendingTransfer[] {
  const dir = opts.journal ?? journalDir();
  const { records, damaged } = scanRecords(dir);
  for (const d of damaged) consola().warn(`skipping a damaged journal record ${d.file} (${d.problem}); remove it once you no longer need it`);
  return records.filter((rec) => opts.only === undefined || isJobOf(rec, opts.only)).map((rec) => {
    let done: PendingTransfer["done"] = null;
    if (rec.kind === "tree") done = { files: loadDone(rec.id, dir).size };
    // A segmented download's part file has its full size from the start: its segments say what came.
    else if (rec.segments) done = { bytes: rec.segments.reduce((n, g) => n + (g.pos - g.start), 0) };
    else if (rec.direction === "get" && rec.part) done = { bytes: partBytes(rec.part) };
    return { kind: rec.kind === "tree" ? "tree" : "file", ...(rec.tree?.mode === "sync" ? { sync: true as const } : {}), direction: rec.direction, url: rec.url, local: rec.local, startedAt: rec.startedAt, done, ...(rec.tls === "explicit" ? { tls: true as const } : {}) };
  });
}

/**
 * The bytes a download's part file holds: the file's own size, never followed through a symbolic
 * link standing at its name (the resume would refuse to write through it, as the download did:
 * O_NOFOLLOW), which showed the size of whatever the link pointed to as received.
 */
function partBytes(part: string): number {
  try {
    const st = lstatSync(part);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

/** The job of local path `abs`: its destination or source, or a download's part file. */
function isJobOf(rec: TransferRecord, abs: string): boolean {
  return rec.local === abs || rec.part === abs;
}

/**
 * `ftpkit resume [LOCAL]`: continue every pending job recorded in this directory, or the one for LOCAL.
 * With `json`, one report on stdout, the shape each job prints with --json: one job's is the job's own
 * (a tree's paths relative to its roots); several jobs' files go into one, a tree's paths then under
 * its local directory. It is printed when some failed too (then the error follows, as for get --json).
 */
export async function resumeTransfers(localArg: string | undefined, opts: TransferOptions, out: { json?: boolean } = {}): Promise<TransferResult[]> {
  const dir = opts.journal ?? journalDir();
  const note = new Notifier(opts.quiet);
  forgetOrphanedPasswords();
  const { records, damaged } = scanRecords(dir);
  for (const d of damaged) consola().warn(`skipping a damaged journal record ${d.file} (${d.problem}); remove it once you no longer need it`);
  let recs = records;
  if (localArg !== undefined) {
    const abs = resolve(localArg);
    recs = recs.filter((r) => isJobOf(r, abs));
    if (recs.length === 0) {
      // Named, it is unambiguous: a job recorded where it was started (another directory) is resumed from its own journal.
      const place = opts.journal === undefined ? journalsElsewhere(dir).find((p) => scanRecords(p.journal).records.some((r) => isJobOf(r, abs))) : undefined;
      if (!place) throw new ClientError(`no interrupted transfer of ${abs} is recorded in ${dir}`);
      note.info(`the interrupted transfer of ${abs} is recorded in ${place.cwd}: resuming it from there`);
      return resumeTransfers(abs, { ...opts, journal: place.journal }, out);
    }
  }
  if (recs.length === 0) {
    // A script reads "nothing to resume" with exit 0 as done: not when the only records were unusable.
    if (damaged.length > 0) throw new ClientError(`nothing could be resumed: ${damaged.length} journal record(s) are damaged or not this user's (see above)`);
    const elsewhere = journalsElsewhere(dir);
    if (elsewhere.length === 0) note.info("nothing to resume");
    else note.info(`nothing to resume here; ${whereElse(elsewhere)}`);
    if (out.json) printReport(summarize([]));
    return [];
  }
  const results: TransferResult[] = [];
  const failures: (FailureKind | null)[] = [];
  /** The report's entries of the jobs done so far (--json). */
  const files: FileReport[] = [];
  const several = recs.length > 1;
  /** A tree's entries in the report of several jobs: its paths under its local directory, to tell them apart. */
  const placed = (rec: TransferRecord, entries: FileReport[]) => (several && rec.kind === "tree" ? entries.map((f) => ({ ...f, path: join(rec.local, f.path) })) : entries);
  for (const rec of recs) {
    const url = parseUrlArg(rec.url);
    const o = withRecordSettings(opts, rec);
    // A signal during this job: the report has the jobs before it, and this one's entries so far.
    using _frame = out.json ? reportAround((running) => [...files, ...placed(rec, running)]) : null;
    let treeReport = false;
    try {
      if (rec.kind === "tree") {
        const { resumeTree } = await import("./tree-job.ts");
        const report = await resumeTree(rec, o, (r) => {
          treeReport = true;
          files.push(...placed(rec, r.files));
        });
        if (report.failed > 0) throw new ClientError(`${report.failed} file(s) of ${rec.local} failed`);
        continue;
      }
      let result: TransferResult;
      if (rec.direction === "get") result = await runDownload(url, rec, o, true);
      else {
        using _job = lockUploadJob(rec.id, rec.local);
        result = await runUpload(url, rec, o, true);
      }
      results.push(result);
      files.push(finishedEntry(result));
    } catch (err) {
      // Listed at the start, finished by another resume since: nothing left to do, nothing failed.
      if (err instanceof FinishedElsewhere) {
        note.info(err.message);
        files.push({ path: rec.local, ...(rec.kind === "file" ? { url: rec.url } : {}), action: "skip", reason: FINISHED_ELSEWHERE, bytes: 0, result: `skipped: ${FINISHED_ELSEWHERE}` });
        continue;
      }
      // A tree job that failed as a whole (before its report), and a file, are one failed entry.
      const entry: FileReport = { path: rec.local, url: rec.url, action: "copy", reason: "requested", bytes: movedBefore(err), result: `failed: ${(err as Error).message}` };
      if (!treeReport && (several || rec.kind === "file")) files.push(entry);
      if (!several) {
        // One job: its report as the job prints it, then its error; a tree's failure as a whole is
        // reported by the CLI's error path (its error, no files), as for get -r --json.
        // A file's failure is the job's error too, as a single get or put reports it.
        if (out.json && treeReport) printReport(summarize(files));
        else if (out.json && rec.kind === "file") printReport({ ...summarize(files), error: (err as Error).message });
        throw err;
      }
      consola().error(`${rec.local}: ${(err as Error).message}`);
      failures.push(failureKind(err));
    }
  }
  if (out.json) printReport(summarize(files));
  if (failures.length) throw new ClientError(`${failures.length} of ${recs.length} transfers could not be resumed`, { kind: worstKind(failures) ?? undefined });
  return results;
}
