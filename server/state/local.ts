import { QuotaLedger, type Ledger } from "../vfs/quota.ts";
import type { Admission, ConnectionLimits, SharedState } from "./types.ts";

/** One process: today's behaviour, everything in memory and synchronous. */
export class LocalState implements SharedState {
  readonly kind = "local";
  private total = 0;
  private perIp = new Map<string, number>();

  async start(): Promise<void> {}
  async close(): Promise<void> {}

  openConnection(ip: string, limits: ConnectionLimits): Admission {
    if (this.total >= limits.maxConnections) return "server-full";
    const n = this.perIp.get(ip) ?? 0;
    if (n >= limits.maxPerIp) return "ip-full";
    this.perIp.set(ip, n + 1);
    this.total++;
    return "ok";
  }

  closeConnection(ip: string): void {
    this.total = Math.max(0, this.total - 1);
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  createLedger(_key: string, limit: number, measure: () => Promise<number>): Ledger {
    return new QuotaLedger(limit, 0, measure);
  }

  userRateShare(): void {}

  rateShare(): number {
    return 1;
  }
}
