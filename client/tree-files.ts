// The files of a tree job, one at a time per connection (tree-job.ts runs them through the pool):
// each through the one verified file transfer, its outcome reported and journalled; a file whose
// connection dropped goes back to the list; what never got a turn is reported at the end.
import { joinRemote } from "../protocol/path.ts";
import { ClientError } from "./client.ts";
import { failureKind, type FailureKind } from "./errors.ts";
import { besideFile, PART_SUFFIX, type FileContext, type FileProgress } from "./file-transfer.ts";
import type { TransferRecord } from "./journal.ts";
import type { DoneLog, PlanState, StartedRemote } from "./tree-journal.ts";
import type { Notifier } from "./messages.ts";
import type { TreeProgress } from "./progress.ts";
import type { FileReport } from "./report.ts";
import { isRetryable } from "./retries.ts";
import type { Session } from "./session.ts";
import type { TransferOptions } from "./options.ts";
import { LocalWriteError, refusesStorage } from "./transfer-errors.ts";
import type { Halt, Lane } from "./tree-pool.ts";
import type { PlanItem } from "./tree-plan.ts";
import { shown } from "./tree-prepare.ts";
import { insideRoot } from "./tree-dirs.ts";
import { toState } from "./tree-interrupted.ts";
import { isPartBound, type PartBound } from "./part-bound.ts";
import type { ItemFailure } from "./tree-verdict.ts";

/** What the files of one run of a tree job share. */
export interface TreeFilesEnv {
  rec: TransferRecord;
  /** The job's options, with its one limiter. */
  opts: TransferOptions;
  note: Notifier;
  progress: TreeProgress;
  local: string;
  remoteRoot: string;
  /** This run continues an interrupted one. */
  resuming: boolean;
  doneLog: DoneLog;
  reports: FileReport[];
  failures: ItemFailure[];
  failedWith(err: unknown): void;
  halt: Halt;
  /** Get, resuming: the remote file each part file of the interrupted run holds the start of (DoneLog.started). */
  startedBefore: Map<string, StartedRemote | null> | null;
  /** Put: each remote file before the job's first byte, and each local file as planned. */
  plan: PlanState | null;
}

interface Movers {
  downloadFile?: typeof import("./retrieve.ts").downloadFile;
  uploadFile?: typeof import("./file-upload.ts").uploadFile;
}

interface Retried {
  share: FileProgress;
  tried: number;
  lastError: string;
  lastKind: FailureKind | null;
}

export class TreeFiles {
  /** A file tried again keeps its share of the display, and its last error if it never gets a turn. */
  private readonly retried = new Map<PlanItem, Retried>();
  /** What is moving now, with its share of the display (reported as cut short if the job is interrupted). */
  readonly inFlight = new Map<PlanItem, FileProgress>();
  /** A file began: from then on bytes may be kept for a resume. */
  moving = false;
  /** The bound this run last logged for a file's part file (part-bound.ts): what a retry of it continues from. */
  private readonly bounds = new Map<PlanItem, PartBound>();

  /**
   * The transfer code of the job's one direction, loaded once when the files start: a get never loads
   * the upload's (file-upload.ts), a put never the download's (retrieve.ts), ~0.5 ms of a start each.
   */
  private readonly movers: Promise<Movers>;

  constructor(private readonly env: TreeFilesEnv) {
    this.movers = env.rec.direction === "get" ? import("./retrieve.ts").then((m) => ({ downloadFile: m.downloadFile })) : import("./file-upload.ts").then((m) => ({ uploadFile: m.uploadFile }));
  }

  /** An upload may continue what an earlier attempt sent only while the local file is as it was then. */
  private continuable(item: PlanItem): boolean {
    const plan = this.env.plan!;
    const was = plan.local[item.rel];
    return plan.remote[item.rel] !== undefined && was !== undefined && was.size === item.size && was.mtimeMs === (item.mtimeMs ?? 0);
  }

  /** Move one file over connection `s` (the pool's `work`). */
  readonly run = async (s: Session, item: PlanItem, lane: Lane): Promise<void> => {
    const { rec, opts, note, progress, reports, halt, doneLog } = this.env;
    this.moving = true;
    const fileProgress = this.retried.get(item)?.share ?? progress.file();
    this.inFlight.set(item, fileProgress);
    const tried = this.retried.get(item)?.tried ?? 0;
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
    const localPath = insideRoot(this.env.local, item.rel);
    const remotePath = joinRemote(this.env.remoteRoot, item.rel);
    let again = false;
    try {
      // Size and time to the second (MLSD) tell the remote file unchanged, as MDTM does for a single
      // get: a part whose file the listing shows as it was continues at its end, also without a
      // ranged HASH (only then was it started over: a 4 GiB file fetched again whole).
      const remoteNow = !item.link && !item.sizeUnknown && item.exactTime && item.mtimeMs !== undefined && item.mtimeMs > 0 ? { size: item.size, mtimeMs: item.mtimeMs } : undefined;
      const was = this.env.startedBefore?.get(item.rel);
      const unchanged = remoteNow !== undefined && was?.size === remoteNow.size && was.mtimeMs === remoteNow.mtimeMs;
      if (rec.direction === "get" && tried === 0) doneLog.started(item.rel);
      const { downloadFile, uploadFile } = await this.movers;
      const out =
        rec.direction === "get"
          ? await downloadFile!(
              s,
              {
                remote: remotePath,
                local: localPath,
                part: besideFile(localPath, PART_SUFFIX),
                resuming: true,
                mtime: item.mtimeMs !== undefined ? new Date(item.mtimeMs) : undefined,
                mode: item.mode,
                ...(item.link || item.sizeUnknown ? {} : { known: { size: item.size, mtime: null } }),
                ...(unchanged ? { expect: { size: item.size, mtime: null, changedHint: "" } } : {}),
                // Logged with the remote file, once the part holds its start, then ahead of the data. A
                // first try has just logged the part as unknown (started above): nothing is journaled.
                ...(remoteNow
                  ? {
                      bound: {
                        recorded: tried === 0 ? (was && isPartBound(was) ? { written: was.written, limit: was.limit } : null) : (this.bounds.get(item) ?? null),
                        journaled: tried === 0 ? null : (this.bounds.get(item) ?? null),
                        save: (b: PartBound) => {
                          doneLog.started(item.rel, { ...remoteNow, ...b });
                          this.bounds.set(item, b);
                        },
                      },
                    }
                  : {}),
                ...(remoteNow ? { listedTimeMs: remoteNow.mtimeMs } : {}),
              },
              ctx,
            )
          : await uploadFile!(
              s,
              {
                local: localPath,
                remote: remotePath,
                resuming: (this.env.resuming || tried > 0) && this.continuable(item),
                before: this.continuable(item) ? toState(this.env.plan!.remote[item.rel]) : undefined,
                keepMtime: true,
                keepMode: true,
              },
              ctx,
            );
      doneLog.append({ rel: item.rel, size: out.size, digest: out.digest, ...(item.mtimeMs !== undefined ? { sourceMtimeMs: item.mtimeMs } : {}), ...(out.timeGiven && item.mtimeMs !== undefined ? { timeGiven: true as const } : {}) });
      reports.push({ path: item.rel, action: "copy", reason: item.reason, bytes: out.moved, ...(out.digest ? { digest: `${rec.hash}:${out.digest}` } : {}), result: out.verifiedBy, ...(out.whyUnverified ? { whyUnverified: out.whyUnverified } : {}), ...(out.partCut ? { partCut: out.partCut } : {}) });
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
        this.retried.set(item, { share: fileProgress, tried: tried + 1, lastError: message, lastKind: failureKind(err) });
        note.warn(`${shown(item.rel)}: ${message.replace(/; [^;]*`ftpkit resume`[^;]*$/, "")}; trying it again (attempt ${tried + 1} of ${opts.retries})`);
      } else {
        reports.push({ path: item.rel, action: "copy", reason: item.reason, bytes: fileProgress.moved, result: `failed: ${message}` });
        this.env.failedWith(err);
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
        this.inFlight.delete(item);
        this.bounds.delete(item);
        progress.fileFinished();
      }
    }
  };

  /**
   * The files the pool never started (a halt, or no connection left): each reported failed, with
   * what stopped it. `lostTo`: what the last connection was lost to; one no retry gets past (a
   * certificate no longer trusted, a password no longer taken) is what they failed for (exit 5,
   * 6), not the drop before it (4).
   */
  unstarted(items: readonly PlanItem[], lostTo: unknown): void {
    const { reports, failures, halt, progress } = this.env;
    const lostKind = failureKind(lostTo);
    const final = lostKind === "tls" || lostKind === "auth" ? (lostTo as Error) : null;
    const notStarted = halt.reason ? `failed: not started (${halt.reason})` : "failed: no connection left to transfer it";
    for (const c of items) {
      const again = this.retried.get(c);
      const result = final && !halt.reason ? `failed: ${again ? `${again.lastError}; then ` : ""}${final.message}` : again ? `failed: ${again.lastError}` : notStarted;
      reports.push({ path: c.rel, action: "copy", reason: c.reason, bytes: 0, result });
      // Tried again after a drop, or never started (after a halt, the failure that halted the job is counted already).
      failures.push({ kind: final && !halt.reason ? lostKind : again ? again.lastKind : halt.reason ? null : "network", lasting: false });
      progress.fileFinished(); // counted as done, as the files under a directory not created are
    }
  }
}
