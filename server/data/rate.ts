/**
 * A token bucket in bytes per second. `delayFor(n)` books n bytes and says how long to wait so the
 * average stays at the rate; one bucket can be shared by all sessions of a user (--max-user-rate).
 */
export class RateLimiter {
  private allowance: number;
  private last = performance.now();

  /** `share`: the part of the rate this process may use (shared --max-user-rate across nodes). */
  constructor(
    private readonly rate: number,
    private readonly share?: () => number,
  ) {
    this.allowance = rate / 4; // a small burst, so short transfers are not delayed
  }

  get bytesPerSecond(): number {
    return this.share ? this.rate * this.share() : this.rate;
  }

  delayFor(bytes: number): number {
    const now = performance.now();
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
