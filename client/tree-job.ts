// Tree jobs: `get -r`, `put -r`, a glob in the last segment, and `sync` (either direction). Each is
// a plan (tree-plan.ts) executed by up to --parallel sessions, every file through the one verified
// file transfer; finished files are appended to the job's journal so `ftpkit resume` skips them.
import { existsSync, rmdirSync, rmSync, statSync } from "node:fs";
import { basename } from "node:path";
import { joinRemote } from "../protocol/path.ts";
import { compileGlob, globLiteral } from "../protocol/glob.ts";
import { ClientError } from "./client.ts";
import { failureKind, worstKind, type FailureKind } from "./errors.ts";
import { besideFile, PART_SUFFIX, type FileContext, type FileProgress } from "./file-transfer.ts";
import { downloadFile } from "./retrieve.ts";
import { uploadFile } from "./file-upload.ts";
import { journalDir, transferId, loadRecord, type TransferRecord, type TreeSpec } from "./journal.ts";
import { DoneLog, loadDone, loadPlanState, loadStarted, savePlanState, type DoneEntry, type PlanState } from "./tree-journal.ts";
import { decideResume } from "./resume-question.ts";
import { persistJob, recordSettings, withRecordSettings } from "./job-records.ts";
import { forgetJob } from "./job-end.ts";
import { journalsElsewhere } from "./journal-index.ts";
import { progressMode, TreeProgress } from "./progress.ts";
import { LocalWriteError, refusesStorage, withJobLimiter } from "./transfer.ts";
import { Connections, runPool, type Halt, type Lane } from "./tree-pool.ts";
import { throwIfFailed, type ItemFailure } from "./tree-verdict.ts";
import { checkTlsFlags, displayUrl, parseUrlArg, type TransferOptions } from "./options.ts";
import { Notifier } from "./messages.ts";
import { Credentials } from "./credentials.ts";
import { isRetryable, worthResuming } from "./retries.ts";
import { Session } from "./session.ts";
import { acquireLock, loadPassword } from "./state.ts";
import { printReport, reportSoFar, summarize, summarizePlan, type FileReport, type JobReport } from "./report.ts";
import { dropStaleParts, planned, printPlan, retimeSame, settleChecksums, sharpenTimes, shown } from "./tree-prepare.ts";
import { excluder, keeper, planTree, type NameMatch, type PlanItem } from "./tree-plan.ts";
import { makeRemoteDirs } from "./remote-dirs.ts";
import { beforeState, cutShortItems, dropOrphanedUploads, specDifference, stillDone, toState } from "./tree-interrupted.ts";
import { listSides, walkReports, type SidesSpec } from "./tree-sides.ts";
import { insideRoot, leaveOutUnlisted, makeLocalDir, makePlannedDirs, mkdirRetrying } from "./tree-dirs.ts";
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
  const sessionOpts = { ...opts, verify: opts.verify, hash: rec.hash };
  const first = await Session.open(r.url, sessionOpts, creds, note);
  const conns = new Connections(first, Math.max(1, spec.parallel ?? 4), (signal) => Session.another(r.url, sessionOpts, creds, signal), note);
  let persisted = false;
  let moving = false;
  try {
    const remoteRoot = first.resolve(r.remoteDir);
    const excluded = excluder(spec.exclude ?? []);
    const recursive = spec.recursive !== false;
    const localExists = existsSync(r.local);
    if (localExists && !statSync(r.local).isDirectory()) {
      // The source itself is a file: the command was meant for one file (as get -r of a remote file says).
      if (rec.direction === "put") throw new ClientError(`${r.local} is a file, not a directory: ${spec.mode === "sync" ? "sync mirrors directories; ftpkit put uploads one file" : "upload it without -r"}`, { kind: "usage" });
      throw new ClientError(`${r.local} is not a directory`, { kind: "local" });
    }
    if (!localExists && rec.direction === "put") throw new ClientError(`cannot read ${r.local}: no such directory`, { kind: "local" });
    const sides: SidesSpec = { direction: rec.direction, mode: spec.mode, recursive, excluded, remoteRoot, local: r.local, localExists, listers: conns, first, note, journal: dir };
    const listBoth = (match?: NameMatch) => listSides(sides, match);
    let { remoteExists, source, dest, keep, odd, parts, skipped, unreadable } = await listBoth(r.glob ? compileGlob(r.glob) : undefined);
    // As in a shell, a pattern that matches nothing stands for itself: `a[1].txt` names that file.
    if (r.glob && source.length === 0) {
      const literal = await listBoth((name) => name === globLiteral(r.glob!));
      // A sync whose pattern matches nothing mirrors nothing: its destination's matches go (--delete).
      if (literal.source.length > 0 || spec.mode === "copy") ({ remoteExists, source, dest, keep, odd, parts, skipped, unreadable } = literal);
    }
    // Like cp without -r: a directory the pattern matched is left out, and said so.
    if (!recursive) {
      for (const e of source) if (e.type === "dir") note.warn(`${shown(e.rel)}: a directory, not copied without -r`);
      source = source.filter((e) => e.type !== "dir");
      dest = dest.filter((e) => e.type !== "dir");
    }
    // Like cp, scp and lftp's mget: a pattern that names nothing is an error, not an empty success
    // (a sync may find its source empty: that is what it then mirrors).
    if (r.glob && spec.mode === "copy" && source.length === 0) {
      const where = rec.direction === "get" ? `remote file matches "${r.glob}" in ${remoteRoot}` : `local file matches "${r.glob}" in ${r.local}`;
      throw new ClientError(`no ${where}`, { kind: rec.direction === "get" ? "server" : "local" });
    }
    // A sync decides by times: where LIST's minute cannot, MDTM tells the second. A download sets its
    // files' times from it too (a get -r over LIST set them to the minute, or the day, and a later
    // sync took a same-size file changed within it for unchanged), as lftp's mirror does.
    if (spec.mode === "sync" || rec.direction === "get") {
      const [remote, local] = rec.direction === "get" ? [source, dest] : [dest, source];
      await sharpenTimes(first.client, remoteRoot, remote, local, rec.direction, first.client.features.has("MFMT"), spec.mode);
    }
    const finished = resuming ? loadDone(rec.id, dir) : new Map<string, DoneEntry>();
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
    if (spec.checksum) items = await settleChecksums(first, items, source, dest, remoteRoot, r.local, rec, note);
    // Decided before the dry run returns, so that it plans (and reports) what the run will do.
    const { items: doable, unreached } = leaveOutUnlisted(items, unreadable.filter((u) => u.side === "destination").map((u) => u.rel));
    items = doable;
    const walked = [...walkReports({ skipped, unreadable }), ...unreached];
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
    persistJob(rec, creds, dir, opts.fsync === true);
    persisted = true;
    using doneLog = new DoneLog(rec.id, dir);
    if (resuming) dropStaleParts(r.local, parts, new Set(copies.map((c) => c.rel)), loadStarted(rec.id, dir), keeper(keep), note);
    let plan: PlanState | null = resuming && rec.direction === "put" ? loadPlanState(rec.id, dir) : null;
    // Reported once, as failed: dropped from the plan saved once the report is out (below), so a
    // later resume does not report them again, and a run that dies first reports them next time.
    const orphaned = plan && !spec.delete ? dropOrphanedUploads(plan, source, dest, done, note) : [];
    if (rec.direction === "put" && !plan) {
      plan = { remote: {}, local: {} };
      const there = new Map(dest.map((e) => [e.rel, e]));
      for (const c of copies) {
        plan.remote[c.rel] = there.has(c.rel) ? await beforeState(first, joinRemote(remoteRoot, c.rel)) : null;
        plan.local[c.rel] = { size: c.size, mtimeMs: c.mtime?.getTime() ?? 0 };
      }
      savePlanState(rec.id, plan, dir, opts.fsync === true);
    }
    /** An upload may continue what an earlier attempt sent only while the local file is as it was then. */
    const continuable = (item: PlanItem): boolean => {
      const was = plan!.local[item.rel];
      return plan!.remote[item.rel] !== undefined && was !== undefined && was.size === item.size && was.mtimeMs === (item.mtime?.getTime() ?? 0);
    };
    const label = `${rec.direction}${recursive ? " -r" : ""} ${rec.direction === "get" ? basename(r.local) : remoteRoot}`;
    const progress = new TreeProgress(spec.mode === "sync" ? `sync ${label.slice(rec.direction.length + (recursive ? 4 : 1))}` : label, progressMode({ quiet: opts.quiet || req.json === true, trace: opts.trace }), copies.length, copies.reduce((n, c) => n + c.size, 0));
    note.progress = progress;
    // A file the interrupted run finished keeps the digest it was verified with: the report of the
    // resumed job, like the one the job would have printed, gives every file's.
    const doneDigest = (i: PlanItem) => (done.has(i.rel) && finished.get(i.rel)?.digest ? { digest: `${rec.hash}:${finished.get(i.rel)!.digest}` } : {});
    const reports: FileReport[] = items.filter((i) => i.action === "skip").map((i) => ({ ...planned(i, `skipped: ${i.reason}`), ...doneDigest(i) }));
    const inFlight = new Map<PlanItem, FileProgress>();
    using _soFar = reportSoFar((signal) => [...reports, ...cutShortItems(items, reports, inFlight, signal)]);
    // How each failed item failed: the job's exit status is the most telling of them.
    // `lasting`: a refusal a plain `ftpkit resume` cannot get past (a drop, a busy server, a corrupt
    // copy can be); when every failure is one, the error says to fix the cause first.
    const failures: ItemFailure[] = [];
    const failedWith = (err: unknown) => {
      const kind = failureKind(err);
      failures.push({ kind, lasting: !worthResuming(err) && kind !== "verify" });
    };
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

    const halt: Halt = { reason: null };
    // A file tried again keeps its share of the display, and its last error if it never gets a turn.
    const retried = new Map<PlanItem, { share: FileProgress; tried: number; lastError: string; lastKind: FailureKind | null }>();
    // Get: the remote file each part file of the interrupted run holds the start of (DoneLog.started).
    const startedBefore = resuming && rec.direction === "get" ? loadStarted(rec.id, dir) : null;
    const work = async (s: Session, item: PlanItem, lane: Lane): Promise<void> => {
      moving = true;
      const fileProgress = retried.get(item)?.share ?? progress.file();
      inFlight.set(item, fileProgress);
      const tried = retried.get(item)?.tried ?? 0;
      let lent = false;
      const lend = () => {
        lent = true;
        lane.controlFree();
      };
      let handedBack = false;
      // A connection lost before any byte of the file was kept: the file goes back to the list for
      // whichever connection is free first, rather than waiting out this one's backoff and new login
      // (vsftpd ends a session whose passive port it cannot bind: the file waited ~0.5 s, at the end
      // of the job too). A file with bytes kept continues on its own connection, where REST picks
      // them up (elsewhere, a server without a ranged digest would have it start over); a 4yz on a
      // live connection keeps its backoff. Asked only at a failure worth retrying.
      const handBack = (kept: number) => (handedBack = kept === 0 && s.client.control.isClosed && tried < opts.retries && !halt.reason);
      const ctx: FileContext = { opts, algo: rec.hash, verify: opts.verify && rec.verify, alwaysDigest: opts.alwaysDigest === true || rec.alwaysDigest === true, note, progress: fileProgress, beforeFirstByte() {}, discard() {}, controlFree: lend, handBack, tried };
      const localPath = insideRoot(r.local, item.rel);
      const remotePath = joinRemote(remoteRoot, item.rel);
      let again = false;
      try {
        // Size and time to the second (MLSD) tell the remote file unchanged, as MDTM does for a single
        // get: a part whose file the listing shows as it was continues at its end, also without a
        // ranged HASH (only then was it started over: a 4 GiB file fetched again whole).
        const remoteNow = !item.link && !item.sizeUnknown && item.exactTime && item.mtime && item.mtime.getTime() > 0 ? { size: item.size, mtimeMs: item.mtime.getTime() } : undefined;
        const was = startedBefore?.get(item.rel);
        const unchanged = remoteNow !== undefined && was?.size === remoteNow.size && was.mtimeMs === remoteNow.mtimeMs;
        if (rec.direction === "get" && tried === 0) doneLog.started(item.rel);
        const out =
          rec.direction === "get"
            ? await downloadFile(
                s,
                {
                  remote: remotePath,
                  local: localPath,
                  part: besideFile(localPath, PART_SUFFIX),
                  resuming: true,
                  mtime: item.mtime,
                  mode: item.mode,
                  ...(item.link || item.sizeUnknown ? {} : { known: { size: item.size, mtime: null } }),
                  ...(unchanged ? { expect: { size: item.size, mtime: null, changedHint: "" } } : {}),
                  ...(remoteNow && tried === 0 ? { partReady: () => doneLog.started(item.rel, remoteNow) } : {}),
                },
                ctx,
              )
            : await uploadFile(s, { local: localPath, remote: remotePath, resuming: (resuming || tried > 0) && continuable(item), before: continuable(item) ? toState(plan!.remote[item.rel]) : undefined, keepMtime: true, keepMode: true }, ctx);
        doneLog.append({ rel: item.rel, size: out.size, digest: out.digest, ...(item.mtime ? { sourceMtimeMs: item.mtime.getTime() } : {}) });
        reports.push({ path: item.rel, action: "copy", reason: item.reason, bytes: out.moved, ...(out.digest ? { digest: `${rec.hash}:${out.digest}` } : {}), result: out.verifiedBy });
      } catch (err) {
        // A link LIST showed (its size is the link's, so SIZE asked for the target's) that the server
        // will not send as a file points to a directory: not followed, as locally.
        if (item.link && err instanceof ClientError && err.code === 550) {
          reports.push({ path: item.rel, action: "skip", reason: "symbolic link", bytes: 0, result: "skipped: a symbolic link to a directory is not followed" });
          note.warn(`${shown(item.rel)}: skipped (a symbolic link the server does not send as a file, so a link to a directory: not followed)`);
          return;
        }
        const message = (err as Error).message;
        // The connection dropped while the file was being checked, with the next file's commands
        // already behind it on that connection (its own retries could not reconnect it), or it was
        // handed back: the file goes back to the list (--retries times) and continues from what it left.
        if (handedBack || (lent && isRetryable(err) && tried < opts.retries && !halt.reason)) {
          again = true;
          retried.set(item, { share: fileProgress, tried: tried + 1, lastError: message, lastKind: failureKind(err) });
          note.warn(`${shown(item.rel)}: ${message.replace(/; [^;]*`ftpkit resume`[^;]*$/, "")}; trying it again (attempt ${tried + 1} of ${opts.retries})`);
        } else {
          reports.push({ path: item.rel, action: "copy", reason: item.reason, bytes: fileProgress.moved, result: `failed: ${message}` });
          failedWith(err);
          note.error(`${shown(item.rel)}: ${message}`);
        }
        // A full (or read-only) disk, or a server out of space or over quota, fails every later file
        // too: the job stops starting them.
        if (err instanceof LocalWriteError && err.diskRefuses) halt.reason ??= `the local disk refused: ${err.message}`;
        else if (err instanceof ClientError && refusesStorage(err.code)) halt.reason ??= `the server refused to store more: ${err.message}`;
        if (again) lane.again(); // the pool reconnects this connection if it dropped, and only if files are left
      } finally {
        // One tried again keeps its bytes until its next turn.
        if (!again) {
          inFlight.delete(item);
          progress.fileFinished();
        }
      }
    };
    const { started, lostTo } = await runPool(reachable, Math.max(1, spec.parallel ?? 4), conns, work, note, halt);
    // The last connection lost to what no retry gets past (a certificate no longer trusted, a password
    // no longer taken): the files left failed for that (exit 5, 6), not for the drop before it (4).
    const lostKind = failureKind(lostTo);
    const final = lostKind === "tls" || lostKind === "auth" ? (lostTo as Error) : null;
    const notStarted = halt.reason ? `failed: not started (${halt.reason})` : "failed: no connection left to transfer it";
    for (const c of reachable.slice(started)) {
      const again = retried.get(c);
      const result = final && !halt.reason ? `failed: ${again ? `${again.lastError}; then ` : ""}${final.message}` : again ? `failed: ${again.lastError}` : notStarted;
      reports.push({ path: c.rel, action: "copy", reason: c.reason, bytes: 0, result });
      // Tried again after a drop, or never started (after a halt, the failure that halted the job is counted already).
      failures.push({ kind: final && !halt.reason ? lostKind : again ? again.lastKind : halt.reason ? null : "network", lasting: false });
      progress.fileFinished(); // counted as done, as the files under a directory not created are
    }

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
    throwIfFailed(report, failures, { halted: halt.reason, orphaned: orphaned.length, kept: (moving || resuming) && !refusedOnly });
    return report;
  } catch (err) {
    conns.destroy();
    // A new job that a lasting refusal stopped before its first file (a directory it may not
    // create, a file in the way) leaves no record: `ftpkit resume` would only fail the same way.
    if (persisted && !moving && !resuming && !isRetryable(err)) forgetJob(rec.id, dir);
    throw err;
  }
}
