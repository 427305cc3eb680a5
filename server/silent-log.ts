// Connections that close without sending a byte (a load balancer's health check: connect, read the
// 220, close; one per node per second behind HAProxy) are counted, not logged one by one: each wrote
// a "session start" and a "session end" INFO line, 7,200 lines an hour per node, burying the real
// sessions. A session is logged from its first byte (or from a line that names it first: a login
// timeout, an eviction), so failed logins, bans and every real session keep their lines; the silent
// ones are summed up in one line at most once per interval (the first at once, so they are seen).
import { addressKey } from "../protocol/address.ts";
import type { Logger } from "./log.ts";

/** At most one summary line this often. */
export const SILENT_SUMMARY_MS = 60_000;

/** Addresses kept per summary: a flood from many addresses costs no more than this. */
const MAX_ADDRESSES = 1000;

export class SilentConnectionLog {
  private count = 0;
  private readonly addresses = new Set<string>();
  private loggedAt = -Infinity;
  /** When the first connection of the current count closed. */
  private since = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = SILENT_SUMMARY_MS,
  ) {}

  /** A connection from `ip` closed without sending anything. */
  closed(ip: string): void {
    if (this.count++ === 0) this.since = performance.now();
    if (this.addresses.size < MAX_ADDRESSES) this.addresses.add(addressKey(ip));
    const wait = this.loggedAt + this.intervalMs - performance.now();
    if (wait <= 0) return this.summarise();
    if (this.timer) return;
    this.timer = setTimeout(() => this.summarise(), wait);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private summarise(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.count === 0) return;
    const now = performance.now();
    const only = this.addresses.size === 1 ? [...this.addresses][0] : undefined;
    this.log.info("connections closed without a command", {
      count: this.count,
      addresses: this.addresses.size,
      ...(only !== undefined ? { address: only } : {}),
      seconds: Math.round((now - this.since) / 1000),
    });
    this.count = 0;
    this.addresses.clear();
    this.loggedAt = now;
  }

  /** Shutdown: what is counted is written now. */
  close(): void {
    this.summarise();
  }
}
