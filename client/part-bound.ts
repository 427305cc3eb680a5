// How much of a download's part file is this client's own, kept in its journal ahead of the data:
// `written`, an offset below which every byte is ours, and `limit`, past which we never wrote. A
// part file that grew while no ftpkit held it (another program appended to it) could not be told
// from our own bytes: without a ranged digest it was continued from its end, and the file ended
// "size verified only" with the other program's bytes inside (as curl -C - and lftp reget do).
// Without a ranged digest a resume continues at `written`, never past it: bytes after it may be
// another program's even below the limit. The limit is raised in growing steps (from 64 KiB, the
// bytes done this run, at most one second's worth): a 1 GiB download writes its journal 12–14 times,
// never per chunk, and kill -9 costs at most one step (Ctrl-C and a drop record the exact end).

/** The part file's bytes [0, written) are this client's; it never wrote past `limit`. */
export interface PartBound {
  written: number;
  limit: number;
}

/** The smallest step the limit is raised by. */
const MIN_STEP = 64 << 10;
/** The largest step, in seconds of transfer at this run's rate so far: what kill -9 may cost. */
const STEP_SECONDS = 1;

export function isPartBound(x: unknown): x is PartBound {
  const b = x as Record<string, unknown> | null;
  return typeof b === "object" && b !== null && Number.isSafeInteger(b.written) && Number.isSafeInteger(b.limit) && 0 <= (b.written as number) && (b.written as number) <= (b.limit as number);
}

/** The bound a download starting at byte 0 is recorded with before its first byte. */
export function firstBound(size: number | null): PartBound {
  return { written: 0, limit: size === null ? MIN_STEP : Math.min(size, MIN_STEP) };
}

/**
 * Where a resumed part file of `partSize` bytes may continue, given the bound its journal holds:
 * `cut` says so when the part is longer than this client ever wrote (someone else's bytes).
 */
export function trustedEnd(partSize: number, recorded: PartBound | null): { offset: number; cut: string | null } {
  if (recorded === null || partSize <= recorded.limit) return { offset: partSize, cut: null };
  return {
    offset: recorded.written,
    cut: `the partial file has ${partSize} bytes, more than the ${recorded.limit} ftpkit may have written to it (another program wrote to it since): cut back to byte ${recorded.written}, the last one known to be ftpkit's`,
  };
}

/**
 * Keeps a part file's journaled bound ahead of the data. `save` writes the journal (a record, a
 * line of a tree's log); one that fails is said once and the download goes on: the journal then
 * holds an older, smaller limit, so a resume only fetches more again, never trusts less safely.
 */
export class PartGuard {
  private start = 0;
  private startTime = 0;
  /** The end of the last write: what an interrupted run records as its own. */
  private end = 0;
  private failed = false;

  constructor(
    /** The bound the journal holds now (null: none). */
    private journaled: PartBound | null,
    private readonly size: number | null,
    private readonly save: (b: PartBound) => void,
    private readonly warn: (msg: string) => void,
  ) {}

  /** The part file is (about to be) cut to `offset` and continued from there: said in the journal first. */
  at(offset: number): void {
    const j = this.journaled;
    if (j === null || offset < j.written) this.store({ written: offset, limit: Math.max(j?.limit ?? 0, this.capped(offset + MIN_STEP, offset)) }, true);
    this.start = this.end = offset;
    this.startTime = performance.now();
  }

  /** Bytes [pos, end) are about to be written: the limit is raised first when they pass it. */
  ahead(pos: number, end: number): void {
    this.end = end;
    if (this.journaled === null || end <= this.journaled.limit || this.failed) return;
    const done = end - this.start;
    const secs = (performance.now() - this.startTime) / 1000;
    const step = Math.max(MIN_STEP, Math.floor(Math.min(done, secs > 0 ? (done / secs) * STEP_SECONDS : done)));
    this.store({ written: pos, limit: this.capped(end + step, end) }, false);
  }

  /** The run stops (Ctrl-C, a drop): everything it wrote is recorded as its own, so a resume loses none of it. */
  settle(): void {
    const j = this.journaled;
    if (j === null || this.failed || this.end <= j.written || this.end > j.limit) return;
    this.store({ written: this.end, limit: j.limit }, false);
  }

  private capped(limit: number, floor: number): number {
    return this.size === null ? limit : Math.max(floor, Math.min(limit, this.size));
  }

  private store(b: PartBound, must: boolean): void {
    try {
      this.save(b);
      this.journaled = b;
    } catch (err) {
      // Lowering `written` before the part is cut must not be skipped: the journal would vouch for
      // bytes that are gone, and whatever another program puts there next.
      if (must) throw err;
      this.failed = true;
      this.warn(`cannot record the download's progress (${(err as Error).message}): a resume fetches the bytes past ${this.journaled?.written ?? 0} again`);
    }
  }
}
