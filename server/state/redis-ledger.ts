import { FtpError } from "../../protocol/errors.ts";
import { Reservation, UsageUnmeasured, type InPlaceBooking, type Ledger } from "../vfs/quota.ts";
import { InPlaceBookings, type Snapshot } from "./in-place-bookings.ts";
import { LEASE, SET_USED, SETTLE } from "./scripts.ts";

/** What a shared ledger needs of the store (RedisState). */
export interface LedgerStore {
  readonly prefix: string;
  readonly node: string;
  readonly leaseTtlMs: number;
  readonly keepMs: number;
  eval(script: string, keys: string[], args: (string | number)[]): Promise<unknown>;
}

/** Bytes leased from the shared ledger at a time: one round trip per this many uploaded bytes at most. */
export const LEASE_BLOCK = 4 * 1024 * 1024;
/**
 * The block doubles, up to this, while each lease is spent within LEASE_FAST_MS of the one before:
 * 50 uploads of one user on one node (stor-100, --workers 2, quota set) spent a 4 MiB block every
 * ~9 chunks, so nearly every chunk waited behind a round trip, queued (held) in memory meanwhile:
 * 8–10 s of CPU and 210 k page faults per GiB against 1.5 s and 15 k without a quota.
 */
export const LEASE_BLOCK_MAX = 64 * 1024 * 1024;
const LEASE_FAST_MS = 1000;

/** Settlement batches numbered in this process (one counter: a ledger made again continues it). */
let settleBatches = 0;
/** Measures stored from this process (their ids: the node's and this count, unique across store restarts). */
let measures = 0;

/**
 * A quota ledger shared by several nodes through the store. Uploads on this node spend a lease of
 * bytes taken from the store in blocks (LEASE), so the per-chunk path stays local and synchronous;
 * only when the lease runs out does a chunk wait for the store. A settled upload or a deletion
 * updates the shared usage (SETTLE) and, once no upload holds bytes here, returns the unused lease.
 * A lease is trusted locally only while it is fresh in the store (renewed by the heartbeat): if
 * the store cannot be reached, uploads stop at the end of their lease (451) rather than overshoot.
 */
export class RedisLedger implements Ledger {
  /** Leased and not yet spent. */
  private leaseFree = 0;
  /** Admitted to uploads and not yet settled. */
  private reservedOut = 0;
  /** Settled changes not sent to the store yet. */
  private backlog = 0;
  /**
   * A batch sent whose answer did not come (the store stalled, the connection dropped): it may have
   * been applied all the same, so it is resent as it is, under its number, which the store applies
   * once (SETTLE), and nothing is added to it. Merged into the next batch, a settlement the stalled
   * store ran late was applied twice: a DELE of 4 MB made the usage -4 MB, and 8 MB went in under 5 MB.
   */
  private unacked: { seq: number; delta: number } | null = null;
  private validUntil = 0;
  private seenUsed = 0;
  private seenOthers = 0;
  private chain: Promise<unknown> = Promise.resolve();
  /** Size of the last lease block asked for, and when (see LEASE_BLOCK_MAX). */
  private block = 0;
  private blockAt = 0;
  private measuring: Promise<void> | null = null;
  /** Unlimited: this node's one measure of the usage (measureHere). */
  private measuringHere: Promise<void> | null = null;
  bookedFromBelow = false;
  /**
   * Open uploads written in place. The store's usage is the settled bytes only, so a measure taken
   * while such an upload runs (the store restarted empty, or evicted the usage) holds its bytes so
   * far: they leave its reservation and its settlement (InPlaceBookings). Added again, an upload in
   * flight across a Redis restart stayed counted twice until the next measure (1,400,000 bytes for
   * 1,100,000 on disk), also when another node measured.
   */
  private inPlace = new InPlaceBookings();
  /** The id of the measure the store's usage came from, as last seen (SET_USED); undefined: none seen yet. */
  private measureSeen: string | undefined;
  /** The usage may count bytes of an upload in place twice: the next SETTLE asks for a new measure once nobody holds anything. */
  private recount = false;
  /** Unlimited (measureHere): measure again once no upload holds bytes here. */
  private recountHere = false;

  constructor(
    private readonly store: LedgerStore,
    private readonly key: string,
    public limit: number,
    private readonly measure: () => Promise<number>,
  ) {}

  /** Its usage, its leases, and this node's index of the leases it holds (NODE_GONE). */
  private get keys(): string[] {
    const p = this.store.prefix;
    return [`${p}quota:${this.key}:used`, `${p}quota:${this.key}:leases`, `${p}node-ledgers:${this.store.node}`];
  }

  /** The id of the measure its usage came from (SET_USED). */
  private get measureKey(): string {
    return `${this.store.prefix}quota:${this.key}:measure`;
  }

  /** What this node holds against the limit (restated to the store on every call). */
  private get hold(): number {
    return this.reservedOut + this.leaseFree + Math.max(0, this.unsent);
  }

  get used(): number {
    return this.seenUsed + this.reservedOut + this.unsent;
  }

  /** Make sure the store knows the usage (one round trip per login while it does). */
  measured(): Promise<void> {
    if (this.limit <= 0) return this.measureHere();
    return this.serial(() => this.lease(0, 0)).then(() => {});
  }

  /**
   * No limit: nothing is shared (logins make no round trip), so the usage SITE QUOTA shows is
   * measured here, once, when a client first asks, as one process's ledger does; this node's own
   * settlements keep it up after. Left at 0, SITE QUOTA said "used 0 bytes" for a full home.
   */
  private measureHere(): Promise<void> {
    if (!this.measuringHere) {
      const before = this.seenUsed;
      const counting = this.inPlace.snapshot();
      this.measuringHere = this.measure().then(
        (bytes) => {
          this.seenUsed = Math.max(0, bytes + this.seenUsed - before);
          if (this.counted(counting)) this.recountHere = true;
        },
        () => {
          this.measuringHere = null; // asked again next time
        },
      );
    }
    return this.measuringHere;
  }

  /**
   * Every exchange with the store runs one after the other: each restates this node's holding, so a
   * settlement computed while a lease is in flight would otherwise drop the bytes that lease grants.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private async ensureMeasured(): Promise<void> {
    this.measuring ??= (async () => {
      // A failed measure stores nothing: 0 would be every node's usage, and the quota open to all.
      const counting = this.inPlace.snapshot();
      const bytes = await this.measure();
      const id = `${this.store.node}:${++measures}`;
      const stored = await this.store.eval(SET_USED, [this.keys[0]!, this.measureKey], [bytes, this.store.keepMs, id]);
      // Another node was first: its measure's id, in the next answer, says what it counted.
      if (stored == null) return;
      this.measureSeen = id;
      if (this.counted(counting)) {
        this.recount = true;
        void this.flush();
      }
    })().finally(() => (this.measuring = null));
    return this.measuring;
  }

  /**
   * A measure is in the usage: what the in-place uploads surely had on disk before it (`floor`)
   * moves from the reservations to it. True when some of their bytes may be counted twice.
   */
  private counted(floor: Snapshot | "sure"): boolean {
    const { moved, unsure } = this.inPlace.measured(floor);
    this.reservedOut = Math.max(0, this.reservedOut - moved);
    return unsure;
  }

  /**
   * An answer of the store that has the usage, under measure `id`, to a round trip sent at `sent`.
   * The same id: the usage was kept, so a later measure finds what was booked at `sent`. A new one:
   * another node measured since (this node's own set measureSeen), counting what the uploads in
   * place here had on disk then — at least what was sure, perhaps more (the usage then asks for a
   * recount once nobody holds anything; in the meantime it errs upward, never toward overshooting).
   */
  private sawMeasure(id: string | undefined, sent: Snapshot): void {
    if (id === undefined || this.limit <= 0) return;
    if (id === this.measureSeen) return this.inPlace.keptAt(sent);
    // The id's key lost alone (evicted) tells nothing; a first answer has nothing to compare with.
    if (id !== "" && this.measureSeen !== undefined && this.counted("sure")) {
      this.recount = true;
      void this.flush();
    }
    this.measureSeen = id;
  }

  /** Book `bytes` here (an upload in place: under its booking too). */
  private book(bytes: number, inPlace: InPlaceBooking | undefined): void {
    this.reservedOut += bytes;
    if (inPlace) this.inPlace.book(inPlace, bytes);
  }

  admit(bytes: number, limit = this.limit, inPlace?: InPlaceBooking): boolean | Promise<boolean> {
    if (limit <= 0) {
      this.book(bytes, inPlace);
      return true;
    }
    // The lease may have been taken under a higher limit (another mount of the same directory):
    // a lower one is checked against the usage as last seen too.
    if (bytes <= this.leaseFree && performance.now() < this.validUntil && (limit >= this.limit || bytes <= this.available(limit))) {
      this.leaseFree -= bytes;
      this.book(bytes, inPlace);
      this.leaseAhead();
      return true;
    }
    // One lease request at a time per ledger: the next waits and may find the block already there.
    return this.serial(() => this.admitLeased(bytes, limit, inPlace));
  }

  private async admitLeased(bytes: number, limit: number, inPlace: InPlaceBooking | undefined): Promise<boolean> {
    if (bytes > this.leaseFree || performance.now() >= this.validUntil || (limit < this.limit && bytes > this.available(limit))) {
      // Asked with this limit, the store grants nothing beyond it (it counts this node's whole holding).
      const granted = await this.lease(Math.max(this.nextBlock(), bytes - this.leaseFree), Math.max(0, bytes - this.leaseFree), limit);
      if (granted < 0) return false;
      if (limit < this.limit && bytes > this.available(limit)) return false;
    }
    if (bytes > this.leaseFree) return false;
    this.leaseFree -= bytes;
    this.book(bytes, inPlace);
    return true;
  }

  /** The size of the next lease: doubled while leases are spent fast (LEASE_BLOCK_MAX). */
  private nextBlock(): number {
    // Small quotas lease in smaller blocks, so one node's idle lease does not starve the others.
    const small = Math.max(64 * 1024, Math.floor(this.limit / 16));
    const now = performance.now();
    const fast = this.block > 0 && now - this.blockAt < LEASE_FAST_MS;
    this.block = fast ? Math.min(this.block * 2, LEASE_BLOCK_MAX, small) : Math.min(LEASE_BLOCK, small);
    this.blockAt = now;
    return this.block;
  }

  private leasingAhead = false;

  /**
   * Ask for the next block while half of this one is left, so a busy upload's chunks are admitted
   * from the lease instead of each waiting (and being held in memory) behind a round trip. A refusal
   * or an unreachable store is left for the next admit that really needs bytes to find out.
   */
  private leaseAhead(): void {
    if (this.leasingAhead || this.block === 0 || this.leaseFree >= this.block / 2) return;
    this.leasingAhead = true;
    void this.serial(async () => {
      if (this.leaseFree >= this.block / 2 || this.reservedOut === 0) return;
      await this.lease(this.nextBlock(), 0);
      // Every upload ended while we asked: give the block straight back rather than sit on it.
      if (this.reservedOut === 0 && this.leaseFree > 0) {
        this.leaseFree = 0;
        await this.flushNow();
      }
    })
      .catch(() => {})
      .finally(() => (this.leasingAhead = false));
  }

  /** Ask the store for `want` bytes (at least `min`); renews the lease's freshness. -1: refused. */
  private async lease(want: number, min: number, limit = this.limit): Promise<number> {
    // -1 from the store: measure storage, then ask again (a crashed node's lease can cause one more).
    for (let attempt = 0; attempt < 3; attempt++) {
      let res: unknown[];
      const sent = this.inPlace.snapshot();
      try {
        res = (await this.store.eval(LEASE, [...this.keys, this.measureKey], [this.store.node, limit, want, min, this.hold, this.store.leaseTtlMs, this.store.keepMs])) as unknown[];
      } catch {
        throw new FtpError(451, "Quota store unavailable; try again later");
      }
      const [grant, used, others] = res.slice(0, 3).map(Number) as [number, number, number];
      if (grant === -1) {
        await this.ensureMeasured().catch(() => {
          throw new UsageUnmeasured();
        });
        continue;
      }
      this.sawMeasure(res[3] === undefined ? undefined : String(res[3]), sent);
      this.seenUsed = used;
      this.seenOthers = others;
      this.validUntil = performance.now() + this.store.leaseTtlMs - Math.min(2000, this.store.leaseTtlMs / 3);
      if (grant === 0 && want > 0 && min > 0) return -1;
      this.leaseFree += grant;
      return grant;
    }
    return -1;
  }

  release(bytes: number): void {
    this.settle(0, -bytes);
  }

  reserve(credit = 0, inPlace = false): Reservation {
    return new Reservation(this, credit, inPlace);
  }

  settle(reserved: number, delta: number, inPlace?: InPlaceBooking): void {
    // What a measure already counted of an upload in place is in the usage, not in reservedOut.
    const counted = Math.min(reserved, inPlace ? this.inPlace.end(inPlace) : 0);
    reserved -= counted;
    delta -= counted;
    this.reservedOut = Math.max(0, this.reservedOut - reserved);
    // No upload holds bytes here any more: the rest of the lease goes back.
    if (this.reservedOut === 0) this.leaseFree = 0;
    if (this.limit <= 0 && this.reservedOut === 0 && this.recountHere) {
      // A measure here may have counted some bytes twice (InPlaceBookings): the next question measures again.
      this.recountHere = false;
      this.measuringHere = null;
    }
    if (this.limit <= 0) {
      this.seenUsed = Math.max(0, this.seenUsed + delta); // unlimited here: kept here
      // A directory's ledger, or one booked from a place below its own (a box in a home): another node
      // may hold it under a limit (a drop box this user's mount shares, the home's owner), and the
      // store's usage must count these bytes too (SETTLE changes only a usage it has).
      if (!this.key.startsWith("dir:") && !this.bookedFromBelow) return;
    }
    this.backlog += delta;
    void this.flush();
  }

  /** Send the backlog and restate the holding; the heartbeat calls it too (renewing the lease). */
  flush(): Promise<void> {
    return this.serial(() => this.flushNow());
  }

  /** Changes the store has not acknowledged: the unsent backlog and a batch awaiting its answer. */
  private get unsent(): number {
    return this.backlog + (this.unacked?.delta ?? 0);
  }

  private async flushNow(): Promise<void> {
    for (;;) {
      // A batch is numbered only if it changes the usage (a heartbeat's restated holding is idempotent).
      if (!this.unacked && this.backlog !== 0) {
        this.unacked = { seq: ++settleBatches, delta: this.backlog };
        this.backlog = 0;
      }
      const batch = this.unacked ?? { seq: 0, delta: 0 };
      // The holding restated with it leaves the batch out: the store counts its bytes in the usage now.
      const hold = this.reservedOut + this.leaseFree + Math.max(0, this.backlog);
      const sent = this.inPlace.snapshot();
      const recount = this.recount;
      try {
        const res = await this.store.eval(SETTLE, [...this.keys, this.appliedKey, this.measureKey], [this.store.node, batch.delta, hold, this.store.leaseTtlMs, this.store.keepMs, batch.seq, recount ? 1 : 0]);
        const [usedText, id] = Array.isArray(res) ? res : [res];
        const used = Number(usedText);
        if (this.unacked === batch) this.unacked = null;
        if (recount) this.recount = false;
        if (used >= 0) this.sawMeasure(id === undefined ? undefined : String(id), sent);
        if (used >= 0 && this.limit > 0) this.seenUsed = used;
        if (hold > 0) this.validUntil = performance.now() + this.store.leaseTtlMs - Math.min(2000, this.store.leaseTtlMs / 3);
      } catch {
        return; // kept on our side (and counted in `hold`): the same batch goes again when the store is back
      }
      // What was settled while a resent batch was on its way goes now, not at some later settlement.
      if (this.backlog === 0) return;
    }
  }

  /** The number of this node's last batch the store applied to this ledger (SETTLE). */
  private get appliedKey(): string {
    return `${this.store.prefix}quota:${this.key}:applied:${this.store.node}`;
  }

  /** Something to tell the store at the next heartbeat? */
  get active(): boolean {
    return this.limit > 0 && (this.hold > 0 || this.unsent !== 0);
  }

  available(limit = this.limit): number {
    if (limit <= 0) return Infinity;
    return Math.max(0, limit - this.seenUsed - this.seenOthers - this.reservedOut - Math.max(0, this.unsent));
  }

  dispose(): void {
    this.leaseFree = 0;
    void this.flush();
  }
}
