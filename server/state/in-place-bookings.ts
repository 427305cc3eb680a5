import type { InPlaceBooking } from "../vfs/quota.ts";

/** One open upload written in place, as a node's shared ledger booked it (bytes since it opened). */
interface Entry {
  /** Booked through admit: written to the target already (local in-place writes land in the admitting callback). */
  booked: number;
  /** Of `booked`, what a measure of storage counted: in the usage, no longer in the reservation. */
  counted: number;
  /** Of `booked`, what any measure from now on finds on disk (sampled when the usage was last seen kept). */
  sure: number;
}

/** What each open upload had booked at one moment. */
export type Snapshot = ReadonlyArray<readonly [Entry, number]>;

/**
 * The open uploads written in place of one shared ledger (RedisLedger). Their bytes are in the target
 * as they arrive, so a measure of storage taken while they run (the store restarted empty, or evicted
 * the usage) counts those written by the moment it stats the file: the ledger moves them from its
 * reservations to the usage, and their settlement leaves them out. That moment is known only within
 * a window: no earlier than `floor` (booked before the measure surely began), no later than what is
 * booked when the node learns of the measure. Only the floor moves; bytes in the window stay counted
 * in both, the usage errs upward (refusing early, never letting the limit be crossed), and the caller
 * has the usage measured again once nobody holds anything (DEAD_MARK).
 */
export class InPlaceBookings {
  private entries = new Map<InPlaceBooking, Entry>();

  book(booking: InPlaceBooking, bytes: number): void {
    const e = this.entries.get(booking);
    if (e) e.booked += bytes;
    else this.entries.set(booking, { booked: bytes, counted: 0, sure: 0 });
  }

  /** What the open uploads have booked now (a measure starting later finds it in storage). */
  snapshot(): Snapshot {
    return [...this.entries.values()].map((e) => [e, e.booked] as const);
  }

  /**
   * A round trip sent at `s` found the usage kept, from the measure seen before: a later measure can
   * only have begun after the usage was lost again, so it finds at least these bytes.
   */
  keptAt(s: Snapshot): void {
    for (const [e, n] of s) e.sure = Math.max(e.sure, n);
  }

  /**
   * A measure replaced the usage: of each open upload it counted at least `floor` (this node's own
   * measure: the snapshot taken before it; another node's: what was sure). Returns the bytes moved
   * out of the reservations, and whether some booked bytes may be counted twice (in the window).
   */
  measured(floor: Snapshot | "sure"): { moved: number; unsure: boolean } {
    let moved = 0;
    // An upload settled since the snapshot has left the reservations with what it had counted then.
    const open = new Set(this.entries.values());
    const pairs = floor === "sure" ? [...open].map((e) => [e, e.sure] as const) : floor.filter(([e]) => open.has(e));
    for (const [e, n] of pairs) {
      const add = Math.max(0, Math.min(n, e.booked) - e.counted);
      e.counted += add;
      moved += add;
    }
    // Any byte booked and not moved may have been on disk when the measure passed (one that began
    // after the snapshot too).
    const unsure = [...open].some((e) => e.booked > e.counted);
    return { moved, unsure };
  }

  /** The upload settles: the bytes a measure already counted of it (out of its reservation and its delta). */
  end(booking: InPlaceBooking): number {
    const e = this.entries.get(booking);
    this.entries.delete(booking);
    return e?.counted ?? 0;
  }
}
