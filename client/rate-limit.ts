// --limit-rate: one token bucket per job, drawn from by every pump of it; a receive throttle that
// pauses the data connection, and the slices a paced upload sends between two waits.
/** The burst a TokenBucket allows: 1/BURST_PER_SECOND of a second at its rate. */
export const BURST_PER_SECOND = 10;

/**
 * A token bucket: `take(n)` returns how long to wait (ms) before sending/receiving n more bytes (a
 * receiver, which counts bytes once they are in, waits out what they overdrew).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly burst: number;

  /** `rate` in bytes per second; 0 means unlimited. `now` (ms) is the clock, a test's own if given. */
  constructor(
    readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    // At most 1/10 s of the rate ahead of the schedule, and that much at the start. The bucket held
    // max(1/8 s, 16 KiB) and began with that (a second's worth at most): below 128 KiB/s the first
    // second moved up to twice the rate (8K: 16 KiB and a chunk), and an idle moment saved up to 16 s
    // of it at 1K. A chunk larger than the burst is not held up by it: it overdraws, and the debt is
    // waited out.
    this.burst = rate / BURST_PER_SECOND;
    this.tokens = this.burst;
    this.last = now();
  }

  take(n: number): number {
    if (this.rate <= 0) return 0;
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate;
  }
}

/** The limiter a transfer draws from: the job's own (TransferOptions.limiter), else one for this transfer. */
export function jobLimiter(opts: { rate: number; limiter?: TokenBucket }): TokenBucket | undefined {
  return opts.limiter ?? (opts.rate > 0 ? new TokenBucket(opts.rate) : undefined);
}

/** The options with one limiter for the whole job, when --limit-rate was given. */
export function withJobLimiter<T extends { rate: number; limiter?: TokenBucket }>(opts: T): T {
  return opts.rate > 0 && !opts.limiter ? { ...opts, limiter: new TokenBucket(opts.rate) } : opts;
}

/**
 * Pauses `conn` for as long as `limiter` asks after each `n` bytes received (one pause at a time).
 * A pause is ours, not a stalled server: `lastActive` counts it as activity (at 1K/s one 64 KiB
 * chunk is a minute's worth of bytes, and the stall timeout ended every such download).
 */
export class Throttle {
  private paused = false;
  private resumedAt = 0;
  constructor(
    private readonly limiter: TokenBucket | undefined,
    private readonly conn: { pause(): void; resume(): void; readonly lastActivity: number },
  ) {}

  after(n: number): void {
    const wait = this.limiter?.take(n) ?? 0;
    if (wait <= 0 || this.paused) return;
    this.paused = true;
    this.conn.pause();
    setTimeout(() => {
      this.paused = false;
      this.resumedAt = performance.now();
      this.conn.resume();
    }, wait);
  }

  /** When the connection last moved a byte or we last let it wait (now, while paused). */
  lastActive(): number {
    return this.paused ? performance.now() : Math.max(this.conn.lastActivity, this.resumedAt);
  }
}

/**
 * Wait out what the last bytes overdrew: pausing a socket stops reading, not the kernel buffers
 * filling behind it (megabytes on a fast link), so without this a download ended early by that much.
 */
export async function payDebt(limiter: TokenBucket | undefined): Promise<void> {
  const wait = limiter?.take(0) ?? 0;
  if (wait > 0) await Bun.sleep(wait);
}

/** What a rate-limited upload sends between two waits. */
const PACED_SLICE = 64 * 1024;

/**
 * Under --limit-rate an upload goes out in slices of at most 64 KiB and about 1/8 s of the rate: one
 * wait per 1 MiB read sent the file in bursts (at 100K, nothing for 10 s, then a MiB at once), and at
 * 500 bytes/s a 64 KiB slice was two minutes of silence a server may take for a dead client.
 */
export function pacedSlice(rate: number): number {
  return Math.max(1024, Math.min(PACED_SLICE, Math.floor(rate / 8)));
}

