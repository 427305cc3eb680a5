import { printableName } from "../protocol/printable.ts";

export type LogFields = Record<string, string | number | boolean | undefined>;

/** One line per event: `text` for people, `json` (one object per line on stdout) for machines. */
export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** Write out buffered lines now (shutdown). */
  flush?(): void;
  /** A line of text as it is (`serve`'s messages for people), in order with the events and through the same output. */
  line?(text: string): void;
}

const LEVEL_TEXT = { info: "INFO ", warn: "WARN ", error: "ERROR" } as const;
/** The keys every JSON line has: a field of that name is written as NAMEField. */
const RESERVED_KEYS = new Set(["time", "level", "event"]);

/** Values that must be quoted: spaces, quotes, "=", "\\", and every control or line-breaking character. */
const NEEDS_QUOTES = /[\s"=\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * A JSON string literal with C1 controls, U+2028/2029 and the bidi controls (U+202A–E, U+2066–9)
 * escaped as well: text from clients (a user name, a path) can never move the cursor, clear a
 * terminal, forge a log line or show reordered.
 */
function quote(v: string): string {
  return JSON.stringify(v).replace(/[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Where log lines go: a stream's write (its callback says when the text is out), or any sink. */
export interface LogOutput {
  write(s: string, done?: (err?: Error | null) => void): unknown;
}

const NEWLINE = new Uint8Array([10]);

/**
 * `out`, starting on a new line after a write it failed. A full disk takes part of a batch and
 * refuses the rest (measured with Bun's stdout on a full tmpfs: 8,672 bytes of a 10,000-byte write,
 * the last line cut after 72 characters, then ENOSPC), and the first line written once there was
 * room again was glued to that piece ("…pad=xxxx2026-12-05T14:01:02.623Z INFO  event…"): one line
 * that a parser misreads, or rejects with the whole line it hides. How much of the failed write
 * landed is not known, so the next write starts with a newline (a blank line when it took nothing).
 * Callers write one at a time after a refusal (they wait for its callback), so that callback has run.
 */
export function newLineAfterFailure<T extends string | Uint8Array>(out: { write(s: T, done?: (err?: Error | null) => void): unknown }): {
  write(s: T, done?: (err?: Error | null) => void): unknown;
} {
  let cut = false;
  return {
    write(s, done) {
      const text = (cut ? (typeof s === "string" ? "\n" + s : Buffer.concat([NEWLINE, s])) : s) as T;
      cut = false;
      return out.write(text, (err) => {
        if (err) cut = true;
        done?.(err);
      });
    },
  };
}

/**
 * Log text (characters) kept while the output is backed up. Beyond it lines are dropped and
 * counted, and one `log lines dropped` line says how many once the output takes text again. Bun's
 * process.stdout keeps whatever a stalled reader (journald, a pipe's consumer, a terminal paused
 * with Ctrl-S) does not take, and a few promises per write besides: measured, a server's heap grew
 * by ~16 objects per session and its RSS by every line, and clients choose how many lines a server
 * writes (each connection, login and failure is one).
 */
export const LOG_BACKLOG_MAX = 1024 * 1024;

/**
 * Lines are built by hand and written in batches (one write per event-loop turn): consola's
 * formatting and a synchronous write per line cost a third of the CPU of a login burst. Once the
 * output has said it is backed up (write() returned false), one write at a time is in flight: what
 * comes meanwhile waits in one batch of at most `backlogMax` characters, written when the output
 * says the previous one is out.
 */
export function createLogger(format: "text" | "json", quiet = false, output: LogOutput = process.stdout, backlogMax = LOG_BACKLOG_MAX): Logger {
  const out = newLineAfterFailure(output);
  let pending = "";
  let scheduled = false;
  let second = 0;
  let stamp = "";
  /** The output once said it buffers: from then on its callbacks say when a write is out. */
  let buffering = false;
  /** A write handed to a buffering output that it has not said is out. */
  let inFlight = false;
  let dropped = 0;
  const write = () => {
    const text = pending;
    pending = "";
    const state = { done: false };
    if (buffering) inFlight = true;
    const accepted = out.write(text, () => {
      state.done = true;
      if (!buffering) return;
      inFlight = false;
      if (pending && !scheduled) {
        scheduled = true;
        setImmediate(pump);
      }
    });
    if (accepted === false && !state.done) buffering = inFlight = true;
  };
  /** The batch of this turn, unless a write is still in flight (the batch then grows until it is out). */
  const pump = () => {
    scheduled = false;
    if (pending && !inFlight) write();
  };
  /** Everything now, in flight or not (shutdown). */
  const flush = () => {
    scheduled = false;
    if (pending) write();
  };
  /** ISO time; the date part is rebuilt once per second. */
  const now = () => {
    const ms = Date.now();
    const s = Math.floor(ms / 1000);
    if (s !== second) {
      second = s;
      stamp = new Date(s * 1000).toISOString().slice(0, 19);
    }
    return `${stamp}.${String(ms % 1000).padStart(3, "0")}Z`;
  };
  /** Whether a line may join the batch (else it is dropped and counted); says how many were dropped first. */
  const admit = (): boolean => {
    if (inFlight && pending.length >= backlogMax) {
      dropped++;
      return false;
    }
    if (dropped > 0) {
      const count = dropped;
      dropped = 0;
      emit("warn", "log lines dropped", { count, reason: "standard output backed up" });
    }
    return true;
  };
  const append = (line: string) => {
    pending += line;
    if (pending.length > 64 * 1024) pump();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(pump);
    }
  };
  const emit = (level: "info" | "warn" | "error", event: string, fields?: LogFields) => {
    if (quiet || !admit()) return;
    let line: string;
    if (format === "json") {
      line = `{"time":"${now()}","level":"${level}","event":${JSON.stringify(event)}`;
      if (fields) for (const k in fields) {
        const v = fields[k];
        // A field named like the line's own keys would make a second "event" (jq keeps the last).
        if (v !== undefined) line += `,${JSON.stringify(RESERVED_KEYS.has(k) ? `${k}Field` : k)}:${JSON.stringify(v)}`;
      }
      line += "}\n";
    } else {
      // One line per event, whatever its text names: a users-file warning quoting a home with a line
      // break (stored exactly, as ini writes it) printed a second line that read as another event.
      line = `${now()} ${LEVEL_TEXT[level]} ${printableName(event)}`;
      if (fields) for (const k in fields) {
        const v = fields[k];
        if (v === undefined) continue;
        line += ` ${k}=${typeof v === "string" && (v === "" || NEEDS_QUOTES.test(v)) ? quote(v) : v}`;
      }
      line += "\n";
    }
    append(line);
  };
  return {
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warn", e, f),
    error: (e, f) => emit("error", e, f),
    flush,
    line(text) {
      if (quiet || text === "" || !admit()) return;
      append(text.endsWith("\n") ? text : `${text}\n`);
    },
  };
}

/**
 * A stream for consola's `stdout` that writes through `to.line` (a logger's, or the --workers relay's:
 * the same output and newline-after-failure as the log lines), or `fallback` without one. Written
 * beside the log, a text-mode `serve` message ("SIGTERM: stopping …") came glued to a log line a
 * full disk had cut.
 */
export function logStream(to: { line?(text: string): void }, fallback: { write(s: string): unknown; columns?: number } = process.stdout): { write(s: string): boolean; readonly columns: number } {
  return {
    write(s) {
      if (to.line) to.line(s);
      else fallback.write(s);
      return true;
    },
    get columns() {
      return fallback.columns ?? 0;
    },
  };
}

/** An output whose writes wait until release(), then pass straight through (`serve --port 0` prints its URL first). */
export function holdOutput(out: LogOutput): LogOutput & { release(): void } {
  let pending: Array<Parameters<LogOutput["write"]>> | null = [];
  return {
    write: (s, done) => (pending ? pending.push([s, done]) : out.write(s, done)),
    release() {
      if (pending) for (const [s, done] of pending) out.write(s, done);
      pending = null;
    },
  };
}

/** How often a still-failing standard output is reported again on stderr. */
const OUTPUT_FAILURE_REPORT_MS = 60_000;

/**
 * For `serve`: standard output that takes no more — the disk under a redirected log filled up
 * (ENOSPC), the reader of a pipe went away (EPIPE) — costs log lines, never the service. The
 * client commands exit on it (cli/main.ts); a server used to as well, cutting every session and
 * transfer because /var/log was full. Reported on stderr at once and then at most once a minute
 * while it lasts; writes go on being tried, so the log resumes when space is freed. A failing
 * stderr is ignored: there is nowhere left to say it.
 */
export function keepServingWhenOutputFails(
  out: NodeJS.EventEmitter = process.stdout,
  err: NodeJS.EventEmitter & { write(s: string): unknown } = process.stderr,
  now: () => number = Date.now,
): void {
  let failed = 0;
  let reportedAt = -Infinity;
  err.on("error", () => {});
  out.on("error", (e: Error & { code?: string }) => {
    failed++;
    if (now() - reportedAt < OUTPUT_FAILURE_REPORT_MS) return;
    reportedAt = now();
    const why = e.code === "EPIPE" ? "the reader closed it (broken pipe)" : JSON.stringify(e.message).slice(1, -1);
    err.write(`[warn] log lines lost: cannot write to standard output: ${why}; the server goes on (${failed} failed write${failed === 1 ? "" : "s"} so far)\n`);
  });
}
