import { FtpError } from "../../protocol/errors.ts";
import { collectSoon } from "../storage/local-roots.ts";

/** The usage a limit needs could not be measured (a place of the ledger failing for now): 451, try later. */
export class UsageUnmeasured extends FtpError {
  constructor() {
    super(451, "Cannot measure the space in use now; try again later");
  }
}

/**
 * What a reservation and the VFS need of a quota ledger. The in-process QuotaLedger answers
 * `admit` synchronously; a shared one (server/state/redis-ledger.ts) may have to lease more bytes
 * from the store first, and then answers with a promise.
 */
export interface Ledger {
  /** Bytes, 0 = unlimited. A ledger shared under several limits (views) holds the highest. */
  limit: number;
  /** Bytes in use (a shared ledger: as last seen in the store, this node's open reservations included). */
  readonly used: number;
  /** Measure (or look up) the space in use once. */
  measured(): Promise<void>;
  /**
   * The last measure failed (storage unreachable at login): the usage is unknown, and counting from
   * 0 would let a user store past the limit. The next measured() tries again.
   */
  readonly unmeasured?: boolean;
  /**
   * Book `bytes` if they fit under `limit` (default: the ledger's); false (nothing booked) if they
   * would cross it. `inPlace`: an upload written in place books them (InPlaceBooking).
   */
  admit(bytes: number, limit?: number, inPlace?: InPlaceBooking): boolean | Promise<boolean>;
  /** Give back bytes that left storage (DELE, a replaced file). */
  release(bytes: number): void;
  reserve(credit?: number, inPlace?: boolean): Reservation;
  /** Replace `reserved` (booked by admit) by `delta`, the change storage reports. */
  settle(reserved: number, delta: number, inPlace?: InPlaceBooking): void;
  /** Bytes still available under `limit` (default: the ledger's; Infinity when unlimited). */
  available(limit?: number): number;
  /** The registry dropped this ledger (no session uses it): give back anything held. */
  dispose?(): void;
  /**
   * Booked from a place below the ledger's own (mounts.ts: `above`): a shared ledger then sends its
   * settlements to the store even while unlimited here, as a node holding it limited counts them.
   */
  bookedFromBelow?: boolean;
}

/**
 * The identity of one upload written in place, given with its bookings and its settlement. Its bytes
 * are in the target as they arrive, so a measure of storage taken while it runs counts them: a
 * ledger that keeps its usage apart from its open reservations (RedisLedger) must then not add them
 * again when the upload settles. (The temp directory is skipped by the measure, so uploads to a temp
 * file need nothing.)
 */
export type InPlaceBooking = object;

/**
 * A byte budget shared by every session that writes into the same space (one user's home, or one
 * mount with its own size limit). `admit` checks and books in one synchronous step, so parallel
 * uploads in different sessions can never overshoot the limit together.
 */
export class QuotaLedger implements Ledger {
  /** Usage is measured from storage lazily: at login only when a limit is set (logins stay cheap). */
  private measuring: Promise<void> | null = null;
  unmeasured = false;

  constructor(
    public limit: number, // bytes, 0 = unlimited
    public used: number,
    private readonly measure: () => Promise<number>,
  ) {}

  /**
   * Measure the space in use once. Bookings made before the walk starts (while the ledger was
   * unlimited) are already on disk, so the walk replaces them; those made during it are kept on top.
   */
  measured(): Promise<void> {
    if (!this.measuring) {
      const before = this.used;
      this.measuring = this.measure().then(
        (bytes) => {
          this.used = Math.max(0, bytes + this.used - before);
          this.unmeasured = false;
        },
        () => {
          this.unmeasured = true;
          this.measuring = null; // asked again by the next upload or login
        },
      );
    }
    return this.measuring;
  }

  /** Book `bytes` if they fit under `limit`; false (nothing booked) if they would cross it. */
  admit(bytes: number, limit = this.limit): boolean {
    if (limit > 0 && this.used + bytes > limit) return false;
    this.used += bytes;
    return true;
  }

  /** Give back bytes that left storage (DELE, a replaced file): the amount storage reported. */
  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  /**
   * Open a reservation for one upload. `credit` is what the upload may write without growing usage
   * (the bytes of the file it replaces or truncates): only bytes beyond it are reserved.
   */
  reserve(credit = 0, inPlace = false): Reservation {
    return new Reservation(this, credit, inPlace);
  }

  /** Apply a settled reservation: replace what it had reserved by what storage says really changed. */
  settle(reserved: number, delta: number): void {
    this.used = Math.max(0, this.used + delta - reserved);
  }

  /** Bytes still available under `limit` (Infinity when unlimited). */
  available(limit = this.limit): number {
    return limit > 0 ? Math.max(0, limit - this.used) : Infinity;
  }
}

/**
 * A ledger seen through one limit: the usage is the shared ledger's, the limit this view's own. The
 * same real directory mounted with 100 KB for anonymous and 200 KB for bob is one usage, and each
 * mount's uploads are held to its own limit (before, whichever user logged in last set the limit
 * for everyone: anonymous then had 200 KB).
 */
class LedgerView implements Ledger {
  constructor(
    private readonly base: Ledger,
    readonly limit: number,
  ) {}

  get used(): number {
    return this.base.used;
  }

  get unmeasured(): boolean {
    return this.base.unmeasured ?? false;
  }

  measured(): Promise<void> {
    return this.base.measured();
  }

  admit(bytes: number, _limit?: number, inPlace?: InPlaceBooking): boolean | Promise<boolean> {
    return this.base.admit(bytes, this.limit, inPlace);
  }

  release(bytes: number): void {
    this.base.release(bytes);
  }

  reserve(credit = 0, inPlace = false): Reservation {
    return new Reservation(this, credit, inPlace);
  }

  settle(reserved: number, delta: number, inPlace?: InPlaceBooking): void {
    this.base.settle(reserved, delta, inPlace);
  }

  available(): number {
    return this.base.available(this.limit);
  }
}

/**
 * A mount charged to its user's quota whose directory also has a limit of its own elsewhere (another
 * account's drop box of the same real directory): every booking goes to both, so the box counts the
 * bytes of its directory whoever wrote them. Only the user's limit holds these uploads (`main`);
 * `also` is a view with no limit, which books whatever it is given.
 */
export class JointLedger implements Ledger {
  constructor(
    readonly main: Ledger,
    readonly also: Ledger,
  ) {}

  get limit(): number {
    return this.main.limit;
  }

  get used(): number {
    return this.main.used;
  }

  get unmeasured(): boolean {
    return this.main.unmeasured ?? false;
  }

  measured(): Promise<void> {
    return this.main.measured();
  }

  admit(bytes: number, _limit?: number, inPlace?: InPlaceBooking): boolean | Promise<boolean> {
    const ok = this.main.admit(bytes, undefined, inPlace);
    if (ok === true) this.also.admit(bytes, undefined, inPlace);
    if (ok === true || ok === false) return ok;
    return ok.then((yes) => {
      if (yes) this.also.admit(bytes, undefined, inPlace);
      return yes;
    });
  }

  release(bytes: number): void {
    this.main.release(bytes);
    this.also.release(bytes);
  }

  reserve(credit = 0, inPlace = false): Reservation {
    return new Reservation(this, credit, inPlace);
  }

  settle(reserved: number, delta: number, inPlace?: InPlaceBooking): void {
    this.main.settle(reserved, delta, inPlace);
    this.also.settle(reserved, delta, inPlace);
  }

  available(): number {
    return this.main.available();
  }
}

/**
 * The quota side of one upload (owned by the upload, see server/vfs/upload.ts). Bytes are reserved
 * as they arrive; `settle(delta)` — exactly once, on commit or abort — replaces the reservation with
 * the change storage reports. No handler does quota arithmetic itself.
 */
export class Reservation {
  private reserved = 0;
  private written = 0;
  private settled = false;
  /** This upload's identity in the ledger when it is written in place (InPlaceBooking). */
  private readonly booking: InPlaceBooking | undefined;

  constructor(
    private readonly ledger: Ledger,
    private credit: number,
    inPlace = false,
  ) {
    this.booking = inPlace ? {} : undefined;
  }

  /**
   * Reserve room for `n` more bytes; false (nothing reserved) when they would cross the limit. A
   * shared ledger may answer later (a promise); the caller must not admit again before it does.
   */
  admit(n: number): boolean | Promise<boolean> {
    const need = Math.max(0, this.written + n - this.credit) - this.reserved;
    if (need <= 0) {
      this.written += n;
      return true;
    }
    const ok = this.ledger.admit(need, undefined, this.booking);
    if (ok === true || ok === false) return this.booked(ok, need, n);
    return ok.then((yes) => this.booked(yes, need, n));
  }

  private booked(ok: boolean, need: number, n: number): boolean {
    if (!ok) return false;
    // Settled (aborted) while the ledger was answering: hand the booking straight back.
    if (this.settled) {
      this.ledger.settle(need, 0, this.booking);
      return false;
    }
    this.reserved += need;
    this.written += n;
    return true;
  }

  /**
   * Before the commit: the file this upload replaces now holds only `credit` rewritable bytes
   * (another session removed, renamed or cut it since the upload was planned), so what the upload
   * wrote beyond that must fit now. False (nothing booked) when it does not. More credit than planned
   * books nothing: the settlement charges the real change.
   */
  recredit(credit: number): boolean | Promise<boolean> {
    if (this.settled || credit >= this.credit) return !this.settled;
    this.credit = credit;
    const need = Math.max(0, this.written - credit) - this.reserved;
    if (need <= 0) return true;
    const ok = this.ledger.admit(need, undefined, this.booking);
    if (ok === true || ok === false) return this.booked(ok, need, 0);
    return ok.then((yes) => this.booked(yes, need, 0));
  }

  settle(delta: number): void {
    if (this.settled) return;
    this.settled = true;
    this.ledger.settle(this.reserved, delta, this.booking);
    this.reserved = 0;
  }
}

/** How long a ledger outlives its last session, so quick reconnects do not re-measure the disk. */
const LINGER_MS = 30_000;

/**
 * Ledgers by key ("user:alice:DIGEST" — the digest of what it counts, server/auth/user-ledger.ts —
 * "dir:/srv/drop"), shared across sessions. Usage is measured when a limited ledger is first opened
 * and kept up to date by bookings afterwards; a while after the last session closes, the ledger is
 * dropped so the next login re-measures the disk.
 */
export class QuotaRegistry {
  private ledgers = new Map<string, { ledger: Ledger; refs: number; timer?: ReturnType<typeof setTimeout>; views: Map<number, Ledger> }>();

  /** `create` makes a new ledger (in-process by default; the shared state's otherwise). */
  constructor(
    private readonly create: (key: string, limit: number, measure: () => Promise<number>) => Ledger = (_k, limit, measure) => new QuotaLedger(limit, 0, measure),
    private readonly lingerMs = LINGER_MS,
  ) {}

  /**
   * The ledger for `key` as seen through `limit`: every caller shares the usage, and each is held
   * to the limit it asks with (a `ftpkit user quota` change applies from the next login on; two
   * mounts of one directory keep their own limits). One view per limit, so sessions with the same
   * limit get the same object.
   */
  async acquire(key: string, limit: number, measure: () => Promise<number>): Promise<Ledger> {
    let entry = this.ledgers.get(key);
    if (!entry) {
      entry = { ledger: this.create(key, limit, measure), refs: 0, views: new Map() };
      this.ledgers.set(key, entry);
    }
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.refs++;
    const view = this.view(key, limit)!;
    if (limit > 0) await entry.ledger.measured();
    return view;
  }

  /** Mark the acquired ledger `key` as booked from a place below its own (Ledger.bookedFromBelow). */
  bookedFromBelow(key: string): void {
    const entry = this.ledgers.get(key);
    if (entry) entry.ledger.bookedFromBelow = true;
  }

  /** The acquired ledger `key` seen through another `limit` (a second mount of one directory); takes no reference. */
  view(key: string, limit: number): Ledger | undefined {
    const entry = this.ledgers.get(key);
    if (!entry) return undefined;
    // The shared ledger only needs to know whether it is limited at all (a shared store then keeps
    // its usage, and sizes its leases by it); admissions carry their view's limit.
    entry.ledger.limit = Math.max(entry.ledger.limit, limit);
    let view = entry.views.get(limit);
    if (!view) {
      view = new LedgerView(entry.ledger, limit);
      entry.views.set(limit, view);
    }
    return view;
  }

  /** The server closed: drop every lingering ledger now (its timer held the storage, and so its descriptors, for 30 s). */
  close(): void {
    for (const [key, entry] of this.ledgers) {
      if (entry.timer) clearTimeout(entry.timer);
      this.ledgers.delete(key);
      entry.ledger.dispose?.();
    }
  }

  release(key: string): void {
    const entry = this.ledgers.get(key);
    if (!entry || --entry.refs > 0) return;
    entry.timer = setTimeout(() => {
      if (entry.refs > 0) return;
      this.ledgers.delete(key);
      entry.ledger.dispose?.();
      collectSoon(); // its measure reached its places' storage, and so their root descriptors
    }, this.lingerMs);
    (entry.timer as { unref?: () => void }).unref?.();
  }

  /** Drop now the ledgers no session uses (they linger otherwise, holding their places' storage: mount-plans.ts). */
  dropIdle(): void {
    for (const [key, entry] of this.ledgers) {
      if (entry.refs > 0) continue;
      if (entry.timer) clearTimeout(entry.timer);
      this.ledgers.delete(key);
      entry.ledger.dispose?.();
    }
  }
}
