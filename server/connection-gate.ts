// Admission of control connections (plain and implicit TLS), counted from accept: --max-connections
// and --max-per-ip (IPv6 by /64). When every slot is taken, a newcomer may evict a connection that
// has not logged in from an address holding more of them than its own: a crowd that never logs in
// (slowloris, silent TLS sockets) churns itself instead of locking out other addresses, and
// logged-in sessions are never evicted.
import { addressKey } from "../protocol/address.ts";
import type { Logger } from "./log.ts";
import { SilentConnectionLog } from "./silent-log.ts";

/** One admitted connection. `release` is idempotent; `evict` is how the gate closes it for a newcomer. */
export interface Ticket {
  readonly key: string;
  readonly since: number;
  authenticated: boolean;
  /** Set by the owner: close this connection (it is then released by its close handler); resolves once a shared slot it held is given back. */
  evict: () => void | Promise<void>;
  /** Mark as logged in: it no longer counts against the share of unauthenticated connections. */
  login(): void;
  release(): void;
}

/** The ticket of each session (released when the session ends; PASS marks it logged in). */
export const tickets = new WeakMap<object, Ticket>();

export interface GateLimits {
  maxConnections: number;
  maxPerIp: number;
}

export class ConnectionGate {
  /** Every admitted connection not yet released. */
  private readonly live = new Set<Ticket>();
  private readonly perKey = new Map<string, number>();
  /** Connections not logged in, oldest first (Set keeps insertion order). */
  private readonly pending = new Set<Ticket>();

  /** Refused connections, logged without flooding (RefusalLog). */
  readonly refusals: RefusalLog;
  /** Connections that closed without a byte (health checks), counted instead of logged each. */
  readonly silent: SilentConnectionLog;

  constructor(
    private readonly limits: GateLimits,
    log: Logger,
  ) {
    this.refusals = new RefusalLog(log);
    this.silent = new SilentConnectionLog(log);
  }

  /** Sessions the open-file limit leaves room for (server/fd-budget.ts), when below --max-connections. */
  private descriptorCap = Infinity;

  get count(): number {
    return this.live.size;
  }

  /** The most connections admitted at once: --max-connections, or fewer when descriptors are short. */
  get maxConnections(): number {
    return Math.min(this.limits.maxConnections, this.descriptorCap);
  }

  capByDescriptors(sessions: number): void {
    this.descriptorCap = sessions;
  }

  get unauthenticated(): number {
    return this.pending.size;
  }

  /**
   * Admit a new connection from `ip`, or say why not. When every slot is taken, the oldest
   * connection not logged in of the address holding the most such connections is evicted — if
   * that address holds more of them than the newcomer's would with the newcomer (never for a
   * balancer's health check: `evict` false).
   */
  admit(ip: string, evict = true): Ticket | { refused: string } {
    const key = addressKey(ip);
    if ((this.perKey.get(key) ?? 0) >= this.limits.maxPerIp) return { refused: "Too many connections from your address" };
    if (this.live.size >= this.maxConnections) {
      const victim = evict && this.pending.size > 0 ? this.evictionCandidate(key) : null;
      if (!victim) return { refused: "Too many connections, try again later" };
      this.forget(victim);
      victim.evict();
    }
    const gate = this;
    const ticket: Ticket = {
      key,
      since: performance.now(),
      authenticated: false,
      evict: () => {},
      login() {
        if (!gate.live.has(ticket)) return;
        ticket.authenticated = true;
        gate.pending.delete(ticket);
      },
      release: () => gate.forget(ticket),
    };
    this.live.add(ticket);
    this.perKey.set(key, (this.perKey.get(key) ?? 0) + 1);
    this.pending.add(ticket);
    return ticket;
  }

  /**
   * Shared caps (--workers, --state): the store says every slot of the cluster is taken, though this
   * process is not full. Evict for `ticket` (admitted here, not yet given a shared slot) as admit()
   * does when this process alone is full, weighing addresses by `cluster` (connections per address
   * over every node, SharedState.connectionCounts) when given. Null if no connection is to go; else
   * resolves once the evicted connection's shared slot is given back.
   */
  evictFor(ticket: Ticket, cluster?: ReadonlyMap<string, number>): Promise<void> | null {
    if (!this.live.has(ticket) || this.pending.size < 2) return null;
    const victim = cluster ? this.clusterCandidate(ticket, cluster) : this.evictionCandidate(ticket.key, ticket);
    if (!victim) return null;
    this.forget(victim);
    return Promise.resolve(victim.evict());
  }

  /**
   * The addresses evictFor would weigh for `ticket`: its own first, then the EVICTION_KEYS_MAX holding
   * the most connections not logged in here (a crowd is heavy on every node it is spread over); null
   * when nothing here could go. Bounded: each refused newcomer of a flood asks the store about them.
   */
  evictionKeys(ticket: Ticket): string[] | null {
    if (!this.live.has(ticket) || this.pending.size < 2) return null;
    const here = this.pendingByKey(ticket);
    here.delete(ticket.key);
    const heaviest = [...here].sort((a, b) => b[1] - a[1]).slice(0, EVICTION_KEYS_MAX).map(([key]) => key);
    return [ticket.key, ...heaviest];
  }

  /**
   * evictionCandidate with cluster-wide counts: spread over N nodes, no node alone sees an address
   * holding more than the newcomer's count plus one, so a crowd on several nodes was never evicted.
   * The counts are of connections (the store counts no logins: that would cost a round trip per
   * login), but only a connection not logged in is evicted, and only one of this node's: if this
   * node holds none of such an address, nothing goes here — the nodes holding them evict for their
   * own newcomers. An address the counts lack (come in during the round trip) weighs what it holds here.
   */
  private clusterCandidate(self: Ticket, cluster: ReadonlyMap<string, number>): Ticket | null {
    const here = this.pendingByKey(self);
    const weight = (key: string) => cluster.get(key) ?? here.get(key) ?? 0;
    let victim: Ticket | null = null;
    let most = weight(self.key) + 1;
    // Oldest first: on a tie, the address whose connection has waited longest goes.
    for (const t of this.pending) {
      if (t === self || t.key === self.key) continue;
      const w = weight(t.key);
      if (w > most) {
        most = w;
        victim = t;
      }
    }
    return victim;
  }

  /** Connections not logged in per address, `except` left out (the newcomer asking). */
  private pendingByKey(except?: Ticket): Map<string, number> {
    const counts = new Map<string, number>();
    for (const t of this.pending) if (t !== except) counts.set(t.key, (counts.get(t.key) ?? 0) + 1);
    return counts;
  }

  /** The oldest connection not logged in of the address holding the most, if it holds more than `newcomer` would. */
  private evictionCandidate(newcomer: string, self?: Ticket): Ticket | null {
    const counts = new Map<string, number>();
    let heaviest = "";
    let most = 0;
    for (const t of this.pending) {
      if (t === self) continue;
      const n = (counts.get(t.key) ?? 0) + 1;
      counts.set(t.key, n);
      if (n > most) {
        most = n;
        heaviest = t.key;
      }
    }
    if (most <= (counts.get(newcomer) ?? 0) + 1) return null;
    for (const t of this.pending) if (t.key === heaviest && t !== self) return t;
    return null;
  }

  /** Take a ticket out of every count (once: eviction and the later close both end here). */
  private forget(ticket: Ticket): void {
    if (!this.live.delete(ticket)) return;
    this.pending.delete(ticket);
    const n = (this.perKey.get(ticket.key) ?? 1) - 1;
    if (n <= 0) this.perKey.delete(ticket.key);
    else this.perKey.set(ticket.key, n);
  }
}

/**
 * Refused connections are logged, but not one WARN line each on an attacker's demand: the first few
 * of every window are written, the rest summed up in one line when the window ends.
 */
export class RefusalLog {
  private windowStart = 0;
  private written = 0;
  private suppressed = 0;
  private readonly addresses = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly log: Logger,
    private readonly perWindow = 5,
    private readonly windowMs = 10_000,
  ) {}

  refused(ip: string, reason: string): void {
    const now = performance.now();
    if (now - this.windowStart >= this.windowMs) this.summarise(now);
    if (this.written < this.perWindow) {
      this.written++;
      this.log.warn("connection refused", { ip, reason });
      return;
    }
    this.suppressed++;
    if (this.addresses.size < 1000) this.addresses.add(addressKey(ip));
    if (!this.timer) {
      this.timer = setTimeout(() => this.summarise(performance.now()), Math.max(0, this.windowStart + this.windowMs - now));
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  private summarise(now: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.suppressed > 0) {
      this.log.warn("connections refused (summary)", {
        count: this.suppressed,
        addresses: this.addresses.size,
        seconds: Math.round((now - this.windowStart) / 1000),
      });
    }
    this.windowStart = now;
    this.written = 0;
    this.suppressed = 0;
    this.addresses.clear();
  }

  close(): void {
    this.summarise(performance.now());
  }
}

/** Addresses besides the newcomer's whose cluster-wide counts a full node asks for (evictionKeys). */
const EVICTION_KEYS_MAX = 16;
