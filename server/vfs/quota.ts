/**
 * A byte budget shared by every session that writes into the same space (one user's home, or one
 * mount with its own size limit). `admit` checks and books in one synchronous step, so parallel
 * uploads in different sessions can never overshoot the limit together.
 */
export class QuotaLedger {
  constructor(
    public limit: number, // bytes, 0 = unlimited
    public used: number,
  ) {}

  /** Book `bytes` if they fit; false (nothing booked) if they would cross the limit. */
  admit(bytes: number): boolean {
    if (this.limit > 0 && this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  /** Bytes still available (Infinity when unlimited). */
  available(): number {
    return this.limit > 0 ? Math.max(0, this.limit - this.used) : Infinity;
  }
}

/**
 * Ledgers by key ("user:alice", "dir:/srv/drop"), shared across sessions. Usage is measured from
 * storage when the first session opens a ledger and kept up to date by bookings afterwards; when
 * the last session closes, the ledger is dropped so the next login re-measures the disk.
 */
export class QuotaRegistry {
  private ledgers = new Map<string, { ledger: QuotaLedger; refs: number; ready: Promise<void> }>();

  async acquire(key: string, limit: number, measure: () => Promise<number>): Promise<QuotaLedger> {
    let entry = this.ledgers.get(key);
    if (!entry) {
      const ledger = new QuotaLedger(limit, 0);
      const ready = measure().then(
        (used) => {
          ledger.used += used;
        },
        () => {},
      );
      entry = { ledger, refs: 0, ready };
      this.ledgers.set(key, entry);
    }
    entry.refs++;
    // A `ftpkit user quota` change applies from the next login on.
    entry.ledger.limit = limit;
    await entry.ready;
    return entry.ledger;
  }

  release(key: string): void {
    const entry = this.ledgers.get(key);
    if (!entry) return;
    if (--entry.refs <= 0) this.ledgers.delete(key);
  }
}
