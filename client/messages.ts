// The client's messages: consola on stderr (stdout carries data only), and the Notifier a job speaks
// through (--quiet, a progress display, each piece of news once).
import type { ConsolaInstance } from "consola";
import { printableMessage } from "../protocol/printable.ts";
import type { Progress } from "./progress.ts";
import { stderrStream } from "./report.ts";

/** A path as a message shows it: quoted and escaped when it holds control characters (a line break, a tab). */
export function shown(path: string): string {
  return /[\x00-\x1f\x7f]/.test(path) ? JSON.stringify(path) : path;
}

let messages: ConsolaInstance | null = null;

/**
 * The client's messages, on stderr always (stdout carries data only). Loaded at the first message:
 * consola (with node:tty) takes ~30 ms to load, and a quiet transfer prints nothing.
 */
export function consola(): ConsolaInstance {
  if (messages) return messages;
  // The fancy layout (colour, blank lines around errors) only on a terminal: a log or a pipe gets one
  // line per message. (`fancy` is read by consola's node entry; the types tsc picks lack it.)
  const stderr = stderrStream();
  const options = { level: 3, fancy: stderr.isTTY === true, stdout: stderr, stderr };
  const c = (require("consola") as typeof import("consola")).createConsola(options);
  // Messages carry names and reply text a server chose: no control character reaches the terminal.
  for (const type of ["info", "warn", "error", "success", "log"] as const) {
    const print = c[type].bind(c);
    c[type] = ((first: unknown, ...rest: unknown[]) => print(typeof first === "string" ? printableMessage(first) : first, ...rest)) as typeof print;
  }
  messages = c;
  return c;
}

/** The notices said from below a job (client/state.ts) before it had a Notifier, and the job's Notifier once it has one. */
const pending: string[] = [];
let jobNotifier: Notifier | null = null;

/** A warning from code that has no Notifier to hand (client/state.ts): said by the job's, so --quiet silences it. */
export function jobWarning(msg: string): void {
  if (jobNotifier) jobNotifier.warn(msg);
  else pending.push(msg);
}

/**
 * The warnings no job's Notifier said (a command that makes none: `resume --list`), at the command's
 * end (main.ts), unless it ran with -q: they were lost.
 */
export function sayUnsaidWarnings(quiet: boolean): void {
  for (const msg of pending.splice(0)) if (!quiet) consola().warn(msg);
}

/** Informational messages (suppressed by --quiet), printed without breaking a progress display. */
export class Notifier {
  progress: { clear(): void } | Progress | null = null;
  private said = new Set<string>();
  constructor(private readonly quiet: boolean) {
    jobNotifier = this;
    for (const msg of pending.splice(0)) this.warn(msg);
  }
  /** A file stands unverified (or verified by size only): say why (each file's outcome keeps it: unverifiedReason). */
  unverified(msg: string): void {
    this.info(msg);
  }
  /** Each distinct message once per job ("server offers no hash" is news once, not per file of a tree). */
  info(msg: string): void {
    if (this.quiet || this.said.has(msg)) return;
    this.said.add(msg);
    this.progress?.clear();
    consola().info(msg);
  }
  warn(msg: string): void {
    if (this.quiet) return;
    this.progress?.clear();
    consola().warn(msg);
  }
  /** A warning that holds for the whole job: said at its first occurrence only. */
  warnOnce(msg: string): void {
    if (this.said.has(msg)) return;
    this.said.add(msg);
    this.warn(msg);
  }
  /**
   * A failure the job goes on after (one file of a tree): shown with --quiet too, which keeps errors,
   * so the job's last line ("2 of 1010 items failed") is not all a script's log learns.
   */
  error(msg: string): void {
    this.progress?.clear();
    consola().error(msg);
  }
}

/**
 * A line that says how a transfer continues ("resuming at byte N", how the partial data was checked):
 * said once that try moves its first byte (or ends), never for a try that goes another way (a server
 * without REST starts over, which its own line says).
 */
export class LineAtFirstByte {
  private text: string | null = null;
  constructor(private readonly note: { info(msg: string): void }) {}

  /** The line for the coming try (null: none). */
  set(text: string | null): void {
    this.text = text;
  }

  /** Say it now, once. */
  say(): void {
    if (this.text) this.note.info(this.text);
    this.text = null;
  }

  /** A pump's onProgress that says the line at the first byte, then passes the progress on. */
  watch(update: (moved: number) => void): (moved: number) => void {
    return (moved) => {
      if (this.text && moved > 0) this.say();
      update(moved);
    };
  }
}
