// Transfer progress on stderr: on a TTY one bar redrawn in place (≈10/s); otherwise one summary
// line at the end; with --quiet nothing.
import { formatSize } from "../protocol/size.ts";
import { printableName } from "../protocol/printable.ts";
import { stderrStream } from "./report.ts";

export type ProgressMode = "tty" | "plain" | "quiet";

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * A job's display from its options. Quiet never touches process.stderr: creating it loads Bun's
 * stream modules (~20 ms of start-up). Traced (--verbose), or a terminal that says it is dumb: no
 * bar redrawn in place, which would write over the conversation's lines.
 */
export function progressMode(opts: { quiet: boolean; trace?: unknown }, stream?: ProgressStream): ProgressMode {
  if (opts.quiet) return "quiet";
  // TERM=dumb (Emacs' shell, some CI consoles) cannot erase a line: its redraws piled up as text.
  return opts.trace === undefined && (stream ?? stderrStream()).isTTY && process.env.TERM !== "dumb" ? "tty" : "plain";
}

function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "--:--";
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${String(m).padStart(2, "0")}:${ss}`;
}

export function formatRate(bytesPerSec: number): string {
  return `${formatSize(Math.max(0, Math.round(bytesPerSec)))}/s`;
}

/**
 * What both displays share: a line redrawn in place on a TTY at most every `intervalMs`, cleared
 * before a message, and one summary line at the end (on a TTY after the last redraw); nothing quiet.
 */
abstract class Display {
  protected started = performance.now();
  private lastDraw = 0;
  private drawn = false;

  /** The name shown, made printable (a remote name may hold control characters). */
  readonly label: string;

  constructor(
    label: string,
    readonly mode: ProgressMode,
    private readonly given: ProgressStream | undefined,
    private readonly intervalMs: number,
  ) {
    this.label = printableName(label);
  }

  /** stderr unless a stream was given; looked up only when something is written (never when quiet). */
  protected get stream(): ProgressStream {
    return this.given ?? stderrStream();
  }

  /** The live line, given the seconds since the start. */
  protected abstract line(elapsed: number): string;
  /** The summary line (without its newline). */
  protected abstract summary(elapsed: number, extra: string): string;

  protected draw(force: boolean): void {
    if (this.mode !== "tty") return;
    const now = performance.now();
    if (!force && now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    this.stream.write(`\r${this.line((now - this.started) / 1000)}\x1b[K`);
    this.drawn = true;
  }

  /** Clear the line (before printing a message on a TTY). */
  clear(): void {
    if (this.mode === "tty" && this.drawn) {
      this.stream.write("\r\x1b[K");
      this.drawn = false;
    }
  }

  /** The summary line; on a TTY the live line is drawn once more and kept above it. */
  finish(extra: string): void {
    if (this.mode === "quiet") return;
    if (this.mode === "tty") {
      this.draw(true);
      this.stream.write("\n");
      this.drawn = false;
    }
    this.stream.write(`${this.summary((performance.now() - this.started) / 1000, extra)}\n`);
  }
}

/** One transfer's progress. `done` counts the whole file (including a resumed prefix). */
export class Progress extends Display {
  private done = 0;
  private startDone = 0;
  /** Bytes actually moved over the network in this run (not the resumed prefix). */
  moved = 0;

  constructor(
    label: string,
    mode: ProgressMode,
    private total: number | null,
    stream?: ProgressStream,
    intervalMs = 100,
  ) {
    super(label, mode, stream, intervalMs);
  }

  /** Start (or restart after a reconnect) at `done` bytes of the file. */
  start(done: number, total?: number | null): void {
    if (total !== undefined) this.total = total;
    this.done = done;
    this.startDone = done;
    if (this.moved === 0) this.started = performance.now();
    this.draw(true);
  }

  /** `movedNow` bytes moved since start() in this attempt. */
  update(movedNow: number): void {
    const prev = this.done;
    this.done = this.startDone + movedNow;
    this.moved += this.done - prev;
    this.draw(false);
  }

  protected line(elapsed: number): string {
    const rate = elapsed > 0 ? this.moved / elapsed : 0;
    const total = this.total;
    const pct = total ? Math.min(100, (this.done / total) * 100) : total === 0 ? 100 : null;
    const eta = total && rate > 0 ? (total - this.done) / rate : NaN;
    const pctText = pct === null ? "  ?%" : `${pct.toFixed(0).padStart(3)}%`;
    const sizeText = total !== null ? `${formatSize(this.done)}/${formatSize(total)}` : formatSize(this.done);
    const figures = `${pctText} ${sizeText} ${formatRate(rate)} ETA ${formatDuration(eta)}`;
    // Within the terminal's width: a longer line wraps, and "\r" then redraws only its last row, so
    // the display piled up lines. The name and the bar share what the figures leave.
    const cols = Math.max(20, (this.stream.columns || 80) - 1);
    const nameMax = Math.max(8, Math.min(24, cols - figures.length - 14));
    const name = this.label.length > nameMax ? `…${this.label.slice(-(nameMax - 1))}` : this.label;
    const width = Math.min(30, cols - figures.length - name.length - 4);
    const filled = pct === null ? 0 : Math.round((pct / 100) * width);
    const bar = width >= 5 ? ` [${"#".repeat(filled)}${"-".repeat(width - filled)}]` : "";
    return `${name}${bar} ${figures}`.slice(0, cols);
  }

  /** "name: 10485760 bytes in 1.2 s (8.3 MiB/s), sha256 e3b0…". */
  protected summary(elapsed: number, extra: string): string {
    const rate = elapsed > 0 ? this.moved / elapsed : 0;
    const moved = this.moved === this.done ? "" : ` (${this.moved} moved in this run)`;
    return `${this.label}: ${this.done} byte${this.done === 1 ? "" : "s"}${moved} in ${elapsed.toFixed(1)} s (${formatRate(rate)})${extra ? `, ${extra}` : ""}`;
  }
}

/**
 * One display for a whole tree job: files done/total, bytes, rate, ETA, redrawn in place on a TTY;
 * one summary line otherwise; nothing with --quiet.
 */
export class TreeProgress extends Display {
  filesDone = 0;
  bytesDone = 0;
  /** Bytes moved over the network by this run. */
  moved = 0;

  constructor(
    label: string,
    mode: ProgressMode,
    public filesTotal: number,
    public bytesTotal: number,
    stream?: ProgressStream,
    intervalMs = 100,
  ) {
    super(label, mode, stream, intervalMs);
  }

  /** A per-file view feeding this display (what the shared file transfer reports into). */
  file(): { start(done: number, total?: number | null): void; update(movedNow: number): void; clear(): void; readonly moved: number } {
    const tree = this;
    let base = 0;
    let counted = 0;
    let moved = 0;
    return {
      start(done) {
        // A resumed prefix counts as done, not as moved.
        tree.bytesDone += done - counted;
        counted = done;
        base = done;
        tree.draw(false);
      },
      update(movedNow) {
        const now = base + movedNow;
        const delta = now - counted;
        counted = now;
        moved += delta;
        tree.bytesDone += delta;
        tree.moved += delta;
        tree.draw(false);
      },
      clear() {
        tree.clear();
      },
      get moved() {
        return moved;
      },
    };
  }

  fileFinished(): void {
    this.filesDone++;
    this.draw(false);
  }

  protected line(elapsed: number): string {
    const rate = elapsed > 0 ? this.moved / elapsed : 0;
    const left = Math.max(0, this.bytesTotal - this.bytesDone);
    const eta = rate > 0 ? left / rate : NaN;
    const line = `${this.label}: ${this.filesDone}/${this.filesTotal} files, ${formatSize(this.bytesDone)}/${formatSize(this.bytesTotal)} ${formatRate(rate)} ETA ${formatDuration(eta)}`;
    return line.slice(0, Math.max(20, (this.stream.columns || 100) - 1));
  }

  /** "get -r dir: 1000 files, 97.7 MiB moved in 3.2 s (30.5 MiB/s); 1000 copied (…)". */
  protected summary(elapsed: number, extra: string): string {
    const rate = elapsed > 0 ? this.moved / elapsed : 0;
    return `${this.label}: ${this.filesDone} file${this.filesDone === 1 ? "" : "s"}, ${formatSize(this.moved)} moved in ${elapsed.toFixed(1)} s (${formatRate(rate)})${extra ? `; ${extra}` : ""}`;
  }
}
