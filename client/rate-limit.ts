// --limit-rate: one token bucket per job, drawn from by every pump of it; a receive throttle that
// pauses the data connection, and the slices a paced upload sends between two waits.
/** A token bucket: `take(n)` returns how long to wait (ms) before sending/receiving n more bytes. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private readonly burst: number;

  /** `rate` in bytes per second; 0 means unlimited. */
  constructor(readonly rate: number) {
    // A burst of 1/8 s keeps the long-run rate exact while letting 64 KiB chunks through.
    this.burst = Math.max(rate / 8, 16 * 1024);
    this.tokens = Math.min(this.burst, rate);
  }

  take(n: number): number {
    if (this.rate <= 0) return 0;
    const now = performance.now();
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

