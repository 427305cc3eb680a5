// Tree jobs: `get -r`, `put -r`, a glob in the last segment, and `sync` (either direction). Each is
// a plan (tree-plan.ts) executed by up to --parallel sessions, every file through the one verified
// file transfer; finished files are appended to the job's journal so `ftpkit resume` skips them.
import { rmdirSync, rmSync } from "node:fs";
import { basename } from "node:path";
import { joinRemote } from "../protocol/path.ts";
import { ClientError } from "./client.ts";
import { failureKind, worstKind } from "./errors.ts";
import { journalDir, transferId, loadRecord, type TransferRecord, type TreeSpec } from "./journal.ts";
import { compactLog, DoneLog, loadPlanState, readLog, savePlanState, type PlanState } from "./tree-journal.ts";
import { persistJob, recordSettings, withRecordSettings } from "./job-records.ts";
import { forgetJob, stillPending } from "./job-end.ts";
import { journalsElsewhere } from "./journal-index.ts";
import { progressMode, TreeProgress } from "./progress.ts";
import { withJobLimiter } from "./transfer.ts";
import { Connections, runPool, type Halt } from "./tree-pool.ts";
import { TreeFiles } from "./tree-files.ts";
import { planJob } from "./tree-job-plan.ts";
import { throwIfFailed, type ItemFailure } from "./tree-verdict.ts";
import { checkTlsFlags, displayUrl, parseUrlArg, type TransferOptions } from "./options.ts";
import { Notifier } from "./messages.ts";
import { Credentials } from "./credentials.ts";
import { isRetryable, worthResuming } from "./retries.ts";
import { Session } from "./session.ts";
import { acquireLock, loadPassword } from "./state.ts";
import { printReport, reportSoFar, summarize, summarizePlan, type FileReport, type JobReport } from "./report.ts";
import { dropStaleParts, planned, printPlan, retimeSame, shown } from "./tree-prepare.ts";
import { keeper, type PlanItem } from "./tree-plan.ts";
import { makeRemoteDirs } from "./remote-dirs.ts";
import { beforeState, cutShortItems, dropOrphanedUploads, specDifference } from "./tree-interrupted.ts";
import { insideRoot, makeLocalDir, makePlannedDirs, mkdirRetrying } from "./tree-dirs.ts";
import { roots, type Roots, type TreeRequest } from "./tree-roots.ts";

export type { TreeRequest } from "./tree-roots.ts";

/** The lock of tree job `id` (on `local`), held for the whole run. */
function jobLock(id: string, local: string) {
  return acquireLock(`tree\n${id}`, local);
}

/**
 * Start a tree job (or continue the pending one for the same source and destination). With --json,
 * a job that fails before its own report gets one from the CLI's error path (cli/main.ts).
 */
export async function runTreeJob(req: TreeRequest, opts: TransferOptions): Promise<JobReport> {
  const r = roots(req);
  checkTlsFlags(r.url, opts);
  const spec: TreeSpec = { ...req.spec, ...(r.glob ? { glob: r.glob } : {}) };
  const dir = opts.journal ?? journalDir();
  const id = transferId(`tree-${req.direction}-${spec.mode}`, displayUrl(r.url) + (r.glob ? `\n${r.glob}` : ""), r.local);
  const note = new Notifier(opts.quiet);
  // One run of a job at a time: a second one (or a --restart) while it runs would have announced a
  // resume, then failed on each file's lock and left both runs failed.
  using _job = req.dryRun ? null : jobLock(id, r.local);
  const pending = loadRecord(id, dir);
  // The same job recorded from another directory (started there, killed): its parts and plan are
  // this job's; a new run from here would start over on them. Refused, naming where it resumes.
  const elsewhere = pending ? undefined : journalsElsewhere(dir).find((p) => loadRecord(id, p.journal)?.kind === "tree");
  if (elsewhere && !opts.restart) {
    throw new ClientError(`an interrupted ${spec.mode === "sync" ? "sync" : "transfer"} of the same source and destination is pending: finish it with \`ftpkit resume\` in ${elsewhere.cwd}, or add --restart to discard it and run this command instead`);
  }
  if (elsewhere && !req.dryRun) forgetJob(id, elsewhere.journal);
  if (pending && pending.kind === "tree" && !opts.restart) {
    // Resuming runs the pending job's plan: one made with other options (no --delete, more
    // --exclude) would delete or copy what this command was asked to leave alone.
    const differs = specDifference(pending.tree ?? { mode: spec.mode }, spec);
    if (differs) {
      throw new ClientError(`an interrupted ${spec.mode === "sync" ? "sync" : "transfer"} of the same source and destination is pending with other options (${differs}): finish it with \`ftpkit resume\`, or add --restart to discard it and run this command instead`);
    }
    // The dry run shows what the real run would do: continue the pending job.
    if (req.dryRun) {
      note.info(`an interrupted run of this job is pending: the plan below is what resuming it would do (--restart: start over)`);
      return await runTree(r, pending, withRecordSettings(opts, pending), true, req);
    }
    // Loaded only here, with the prompt it may show: a job with nothing pending never asks.
    const { decideResume } = await import("./resume-question.ts");
    const decision = await decideResume(pending, opts, note);
    if (decision === "resume") return await runTree(r, pending, withRecordSettings(opts, pending), true, req);
    if (decision === "declined") note.info(`the interrupted ${spec.mode === "sync" ? "sync" : "transfer"} of ${r.local} is discarded: starting over`);
  }
  if (pending && !req.dryRun) forgetJob(id, dir);
  const rec: TransferRecord = {
    id,
    direction: req.direction,
    kind: "tree",
    url: displayUrl(r.url),
    local: r.local,
    remoteSize: null,
    remoteMtime: null,
    hash: opts.hash,
    verify: opts.verify,
    ...(opts.alwaysDigest ? { alwaysDigest: true } : {}),
    ...recordSettings(r.url, opts),
    tree: spec,
    startedAt: new Date().toISOString(),
  };
  return await runTree(r, rec, opts, false, req);
}

/**
 * `ftpkit resume` of a tree record: plan again, skip what finished, continue the rest. `onReport`
 * gets the job's report (--json), also when some of its files failed and an error follows.
 */
export async function resumeTree(rec: TransferRecord, opts: TransferOptions, onReport?: (report: JobReport) => void): Promise<JobReport> {
  using _job = jobLock(rec.id, rec.local);
  // Listed when the resume began: another run may have finished it since (then its done log and
  // password are gone, and the stale record would plan the whole tree again).
  rec = stillPending(rec, opts.journal ?? journalDir());
  const url = parseUrlArg(rec.url);
  const r: Roots = { url, remoteDir: url.path, local: rec.local, ...(rec.tree?.glob ? { glob: rec.tree.glob } : {}) };
  return await runTree(r, rec, opts, true, { direction: rec.direction, url: rec.url, local: rec.local, spec: rec.tree!, ...(onReport ? { onReport } : {}) });
}

async function runTree(r: Roots, rec: TransferRecord, jobOpts: TransferOptions, resuming: boolean, req: TreeRequest): Promise<JobReport> {
  // One limiter for the job: each file (and connection) with its own let small files through at full speed.
  const opts = withJobLimiter(jobOpts);
  const spec = rec.tree!;
  const dir = opts.journal ?? journalDir();
  const note = new Notifier(opts.quiet || req.json === true);
  const creds = new Credentials(r.url, loadPassword(rec.id, r.url));
  // Block mode (MODE B) where the server offers it: a tree job moves many files per connection.
  const sessionOpts = { ...opts, verify: opts.verify, hash: rec.hash, offerModeB: opts.blockMode !== false };
  const first = await Session.open(r.url, sessionOpts, creds, note);
  const conns = new Connections(first, Math.max(1, spec.parallel ?? 4), (signal) => Session.another(r.url, sessionOpts, creds, signal), note);
  let persisted = false;
  let files: TreeFiles | null = null;
  try {
    const remoteRoot = first.resolve(r.remoteDir);
    const recursive = spec.recursive !== false;
    const log = resuming ? readLog(rec.id, dir) : null;
    const { remoteExists, source, dest, keep, parts, unreadable, items, walked, finished, done } = await planJob({ r, rec, first, conns, note, dir, resuming, remoteRoot, log, running: req.dryRun !== true });
    if (req.dryRun) {
      // A pending upload whose local file is gone since fails in the run (said on stderr, as there).
      const pendingPlan = resuming && rec.direction === "put" && !spec.delete ? loadPlanState(rec.id, dir) : null;
      const orphaned = pendingPlan ? dropOrphanedUploads(pendingPlan, source, dest, done, note) : [];
      printPlan(items, req.json === true, [...walked, ...orphaned]);
      await conns.close();
      // The run would fail on what could not be read: so does its dry run, with the same status.
      const kind = worstKind(unreadable.map(({ err }) => failureKind(err))) ?? undefined;
      if (unreadable.length > 0) throw new ClientError(`${unreadable.length} ${unreadable.length === 1 ? "entry" : "entries"} could not be read (see above): the plan leaves ${unreadable.length === 1 ? "it" : "them"}, and what is under ${unreadable.length === 1 ? "it" : "them"}, out`, { kind });
      if (orphaned.length > 0) throw new ClientError(`${orphaned.length} pending ${orphaned.length === 1 ? "upload" : "uploads"} would fail: the local ${orphaned.length === 1 ? "file is" : "files are"} gone (see above)`, { kind: "local" });
      return summarizePlan([...items.map((i) => planned(i, "planned (dry run)")), ...walked]);
    }
    const copies = items.filter((i) => i.action === "copy");
    // Persist before the first byte: the record, the password, and for uploads what each remote file was.
    persistJob(rec, creds, dir, opts.fsync === true, opts.keepPassword !== false);
    persisted = true;
    if (log) compactLog(rec.id, log, dir, opts.fsync === true);
    using doneLog = new DoneLog(rec.id, dir);
    if (log) dropStaleParts(r.local, parts, new Set(copies.map((c) => c.rel)), log.started, keeper(keep), note);
    let plan: PlanState | null = resuming && rec.direction === "put" ? loadPlanState(rec.id, dir) : null;
    // Reported once, as failed: dropped from the plan saved once the report is out (below), so a
    // later resume does not report them again, and a run that dies first reports them next time.
    const orphaned = plan && !spec.delete ? dropOrphanedUploads(plan, source, dest, done, note) : [];
    if (rec.direction === "put" && !plan) {
      plan = { remote: {}, local: {} };
      const there = new Map(dest.map((e) => [e.rel, e]));
      for (const c of copies) {
        plan.remote[c.rel] = there.has(c.rel) ? await beforeState(first, joinRemote(remoteRoot, c.rel)) : null;
        plan.local[c.rel] = { size: c.size, mtimeMs: c.mtimeMs ?? 0 };
      }
      savePlanState(rec.id, plan, dir, opts.fsync === true);
    }
    const label = `${rec.direction}${recursive ? " -r" : ""} ${rec.direction === "get" ? basename(r.local) : remoteRoot}`;
    const progress = new TreeProgress(spec.mode === "sync" ? `sync ${label.slice(rec.direction.length + (recursive ? 4 : 1))}` : label, progressMode({ quiet: opts.quiet || req.json === true, trace: opts.trace }), copies.length, copies.reduce((n, c) => n + c.size, 0));
    note.progress = progress;
    // A file the interrupted run finished keeps the digest it was verified with: the report of the
    // resumed job, like the one the job would have printed, gives every file's.
    const doneDigest = (i: PlanItem) => (done.has(i.rel) && finished.get(i.rel)?.digest ? { digest: `${rec.hash}:${finished.get(i.rel)!.digest}` } : {});
    const reports: FileReport[] = items.filter((i) => i.action === "skip").map((i) => ({ ...planned(i, `skipped: ${i.reason}`), ...doneDigest(i) }));
    // How each failed item failed: the job's exit status is the most telling of them.
    // `lasting`: a refusal a plain `ftpkit resume` cannot get past (a drop, a busy server, a corrupt
    // copy can be); when every failure is one, the error says to fix the cause first.
    const failures: ItemFailure[] = [];
    const failedWith = (err: unknown) => {
      const kind = failureKind(err);
      failures.push({ kind, lasting: !worthResuming(err) && kind !== "verify" });
    };
    const halt: Halt = { reason: null };
    files = new TreeFiles({
      rec,
      opts,
      note,
      progress,
      local: r.local,
      remoteRoot,
      resuming,
      doneLog,
      reports,
      failures,
      failedWith,
      halt,
      startedBefore: log && rec.direction === "get" ? log.started : null,
      plan,
    });
    const { inFlight } = files;
    using _soFar = reportSoFar((signal) => [...reports, ...cutShortItems(items, reports, inFlight, signal)]);
    // What the source walk skipped is reported; what it could not read fails alone (its kind is the
    // job's), and what is under a destination directory not listed is not attempted.
    reports.push(...walked);
    for (const { err } of unreadable) failedWith(err);
    reports.push(...orphaned);
    failures.push(...orphaned.map(() => ({ kind: "local" as const, lasting: true }))); // a single put's kind, gone source

    // The deletes after the transfers go over the first connection: one that dropped under a file
    // the others finished is not replaced by the pool (nothing was left to move), so it is here, once.
    let firstLost: unknown = null;
    const firstClient = async () => {
      if (firstLost) throw firstLost;
      try {
        if (first.client.control.isClosed) await first.reconnect(1, note);
      } catch (err) {
        throw (firstLost = err); // each delete after it fails with it, without backing off again
      }
      return first.client;
    };
    const remove = async (d: PlanItem): Promise<void> => {
      if (rec.direction === "get") {
        const p = insideRoot(r.local, d.rel);
        if (d.type === "dir") rmdirSync(p);
        else rmSync(p);
      } else if (d.type === "dir") await (await firstClient()).removeDir(joinRemote(remoteRoot, d.rel));
      else await (await firstClient()).deleteFile(joinRemote(remoteRoot, d.rel));
      reports.push(planned(d, "deleted"));
    };
    // What stands where the source has the other type goes first; if it cannot, nothing is created.
    for (const d of items.filter((i) => i.action === "delete" && i.first)) {
      try {
        await remove(d);
      } catch (err) {
        throw new ClientError(`${shown(d.rel)}: cannot delete it to make room (${d.reason}): ${(err as Error).message}`);
      }
    }
    // Directories first (parents before children: the walk lists them in that order).
    if (rec.direction === "get") makeLocalDir(r.local);
    // The destination itself is retried after a drop as its subdirectories are: the server may have
    // hung up while the walk looked for it (pyftpdlib does when a data connection's TLS fails).
    else if (!remoteExists) await mkdirRetrying(first, remoteRoot, note, makeRemoteDirs);
    const makeDir = rec.direction === "get" ? async (rel: string) => makeLocalDir(insideRoot(r.local, rel)) : (rel: string) => mkdirRetrying(first, joinRemote(remoteRoot, rel), note);
    const failedDirs = await makePlannedDirs(items.filter((i) => i.action === "mkdir"), makeDir, { reports, failedWith, note });
    await retimeSame(items, rec.direction, first.client, remoteRoot, (rel) => insideRoot(r.local, rel), note);
    // Files under a directory that could not be created are not tried one by one against it.
    const reachable: PlanItem[] = [];
    for (const c of copies) {
      const dir = failedDirs.holding(c.rel);
      if (dir === undefined) reachable.push(c);
      else {
        reports.push(failedDirs.unreached(c, dir));
        progress.fileFinished();
      }
    }

    const { started, lostTo } = await runPool(reachable, Math.max(1, spec.parallel ?? 4), conns, files.run, note, halt);
    files.unstarted(reachable.slice(started), lostTo);

    for (const d of items.filter((i) => i.action === "delete" && !i.first)) {
      try {
        await remove(d);
      } catch (err) {
        reports.push(planned(d, `failed: ${(err as Error).message}`));
        failedWith(err);
        note.error(`${shown(d.rel)}: cannot delete: ${(err as Error).message}`);
      }
    }
    const report = summarize(reports);
    // Kept also after lasting refusals once something moved: when their cause is fixed, resume moves
    // only what failed. An orphaned upload has no cause to fix: failing on it alone, the job is done with.
    const verified = reports.filter((f) => f.result.startsWith("verified")).length;
    progress.finish(`${report.copied} copied (${verified} verified by digest), ${report.skipped} skipped, ${report.deleted} deleted, ${report.failed} failed`);
    if (req.onReport) req.onReport(report);
    else if (req.json) printReport(report);
    // A new job that moved nothing (no file copied, no byte kept of one) and whose every failure is a
    // lasting refusal (5yz, not a drop) keeps no record either: `ftpkit resume` would be refused the
    // same way, the command is what to run again once the cause is fixed.
    const refusedOnly = !resuming && !halt.reason && report.copied === 0 && report.bytesMoved === 0 && failures.length > 0 && failures.every((f) => f.lasting);
    if (report.failed === orphaned.length || refusedOnly) forgetJob(rec.id, dir);
    else if (orphaned.length > 0) savePlanState(rec.id, plan!, dir, opts.fsync === true);
    await conns.close();
    throwIfFailed(report, failures, { halted: halt.reason, orphaned: orphaned.length, kept: (files.moving || resuming) && !refusedOnly });
    return report;
  } catch (err) {
    conns.destroy();
    // A new job that a lasting refusal stopped before its first file (a directory it may not
    // create, a file in the way) leaves no record: `ftpkit resume` would only fail the same way.
    if (persisted && !files?.moving && !resuming && !isRetryable(err)) forgetJob(rec.id, dir);
    throw err;
  }
}
