// Transfer progress on stderr: on a TTY one bar redrawn in place (≈10/s); otherwise one summary
// line at the end; with --quiet nothing.
import { formatSize } from "../protocol/size.ts";

export type ProgressMode = "tty" | "plain" | "quiet";

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function progressMode(quiet: boolean, stream: ProgressStream = process.stderr): ProgressMode {
  if (quiet) return "quiet";
  return stream.isTTY ? "tty" : "plain";
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

/** One transfer's progress. `done` counts the whole file (including a resumed prefix). */
export class Progress {
  private done = 0;
  private startDone = 0;
  private started = performance.now();
  private lastDraw = 0;
  private drawn = false;
  /** Bytes actually moved over the network in this run (not the resumed prefix). */
  moved = 0;

  constructor(
    readonly label: string,
    readonly mode: ProgressMode,
    private total: number | null,
    private readonly stream: ProgressStream = process.stderr,
    private readonly intervalMs = 100,
  ) {}

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

  private draw(force: boolean): void {
    if (this.mode !== "tty") return;
    const now = performance.now();
    if (!force && now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? this.moved / elapsed : 0;
    const total = this.total;
    const pct = total ? Math.min(100, (this.done / total) * 100) : total === 0 ? 100 : null;
    const eta = total && rate > 0 ? (total - this.done) / rate : NaN;
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - 60));
    const filled = pct === null ? 0 : Math.round((pct / 100) * width);
    const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
    const pctText = pct === null ? "  ?%" : `${pct.toFixed(0).padStart(3)}%`;
    const sizeText = total !== null ? `${formatSize(this.done)}/${formatSize(total)}` : formatSize(this.done);
    const name = this.label.length > 24 ? `…${this.label.slice(-23)}` : this.label;
    const line = `${name} ${bar} ${pctText} ${sizeText} ${formatRate(rate)} ETA ${formatDuration(eta)}`;
    this.stream.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }

  /** Clear the bar (before printing a message on a TTY). */
  clear(): void {
    if (this.mode === "tty" && this.drawn) {
      this.stream.write("\r\x1b[K");
      this.drawn = false;
    }
  }

  /** Final line: "name: 10.0 MiB in 1.2 s (8.3 MiB/s), sha256 e3b0…". */
  finish(extra: string): void {
    if (this.mode === "quiet") return;
    if (this.mode === "tty") {
      this.draw(true);
      this.stream.write("\n");
      this.drawn = false;
    }
    const elapsed = (performance.now() - this.started) / 1000;
    const rate = elapsed > 0 ? this.moved / elapsed : 0;
    const moved = this.moved === this.done ? "" : ` (${this.moved} moved in this run)`;
    this.stream.write(
      `${this.label}: ${this.done} bytes${moved} in ${elapsed.toFixed(1)} s (${formatRate(rate)})${extra ? `, ${extra}` : ""}\n`,
    );
  }
}

/**
 * One display for a whole tree job: files done/total, bytes, rate, ETA, redrawn in place on a TTY;
 * one summary line otherwise; nothing with --quiet.
 */
export class TreeProgress {
  filesDone = 0;
  bytesDone = 0;
  /** Bytes moved over the network by this run. */
  moved = 0;
  private started = performance.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(
    readonly label: string,
    readonly mode: ProgressMode,
    public filesTotal: number,
    public bytesTotal: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly intervalMs = 100,
  ) {}

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

  private draw(force: boolean): void {
    if (this.mode !== "tty") return;
    const now = performance.now();
    if (!force && now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? this.moved / elapsed : 0;
    const left = Math.max(0, this.bytesTotal - this.bytesDone);
    const eta = rate > 0 ? left / rate : NaN;
    const line = `${this.label}: ${this.filesDone}/${this.filesTotal} files, ${formatSize(this.bytesDone)}/${formatSize(this.bytesTotal)} ${formatRate(rate)} ETA ${formatDuration(eta)}`;
    this.stream.write(`\r${line.slice(0, Math.max(20, (this.stream.columns || 100) - 1))}\x1b[K`);
    this.drawn = true;
  }

  clear(): void {
    if (this.mode === "tty" && this.drawn) {
      this.stream.write("\r\x1b[K");
      this.drawn = false;
    }
  }

  /** The summary line: "get -r dir: 1000 files, 97.7 MiB in 3.2 s (30.5 MiB/s); 1000 verified, 0 failed". */
  finish(extra: string): void {
    if (this.mode === "quiet") return;
    if (this.mode === "tty") {
      this.draw(true);
      this.stream.write("\n");
      this.drawn = false;
    }
    const elapsed = (performance.now() - this.started) / 1000;
    const rate = elapsed > 0 ? this.moved / elapsed : 0;
    this.stream.write(`${this.label}: ${this.filesDone} files, ${formatSize(this.moved)} moved in ${elapsed.toFixed(1)} s (${formatRate(rate)})${extra ? `; ${extra}` : ""}\n`);
  }
}
