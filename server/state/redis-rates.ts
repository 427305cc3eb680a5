// Shared --max-user-rate: the store knows which nodes serve each user; each node takes 1/n of the
// user's rate, n refreshed when its first session comes or its last goes, and at every heartbeat.
import { RATE_NODES } from "./scripts.ts";
import type { StoreContext } from "./redis-link.ts";

export class RedisRates {
  /** Sessions per user on this node. */
  private readonly sessions = new Map<string, number>();
  private readonly shares = new Map<string, number>();

  /** `enabled`: --max-user-rate is set (else no round trips for it). */
  constructor(
    private readonly store: StoreContext,
    private readonly enabled: boolean,
  ) {}

  userRateShare(user: string, active: boolean): void {
    if (!this.enabled) return;
    const n = Math.max(0, (this.sessions.get(user) ?? 0) + (active ? 1 : -1));
    if (n === 0) this.sessions.delete(user);
    else this.sessions.set(user, n);
    // The first session here and the last one change the user's node count at once; others wait for the beat.
    if ((active && n === 1) || n === 0) void this.refresh(user, n > 0).catch(() => {});
  }

  /** RATE_NODES's keys: the user's set, and this node's index of the sets it is in (NODE_GONE). */
  private keys(user: string): string[] {
    return [`${this.store.prefix}rate:${user}`, `${this.store.prefix}node-rates:${this.store.node}`];
  }

  private async refresh(user: string, active: boolean): Promise<void> {
    const reply = await this.store.eval(RATE_NODES, this.keys(user), [this.store.node, this.store.leaseTtlMs, active ? 1 : 0]);
    const nodes = Number(reply);
    if (!Number.isFinite(nodes)) return;
    if (active) this.shares.set(user, 1 / Math.max(1, nodes));
    else this.shares.delete(user);
  }

  rateShare(user: string): number {
    return this.shares.get(user) ?? 1;
  }

  /** Heartbeat: renew this node's presence for each user it serves, and learn the others'. */
  async beat(): Promise<void> {
    for (const [user, n] of this.sessions) await this.refresh(user, n > 0);
  }

  /** A clean stop: this node no longer serves anyone. */
  async leave(): Promise<void> {
    for (const user of this.sessions.keys()) await this.store.eval(RATE_NODES, this.keys(user), [this.store.node, this.store.leaseTtlMs, 0]);
  }
}
