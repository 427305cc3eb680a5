// The `--json` report every transfer job prints on stdout: one entry per file (a tree's path, or a
// single file's local path and URL), then the counts. Single files and trees share the shape, so a
// script reads `get a.bin --json` and `get -r dir --json` alike.
import { writeSync } from "node:fs";
import type { PlanItem } from "./tree-plan.ts";
import { printableJson } from "../protocol/printable.ts";

export interface FileReport {
  /** A tree's path relative to its roots; a single file's local path. */
  path: string;
  /** A single file's remote URL (no password). */
  url?: string;
  action: PlanItem["action"];
  reason: string;
  bytes: number;
  /** "sha256:<hex>" when the file was hashed. */
  digest?: string;
  /** "verified by HASH", "size verified only", "failed: <why>"… */
  result: string;
  /** A copy not verified by digest: why (the server refused HASH, offers none…), as the info line says it. */
  whyUnverified?: string;
  /** A resumed download's part file held bytes ftpkit never wrote (another program's): how it was cut back before continuing. */
  partCut?: string;
}

export interface JobReport {
  files: FileReport[];
  copied: number;
  /** Directories made (mkdir entries done): with the other counts, every entry is counted once. */
  created: number;
  skipped: number;
  deleted: number;
  failed: number;
  bytesMoved: number;
  /** --dry-run: nothing was done (copied, created and deleted are 0); what the run would do. */
  dryRun?: true;
  planned?: { copy: number; mkdir: number; delete: number };
  /** The job failed as a whole before or besides its files (a refused login, a missing directory); a single get or put: its file's failure. */
  error?: string;
}

export function summarize(files: FileReport[]): JobReport {
  files.sort((a, b) => a.path.localeCompare(b.path));
  const ok = (f: FileReport) => !f.result.startsWith("failed");
  return {
    files,
    copied: files.filter((f) => f.action === "copy" && ok(f)).length,
    created: files.filter((f) => f.action === "mkdir" && ok(f)).length,
    skipped: files.filter((f) => f.action === "skip").length,
    deleted: files.filter((f) => f.action === "delete" && ok(f)).length,
    failed: files.filter((f) => !ok(f)).length,
    bytesMoved: files.reduce((n, f) => n + f.bytes, 0),
  };
}

/**
 * The report of a dry run: each item's plan, and nothing counted as done. An entry the run would fail
 * on (a pending upload whose local file is gone, one under a directory it cannot list) is counted in
 * `failed`, not among what it plans to do, as the text summary counts it.
 */
export function summarizePlan(files: FileReport[]): JobReport {
  const n = (a: FileReport["action"]) => files.filter((f) => f.action === a && !f.result.startsWith("failed")).length;
  return { ...summarize(files), copied: 0, created: 0, deleted: 0, dryRun: true, planned: { copy: n("copy"), mkdir: n("mkdir"), delete: n("delete") } };
}

/** The report of a job that failed as a whole: its error, and the files it had dealt with. */
export function failedJob(err: unknown, files: FileReport[] = []): JobReport {
  const report = summarize(files);
  return { ...report, failed: Math.max(1, report.failed), error: (err as Error).message };
}

/** What `ls --json` prints when it fails: the error's message (a listing has no files or counts to report). */
export function failedListing(err: unknown): { error: string } {
  return { error: (err as Error).message };
}

/** Whether this process has printed its report: a command prints exactly one, whatever fails. */
let printed = false;

export function printReport(report: JobReport): void {
  soFar = null; // the job's own report is out: a signal from now on adds none
  around = null;
  printJsonOnce(report);
}

/**
 * `value` as the command's one JSON document on stdout, unless one is out already. A signal's exit
 * waits for a standard error that is behind (cli/exit.ts), and the job goes on meanwhile: a job or
 * listing that ended then printed its own document after the signal's.
 */
export function printJsonOnce(value: unknown): void {
  if (claimJsonOutput()) writeStdout(printableJson(value) + "\n");
}

/** Whether stdout's one JSON document is still to come (it is this caller's from now on); false once one is out. */
export function claimJsonOutput(): boolean {
  if (printed) return false;
  printed = true;
  return true;
}

/**
 * Write `text` to stdout before returning. A failed job exits (process.exit) right after its report,
 * and Bun then kept only what the pipe had taken: a reader slower than us got 64 KiB of a longer
 * report, which is not JSON. A write that fails (a reader that closed the pipe, a full disk) is the stream's error (said once, exit 3).
 */
export function writeStdout(text: string): void {
  // EPIPE, ENOSPC, EIO…: the stream's error, as an asynchronous write's would be (the CLI says it in one line).
  writeAllSync(1, text, (err) => (stdoutFailed ? stdoutFailed(err as Error) : void process.stdout.emit("error", err)));
}

let stdoutFailed: ((err: Error) => void) | null = null;

/**
 * Take writeStdout's failures here rather than as process.stdout's "error" event: a command that
 * writes its standard output only through writeStdout need not create process.stdout, whose first
 * use costs ~18 ms of start-up (CPU and wall time alike).
 */
export function onStdoutError(handler: (err: Error) => void): void {
  stdoutFailed = handler;
}

/**
 * Standard error as the --verbose trace and the CLI's error line are written to it: the terminal's
 * stream on a terminal; elsewhere (a pipe, a file) each write is complete when it returns. Bun buffers
 * process.stderr behind a full pipe, and process.exit after a failure kept only what the pipe had
 * taken: a slow reader lost the conversation's last lines and the error itself.
 */
export function stderrOut(): StderrOut {
  // Made at the first line, not at load: process.stderr costs ~20 ms of start-up (progress.ts).
  return (stderrWriter ??= process.stderr.isTTY
    ? (process.stderr as unknown as StderrOut)
    : { isTTY: false, write: (text) => (writeAllSync(2, text, () => {}), true) }); // a closed stderr: the text is dropped, the job goes on
}

type StderrOut = { write(text: string): boolean; isTTY: boolean };

let stderrGuarded = false;

/**
 * process.stderr, made to drop what it cannot write, as stderrOut does: a closed pipe (`ftpkit get
 * URL f 2>&1 | head -1`, a log reader that died) raised an EPIPE nobody handled, and a download
 * verified and in place exited 1. Touched only when a message is written (it costs ~15 ms to make).
 */
export function stderrStream(): NodeJS.WriteStream {
  if (!stderrGuarded) {
    process.stderr.on("error", () => {}); // the messages are lost; the job and its exit status are not
    countUnwritten(process.stderr);
    stderrGuarded = true;
  }
  return process.stderr;
}

/** Writes handed to process.stderr that have not reached its descriptor yet, and who waits for none to be left. */
let unwritten = 0;
const onAllWritten: Array<() => void> = [];

/**
 * Count each write until its callback: Bun keeps what a pipe does not take (a reader behind by its
 * 64 KiB) in memory, and process.exit drops it, with nothing to tell how much (writableLength stays 0).
 */
function countUnwritten(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
  stream.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) => {
    const done = typeof encoding === "function" ? encoding : cb;
    unwritten++;
    const written = (err?: unknown) => {
      if (--unwritten === 0) for (const wake of onAllWritten.splice(0)) wake();
      if (typeof done === "function") done(err);
    };
    return typeof encoding === "function" ? write(chunk, written) : write(chunk, encoding, written);
  }) as typeof stream.write;
}

/** How long an exit waits for its messages to reach a standard error that is behind (a paused `| less`). */
export const STDERR_EXIT_WAIT_MS = 2000;

/**
 * Resolves once every message written to process.stderr has reached its descriptor, or after
 * `timeoutMs` (a reader that stopped reading would hold the exit for ever). The job's exit paths
 * (a signal, a failed stdout, a failure) wait for it before process.exit, which dropped them.
 */
export function stderrWritten(timeoutMs = STDERR_EXIT_WAIT_MS): Promise<void> {
  if (unwritten === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    onAllWritten.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
let stderrWriter: StderrOut | undefined;

/** All of `text` to descriptor `fd` before returning (see writeStdout); another error than EAGAIN goes to `onError`, the rest unwritten. */
export function writeAllSync(fd: number, text: string, onError: (err: unknown) => void): void {
  const bytes = Buffer.from(text);
  for (let off = 0; off < bytes.length; ) {
    try {
      off += writeSync(fd, bytes, off);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "EAGAIN") Bun.sleepSync(1); // a descriptor the parent made non-blocking
      else return onError(err);
    }
  }
}

export function reportPrinted(): boolean {
  return printed;
}

/**
 * What the running job has done so far, for the report --json still prints when a signal ends the
 * process (a script run under `timeout` reads the same shape as always). Set by the job while it
 * runs; `signal` names the signal in the entries of what it cut short.
 */
let soFar: ((signal: string) => FileReport[]) | null = null;

export function reportSoFar(files: (signal: string) => FileReport[]): Disposable {
  soFar = files;
  return {
    [Symbol.dispose]() {
      if (soFar === files) soFar = null;
    },
  };
}

/** One file's entry while it moves: what a signal leaves of it. */
export function cutShort(path: string, url: string | undefined, moved: number, signal: string): FileReport {
  return { path, ...(url !== undefined ? { url } : {}), action: "copy", reason: "requested", bytes: moved, result: `failed: interrupted by ${signal}` };
}

/**
 * What a command running several jobs in turn (`ftpkit resume`) adds around the running job's entries
 * when a signal ends it: the jobs finished before it, and its entries as the whole report names them.
 */
let around: ((running: FileReport[]) => FileReport[]) | null = null;

export function reportAround(frame: (running: FileReport[]) => FileReport[]): Disposable {
  around = frame;
  return {
    [Symbol.dispose]() {
      if (around === frame) around = null;
    },
  };
}

/** The report of a job a signal ended: what it had done, and the signal as its error (failed, when it had done nothing). */
export function interruptedReport(signal: string): JobReport {
  const running = soFar?.(signal) ?? [];
  const files = around ? around(running) : running;
  soFar = null;
  around = null;
  const report = summarize(files);
  return { ...report, failed: files.length === 0 ? 1 : report.failed, error: `interrupted by ${signal}` };
}

/** A single file's transfer, done and checked. */
export interface FinishedFile {
  local: string;
  url: string;
  moved: number;
  digest: string;
  hash: string;
  verifiedBy: string;
  whyUnverified?: string;
  partCut?: string;
}

/** Its report entry. */
export function finishedEntry(f: FinishedFile): FileReport {
  return { path: f.local, url: f.url, action: "copy", reason: "requested", bytes: f.moved, ...(f.digest ? { digest: `${f.hash}:${f.digest}` } : {}), result: f.verifiedBy, ...(f.whyUnverified ? { whyUnverified: f.whyUnverified } : {}), ...(f.partCut ? { partCut: f.partCut } : {}) };
}

/**
 * End a single file's session (QUIT waits for the server's reply) once the file is done: a signal
 * meanwhile reports the file as copied, not as cut short (its record is already gone).
 */
export async function closeFinished<R extends FinishedFile>(session: { close(): Promise<void> }, result: R): Promise<R> {
  using _done = reportSoFar(() => [finishedEntry(result)]);
  await session.close();
  return result;
}
