/**
 * A token bucket in bytes per second. `delayFor(n)` books n bytes and says how long to wait so the
 * average stays at the rate; one bucket can be shared by all sessions of a user (--max-user-rate).
 * It starts empty and the pump books a chunk before it sends it, so no window from the start holds
 * more than the rate allows: begun with a quarter second of allowance, and each chunk paid for after
 * it went out, a 1 MB/s download sent 1.31 MB in its first second and 3.41 MB in three. What time
 * leaves unspent is kept up to a quarter second's worth (a late timer is made up for).
 */
export class RateLimiter {
  private allowance = 0;
  private last: number;

  /** `share`: the part of the rate this process may use (shared --max-user-rate across nodes). `clock`: ms, for tests. */
  constructor(
    private readonly rate: number,
    private readonly share?: () => number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.last = clock();
  }

  get bytesPerSecond(): number {
    return this.share ? this.rate * this.share() : this.rate;
  }

  delayFor(bytes: number): number {
    const now = this.clock();
    this.allowance = Math.min(this.bytesPerSecond / 4, this.allowance + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.allowance -= bytes;
    return this.allowance >= 0 ? 0 : (-this.allowance / this.bytesPerSecond) * 1000;
  }
}

/** The largest delay any of the limiters asks for (session and user buckets both apply). */
export function delayFor(limiters: readonly RateLimiter[], bytes: number): number {
  let ms = 0;
  for (const l of limiters) ms = Math.max(ms, l.delayFor(bytes));
  return ms;
}
