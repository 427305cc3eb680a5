// Defender: ban addresses that keep failing to log in (an IPv6 address counts by its /64).
import { anyContains, banKey, canonicalBanKey, parseIp } from "../../protocol/cidr.ts";
import type { OpsOptions } from "./options.ts";

interface Entry {
  /**
   * Times of this process's failures within --ban-window (also those a shared store counted: with
   * the store away, the process bans on them).
   */
  fails: number[];
  /** Banned until this time (0 = not banned). */
  until: number;
  /** Bans so far: the next one lasts banTime × 2^bans. */
  bans: number;
  /** When the last ban ended: a clean record for banMaxMs after it starts the doubling over. */
  ended: number;
  /**
   * The shared store's count of the address's failures within --ban-window at its last answer, and
   * when (the gate of checks in flight reads it; every failure it counted has left the window by
   * sharedAt + banWindowMs).
   */
  shared: number;
  sharedAt: number;
}

export interface Ban {
  key: string;
  ms: number;
  failures: number;
  repeat: number;
}

/** Addresses (ban keys) tracked at most; beyond, the stalest are forgotten (a spray from many addresses). */
const MAX_TRACKED = 100_000;
/**
 * How often at most the entries that no longer matter are dropped (on the next connect or failure):
 * a spray of 2,500 addresses that each failed once left ~0.8 MB of heap for ever, as only a full
 * table was ever pruned (measured by the soak audit).
 */
const SWEEP_EVERY_MS = 60_000;

export class Defender {
  private readonly entries = new Map<string, Entry>();
  private activeBans = 0;
  private lastSweep = 0;

  constructor(private readonly opts: Pick<OpsOptions, "banAfter" | "banWindowMs" | "banTimeMs" | "banMaxMs" | "allow" | "deny">) {}

  get enabled(): boolean {
    return this.opts.banAfter > 0;
  }

  /** "denied" (--deny), "banned", or null. Cheap when nothing is banned and no deny list exists (every connect asks). */
  refusal(ip: string, now = performance.now()): "denied" | "banned" | null {
    this.sweepIfDue(now);
    if (this.opts.deny.length === 0 && this.activeBans === 0) return null;
    const bytes = parseIp(ip);
    if (bytes && anyContains(this.opts.deny, bytes)) return "denied";
    if (this.activeBans === 0 || (bytes && anyContains(this.opts.allow, bytes))) return null;
    const e = this.entries.get(banKey(ip));
    if (!e || e.until === 0) return null;
    if (e.until > now) return "banned";
    this.expire(e);
    return null;
  }

  /**
   * Count a failed login; returns the ban it triggered, if any: --ban-after of this process's
   * failures within --ban-window. (The failed-login back-off's count is not one: its window runs
   * from the last failure, so failures spaced wider than --ban-window added up to a ban.)
   */
  failed(ip: string, now = performance.now()): Ban | null {
    if (!this.enabled || anyContains(this.opts.allow, ip)) return null;
    const key = banKey(ip);
    const e = this.entry(key, now);
    if (e.until > now) return null; // already banned (a session opened before the ban)
    if (e.until !== 0) this.expire(e);
    if (e.bans > 0 && now - e.ended > this.opts.banMaxMs) e.bans = 0;
    this.note(e, now);
    if (e.fails.length < this.opts.banAfter) return null;
    const ms = Math.min(this.opts.banTimeMs * 2 ** Math.min(e.bans, 40), this.opts.banMaxMs);
    const ban: Ban = { key, ms, failures: e.fails.length, repeat: e.bans + 1 };
    e.bans++;
    e.until = now + ms;
    e.fails = [];
    e.shared = 0;
    this.activeBans++;
    return ban;
  }

  /**
   * A failed login the shared store counted without a ban (`shared`: the address's failures within
   * --ban-window there, this one included). Kept here too: if the store goes away, this process
   * bans on its own failures, those before the outage included.
   */
  counted(ip: string, shared: number, now = performance.now()): void {
    if (!this.enabled || anyContains(this.opts.allow, ip)) return;
    const e = this.entry(banKey(ip), now);
    this.note(e, now);
    e.shared = shared;
    e.sharedAt = now;
  }

  /** Failed logins `ip` may still make before a ban (Infinity: it cannot be banned here). */
  failuresLeft(ip: string, now = performance.now()): number {
    if (!this.enabled || this.exempt(ip)) return Infinity;
    const e = this.entries.get(banKey(ip));
    if (!e) return this.opts.banAfter;
    const since = now - this.opts.banWindowMs;
    const mine = e.fails.filter((t) => t > since).length;
    const shared = e.sharedAt > since ? e.shared : 0;
    return this.opts.banAfter - Math.max(mine, shared);
  }

  /** Never banned here (--allow, and the --proxy-from balancers). */
  exempt(ip: string): boolean {
    return anyContains(this.opts.allow, ip);
  }

  /**
   * A ban the shared store holds (taken by this process or another sharing it): in force here for
   * the `ms` it has left. Returns true if it was not in force here yet (its sessions at the password
   * prompt are then to be closed).
   */
  impose(stored: string, ms: number, repeat: number, now = performance.now()): boolean {
    if (!this.enabled || ms <= 0) return false;
    const key = canonicalBanKey(stored);
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size >= MAX_TRACKED) this.prune(now);
      e = { fails: [], until: 0, bans: 0, ended: 0, shared: 0, sharedAt: 0 };
      this.entries.set(key, e);
    }
    const fresh = !(e.until > now);
    if (e.until !== 0 && fresh) this.expire(e);
    e.bans = Math.max(e.bans, repeat);
    e.until = Math.max(e.until, now + ms);
    e.fails = [];
    e.shared = 0;
    if (fresh) this.activeBans++;
    return fresh;
  }

  /** The bans in force here now, as the shared store keeps them (to restate to a store that lost them). */
  inForce(now = performance.now()): Array<{ key: string; ms: number; repeat: number }> {
    const out: Array<{ key: string; ms: number; repeat: number }> = [];
    if (this.activeBans === 0) return out;
    for (const [key, e] of this.entries) if (e.until > now) out.push({ key, ms: e.until - now, repeat: e.bans });
    return out;
  }

  /** Bans in force now. */
  active(now = performance.now()): number {
    if (this.activeBans === 0) return 0;
    for (const e of this.entries.values()) if (e.until !== 0 && e.until <= now) this.expire(e);
    return this.activeBans;
  }

  /** The entry of `key`, created if new, moved to the end (Map order = staleness order). */
  private entry(key: string, now: number): Entry {
    this.sweepIfDue(now);
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size >= MAX_TRACKED) this.prune(now);
      e = { fails: [], until: 0, bans: 0, ended: 0, shared: 0, sharedAt: 0 };
    } else {
      this.entries.delete(key);
    }
    this.entries.set(key, e);
    return e;
  }

  /** A failure now: the ones that left --ban-window go. */
  private note(e: Entry, now: number): void {
    const since = now - this.opts.banWindowMs;
    e.fails = e.fails.filter((t) => t > since);
    e.fails.push(now);
  }

  private expire(e: Entry): void {
    e.ended = e.until;
    e.until = 0;
    this.activeBans--;
  }

  /** Addresses tracked now (bans, recent failures, repeat counts still doubling). */
  get tracked(): number {
    return this.entries.size;
  }

  /**
   * Whether an entry no longer matters: no ban in force, no failure in the window, and a repeat
   * count the next failure would reset anyway (a clean banMaxMs since its last ban ended, as
   * failed() reads it). Forgetting a repeat count sooner would let a returning guesser's bans stop
   * doubling.
   */
  private forgettable(e: Entry, now: number): boolean {
    if (e.until > now) return false;
    if (e.until !== 0) this.expire(e);
    if (e.bans > 0 && now - e.ended <= this.opts.banMaxMs) return false;
    return e.fails.every((t) => t <= now - this.opts.banWindowMs);
  }

  private sweepIfDue(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS || this.entries.size === 0) return;
    this.lastSweep = now;
    for (const [key, e] of this.entries) if (this.forgettable(e, now)) this.entries.delete(key);
  }

  /** A full table: what no longer matters goes; still full (a spray from many addresses), the stalest entries go. */
  private prune(now: number): void {
    for (const [key, e] of this.entries) if (this.forgettable(e, now)) this.entries.delete(key);
    for (const [key, e] of this.entries) {
      if (this.entries.size < MAX_TRACKED) break;
      if (e.until > now) this.activeBans--;
      this.entries.delete(key);
    }
  }
}
