// A tree job's own journal files beside its record: the log of files finished (and downloads
// started), appended a line at a time so kill -9 loses nothing written, and an upload's plan state.
import { closeSync, constants, fstatSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { isNum, isStr, journalDir, writeAtomic } from "./journal.ts";
import { readJournalFile, readyDir } from "./journal-dir.ts";
import { isPartBound } from "./part-bound.ts";

/** One finished file of a tree job. */
export interface DoneEntry {
  /** Path relative to the tree's root, "/"-separated. */
  rel: string;
  size: number;
  digest: string;
  /** The source's time (ms) when it was copied: one changed since is copied again. Absent in older logs. */
  sourceMtimeMs?: number;
  /** An upload whose remote copy was given `sourceMtimeMs` (MFMT): a remote copy dated otherwise was changed since. */
  timeGiven?: true;
}

/**
 * The finished, verified files of tree job `id`, one appended line each (kill -9 loses nothing
 * written). Opened once per job: a tree of 1,000 files appends 1,000 times, and reopening the file
 * each time cost two more system calls per file.
 */
export class DoneLog implements Disposable {
  private fd: number;

  constructor(id: string, dir: string = journalDir()) {
    readyDir(dir);
    // Never through a link planted as its name: lines naming remote files were appended to its
    // target (~/.bashrc, with a remote file named '$(…)', ran code at the user's next shell).
    this.fd = openSync(join(dir, `${id}.done`), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
    if (!fstatSync(this.fd).isFile()) {
      closeSync(this.fd);
      throw new Error(`${join(dir, `${id}.done`)} is not a regular file`);
    }
  }

  append(entry: DoneEntry): void {
    if (this.fd < 0) throw new Error("the journal of finished files is closed");
    writeSync(this.fd, JSON.stringify(entry) + "\n");
  }

  /**
   * A download is about to create its part file: a resume may remove it if the source drops the file.
   * With `remote`: the part file now holds the start of that remote file (size, mtime to the second),
   * so a resume that lists it unchanged continues it (see loadStarted).
   */
  started(rel: string, remote?: StartedRemote): void {
    if (this.fd < 0) throw new Error("the journal of finished files is closed");
    writeSync(this.fd, JSON.stringify({ rel, started: true, ...remote }) + "\n");
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The remote file whose start a tree download's part file holds (DoneLog.started), and how much of
 * the part is this client's (part-bound.ts; absent in older logs, and before the first byte).
 */
export interface StartedRemote {
  size: number;
  mtimeMs: number;
  written?: number;
  limit?: number;
}

/**
 * Tree job `id`'s log, read once: the files an interrupted run finished (a damaged line is ignored:
 * that file is moved again), and the files it started to download (their part files are its own),
 * each with the remote file its part holds the start of, or null when unknown. The last line of a
 * file wins: each run writes a started line without the remote file before it touches the part, and
 * one with it once the part holds that file's bytes (kill -9 in between leaves it unknown: the part
 * starts over). A resume read it whole four times (its compaction, loadDone, loadStarted twice):
 * 424 MB at the peak for a job of 100,000 files.
 */
export interface JobLog {
  done: Map<string, DoneEntry>;
  started: Map<string, StartedRemote | null>;
  /** Lines the log holds, a torn one (kill -9) too: what compactLog weighs the kept ones against. */
  lines: number;
}

/** Read tree job `id`'s log (empty when there is none). */
export function readLog(id: string, dir: string = journalDir()): JobLog {
  const log: JobLog = { done: new Map(), started: new Map(), lines: 0 };
  let text: string;
  try {
    text = readJournalFile(join(dir, `${id}.done`));
  } catch {
    return log;
  }
  for (let at = 0; at < text.length; ) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end);
    at = end + 1;
    if (!line) continue;
    log.lines++;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // a line cut by kill -9
    }
    if (typeof e !== "object" || e === null || !isStr(e.rel)) continue;
    if (isNum(e.size) && isStr(e.digest)) log.done.set(e.rel, { rel: e.rel, size: e.size, digest: e.digest, ...(isNum(e.sourceMtimeMs) ? { sourceMtimeMs: e.sourceMtimeMs } : {}), ...(e.timeGiven === true ? { timeGiven: true as const } : {}) });
    if (e.started === true) log.started.set(e.rel, isNum(e.size) && isNum(e.mtimeMs) ? { size: e.size, mtimeMs: e.mtimeMs, ...(isPartBound(e) ? { written: e.written, limit: e.limit } : {}) } : null);
  }
  return log;
}

/**
 * Rewrite tree job `id`'s log, read as `log`, with only what its reader takes from it (each file's
 * last finished line and last started line, written as DoneLog writes them), once at least half of
 * its lines are older ones. Every run appends a started line (two when the remote file is known) for
 * each file it tries, so a job whose 10,000 files are refused grew by 1.1 MB at each `ftpkit resume`,
 * without end, and each resume read it all. Called before the run opens its DoneLog (the job's lock
 * keeps other writers out); written atomically, so kill -9 leaves the old log or the new one.
 */
export function compactLog(id: string, log: JobLog, dir: string = journalDir(), durable = false): void {
  const kept = log.done.size + log.started.size;
  if (log.lines < 2 * kept) return;
  const out: string[] = [];
  for (const entry of log.done.values()) out.push(JSON.stringify(entry) + "\n");
  for (const [rel, remote] of log.started) out.push(JSON.stringify({ rel, started: true, ...remote }) + "\n");
  writeAtomic(dir, `${id}.done`, out.join(""), durable);
}

/** The finished files of tree job `id` (`ftpkit resume --list` counts them). */
export function loadDone(id: string, dir: string = journalDir()): Map<string, DoneEntry> {
  return readLog(id, dir).done;
}

/** Tree uploads: the remote state of each file before the first byte (rel → size/mtime, null = absent). */
export type RemoteBefore = Record<string, { size: number; mtime: string } | null>;

/**
 * A tree upload's state before its first byte: each remote file as it was, and each local file as
 * it was (one changed since is sent again from its start, never appended to what went before).
 */
export interface PlanState {
  remote: RemoteBefore;
  local: Record<string, { size: number; mtimeMs: number }>;
}

export function savePlanState(id: string, state: PlanState, dir: string = journalDir(), durable = false): void {
  writeAtomic(dir, `${id}.plan.json`, JSON.stringify(state) + "\n", durable);
}

export function loadPlanState(id: string, dir: string = journalDir()): PlanState | null {
  try {
    const x = JSON.parse(readJournalFile(join(dir, `${id}.plan.json`))) as Partial<PlanState> | null;
    const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
    return x && isMap(x.remote) && isMap(x.local) ? (x as PlanState) : null;
  } catch {
    return null;
  }
}
