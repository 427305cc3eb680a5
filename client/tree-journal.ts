// A tree job's own journal files beside its record: the log of files finished (and downloads
// started), appended a line at a time so kill -9 loses nothing written, and an upload's plan state.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { isNum, isStr, journalDir, writeAtomic } from "./journal.ts";

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
    this.fd = openSync(join(dir, `${id}.done`), "a", 0o600);
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

/** The lines of tree job `id`'s log, parsed; a torn or damaged line (kill -9) is left out. */
function logLines(id: string, dir: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(join(dir, `${id}.done`), "utf8");
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as unknown;
      if (typeof e === "object" && e !== null) out.push(e as Record<string, unknown>);
    } catch {
      /* a line cut by kill -9 */
    }
  }
  return out;
}

/**
 * Rewrite tree job `id`'s log with only the lines its loaders read (each file's last finished line
 * and last started line), once at least half of its lines are older ones. Every run appends a
 * started line (two when the remote file is known) for each file it tries, so a job whose 10,000
 * files are refused grew by 1.1 MB at each `ftpkit resume`, without end, and each resume read it
 * all. Called before the run opens its DoneLog (the job's lock keeps other writers out); written
 * atomically, so kill -9 leaves the old log or the new one.
 */
export function compactLog(id: string, dir: string = journalDir(), durable = false): void {
  let text: string;
  try {
    text = readFileSync(join(dir, `${id}.done`), "utf8");
  } catch {
    return;
  }
  const done = new Map<string, string>();
  const started = new Map<string, string>();
  let lines = 0;
  for (const line of text.split("\n")) {
    if (!line) continue;
    lines++;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // a line cut by kill -9: its loaders skip it too
    }
    if (typeof e !== "object" || e === null || !isStr(e.rel)) continue;
    // The same tests as loadDone's and loadStarted's: a line either would skip never hides one it reads.
    if (isNum(e.size) && isStr(e.digest)) done.set(e.rel, line);
    if (e.started === true) started.set(e.rel, line);
  }
  const kept = new Set([...done.values(), ...started.values()]);
  if (lines < 2 * kept.size) return;
  writeAtomic(dir, `${id}.done`, [...kept].map((l) => l + "\n").join(""), durable);
}

/** The finished files of tree job `id`; a damaged line is ignored (that file is moved again). */
export function loadDone(id: string, dir: string = journalDir()): Map<string, DoneEntry> {
  const out = new Map<string, DoneEntry>();
  for (const e of logLines(id, dir)) {
    if (isStr(e.rel) && isNum(e.size) && isStr(e.digest)) out.set(e.rel, { rel: e.rel, size: e.size, digest: e.digest, ...(isNum(e.sourceMtimeMs) ? { sourceMtimeMs: e.sourceMtimeMs } : {}), ...(e.timeGiven === true ? { timeGiven: true as const } : {}) });
  }
  return out;
}

/** The remote file whose start a tree download's part file holds (DoneLog.started). */
export interface StartedRemote {
  size: number;
  mtimeMs: number;
}

/**
 * The files tree job `id` started to download (their part files are its own), each with the remote
 * file its part holds the start of, or null when unknown. The last line of a file wins: each run
 * writes one without the remote file before it touches the part, and one with it once the part
 * holds that file's bytes (kill -9 in between leaves it unknown: the part starts over).
 */
export function loadStarted(id: string, dir: string = journalDir()): Map<string, StartedRemote | null> {
  const out = new Map<string, StartedRemote | null>();
  for (const e of logLines(id, dir)) {
    if (isStr(e.rel) && e.started === true) out.set(e.rel, isNum(e.size) && isNum(e.mtimeMs) ? { size: e.size, mtimeMs: e.mtimeMs } : null);
  }
  return out;
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
    const x = JSON.parse(readFileSync(join(dir, `${id}.plan.json`), "utf8")) as Partial<PlanState> | null;
    const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
    return x && isMap(x.remote) && isMap(x.local) ? (x as PlanState) : null;
  } catch {
    return null;
  }
}
