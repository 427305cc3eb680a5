// Connection slots across nodes: each node keeps its own counts (total and per client address) in
// the store, restated by its heartbeat after an outage; a new connection is admitted by one script
// that sums every live node's counts against --max-connections and --max-per-ip.
import { CONN_CLOSE, CONN_COUNTS, CONN_OPEN, NODE_ALIVE, NODE_SYNC } from "./scripts.ts";
import type { StoreContext } from "./redis-link.ts";
import type { Admission, ConnectionLimits } from "./types.ts";

export class RedisSlots {
  private readonly counts = new Map<string, number>();
  private total = 0;
  /** The store may not hold our counts as they are (an outage, a failed release): restate them. */
  private dirty = false;

  constructor(private readonly store: StoreContext) {}

  /** The store may have lost our counts (it was unreachable). */
  markDirty(): void {
    this.dirty = true;
  }

  /** Restate this node's connection counts (after an outage the store may have dropped them). */
  async sync(): Promise<void> {
    const fields: string[] = ["total", String(this.total)];
    for (const [ip, n] of this.counts) fields.push(`ip:${ip}`, String(n));
    const { prefix, node, leaseTtlMs } = this.store;
    await this.store.eval(NODE_SYNC, [`${prefix}nodes`, `${prefix}conns:${node}`], [node, leaseTtlMs, ...fields]);
    this.dirty = false;
  }

  /** Heartbeat: this node is alive. Restating the counts races connections being admitted meanwhile: only after an outage. */
  async beat(): Promise<void> {
    if (this.dirty) await this.sync();
    else await this.store.eval(NODE_ALIVE, [`${this.store.prefix}nodes`], [this.store.node, this.store.leaseTtlMs]);
  }

  async open(ip: string, limits: ConnectionLimits): Promise<Admission> {
    const { prefix, node, leaseTtlMs } = this.store;
    try {
      if (this.dirty) await this.sync();
      const r = Number(await this.store.eval(CONN_OPEN, [`${prefix}nodes`], [node, ip, limits.maxConnections, limits.maxPerIp, leaseTtlMs, prefix]));
      if (r === 1) return "server-full";
      if (r === 2) return "ip-full";
      this.total++;
      this.counts.set(ip, (this.counts.get(ip) ?? 0) + 1);
      return "ok";
    } catch {
      return "unavailable";
    }
  }

  /** Connections of each of `ips` over every live node (one round trip): SharedState.connectionCounts. */
  async clusterCounts(ips: readonly string[]): Promise<Map<string, number>> {
    const { prefix } = this.store;
    const r = await this.store.eval(CONN_COUNTS, [`${prefix}nodes`], [prefix, ...ips]);
    const n = Array.isArray(r) ? r : [];
    return new Map(ips.map((ip, i) => [ip, Number(n[i] ?? 0)]));
  }

  close(ip: string): Promise<void> {
    this.total = Math.max(0, this.total - 1);
    const n = (this.counts.get(ip) ?? 1) - 1;
    if (n <= 0) this.counts.delete(ip);
    else this.counts.set(ip, n);
    const key = `${this.store.prefix}conns:${this.store.node}`;
    return this.store.eval(CONN_CLOSE, [key], [`ip:${ip}`]).then(
      () => {},
      () => void (this.dirty = true),
    );
  }

  /** This node leaves the cluster (a clean stop): its counts go at once, not at the TTL. */
  async leave(): Promise<void> {
    await this.store.send("ZREM", [`${this.store.prefix}nodes`, this.store.node]);
    await this.store.send("DEL", [`${this.store.prefix}conns:${this.store.node}`]);
  }
}
