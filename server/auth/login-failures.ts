// Failed logins by address (part of the authenticator): every failure takes the same time in total,
// plus a penalty that grows with the address's recent failures (on every node when state is shared),
// and the table of addresses stays bounded.
import { addressKey } from "../../protocol/address.ts";

const MAX_TRACKED_IPS = 10_000;

export interface LoginFailureOptions {
  /** Every failed login takes at least this long in total. */
  failDelayMs: number;
  /** Extra delay per recent failure from the same address… */
  penaltyMs: number;
  /** …capped at this… */
  penaltyMaxMs: number;
  /** …and forgotten after this long without a failure. */
  windowMs: number;
  /** Shared state: count a failure across nodes; resolves to the earlier failures in the window. */
  countFailure?: (ip: string, windowMs: number) => Promise<number>;
}

export class LoginFailures {
  /** Per address: this process's failures, and everyone's as the shared store last said. */
  private readonly failures = new Map<string, { count: number; last: number; everywhere: number }>();
  /** When the failures were last swept of addresses whose window has passed (at most once a window, at a login). */
  private swept = 0;

  constructor(private readonly opts: LoginFailureOptions) {}

  /** Failed logins from `remoteIp` (its /64 for IPv6) within the window, as last counted everywhere. */
  everywhere(remoteIp: string): number {
    const e = this.failures.get(addressKey(remoteIp));
    return e && performance.now() - e.last <= this.opts.windowMs ? e.everywhere : 0;
  }

  /** Wait so every failure takes failDelayMs in total, plus a growing per-IP penalty. */
  async fail(remoteIp: string, started: number): Promise<void> {
    const { windowMs } = this.opts;
    // IPv6 by /64: each address of one subscriber's /64 is not a fresh budget.
    const ip = addressKey(remoteIp);
    const now = performance.now(); // a duration's clock: a wall-clock step neither ends nor stretches the window
    let entry = this.failures.get(ip);
    if (entry && now - entry.last > windowMs) entry = undefined;
    let count = entry?.count ?? 0;
    if (!entry && this.failures.size >= MAX_TRACKED_IPS) this.prune(now);
    const mine = { count: count + 1, last: now, everywhere: count + 1 };
    // Map order is staleness order: the address moves to the end.
    this.failures.delete(ip);
    this.failures.set(ip, mine);
    // Every node's failures count; if the store is away, this node's own count still applies.
    if (this.opts.countFailure) count = Math.max(count, await this.opts.countFailure(ip, windowMs).catch(() => count));
    mine.everywhere = count + 1; // count is now the larger of ours and the store's
    const penalty = Math.min(count * this.opts.penaltyMs, this.opts.penaltyMaxMs);
    const wait = this.opts.failDelayMs + penalty - (performance.now() - started);
    if (wait > 0) await Bun.sleep(wait);
  }

  /**
   * Drop the addresses whose window has passed, at most once a window: only a full table was ever
   * pruned, so a spray of 2,500 addresses that each failed once stayed in memory for ever (measured
   * by the soak audit). Map order is staleness order, so the sweep stops at the first recent entry.
   */
  sweep(now: number): void {
    if (now - this.swept < this.opts.windowMs || this.failures.size === 0) return;
    this.swept = now;
    for (const [ip, e] of this.failures) {
      if (now - e.last <= this.opts.windowMs) break;
      this.failures.delete(ip);
    }
  }

  /** Addresses whose failures are remembered now. */
  get size(): number {
    return this.failures.size;
  }

  clear(): void {
    this.failures.clear();
  }

  private prune(now: number): void {
    for (const [ip, e] of this.failures) if (now - e.last > this.opts.windowMs) this.failures.delete(ip);
    // Still full (a spray from many addresses): forget the oldest rather than grow without bound.
    while (this.failures.size >= MAX_TRACKED_IPS) this.failures.delete(this.failures.keys().next().value!);
  }
}
