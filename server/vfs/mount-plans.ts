// The users' mount plans (mounts.ts), one cache per server, kept while a session uses one and for
// LINGER_MS after the last one ends. A plan holds its storages, and a local storage its root's descriptor, which
// local-roots.ts closes once no storage reaches it: plans kept for every user who ever logged in held
// one descriptor each until the server ran out (measured: EMFILE, every login refused and /metrics
// failing, from the ~386th user with `ulimit -n 400`, one session at a time).
import type { UserRecord } from "../auth/types.ts";
import { descriptorSoftLimit, openDescriptors } from "../fd-budget.ts";
import { collectSoon } from "../storage/local-roots.ts";

/** A user's next login within this is served by the same plan (no new stat of the home, no new root). */
export const LINGER_MS = 30_000;

interface Held {
  /** Sessions using the plan's table (acquired and not yet released). */
  sessions: number;
  idle?: ReturnType<typeof setTimeout>;
}

/** Descriptor use is looked at most this often (a readdir of /proc/self/fd)… */
const LOOK_EVERY_MS = 200;
/** …and relieved (a full collection) this often while under three quarters of the limit. */
const RELIEF_EVERY_MS = 5_000;

export class PlanCache<Plan extends object> {
  private readonly plans = new Map<UserRecord, Plan>();
  private readonly held = new WeakMap<Plan, Held>();
  private lastLook = -Infinity;
  private lastRelief = -Infinity;

  get(user: UserRecord): Plan | undefined {
    return this.plans.get(user);
  }

  set(user: UserRecord, plan: Plan): void {
    const old = this.plans.get(user);
    if (old && old !== plan) this.forget(old);
    this.plans.set(user, plan);
  }

  delete(user: UserRecord): void {
    const old = this.plans.get(user);
    if (old) this.forget(old);
    this.plans.delete(user);
  }

  /** A plan leaves the cache: its linger timer, whose closure holds it, goes too (its roots then close once no session holds them). */
  private forget(plan: Plan): void {
    const h = this.held.get(plan);
    if (h?.idle) clearTimeout(h.idle);
    if (h) h.idle = undefined;
  }

  /** The server closed: every plan goes now (their timers held them, and so their roots, 30 s). */
  clear(): void {
    for (const user of [...this.plans.keys()]) this.delete(user);
  }

  /** A session took the plan's table. */
  take(plan: Plan): void {
    const h = this.held.get(plan) ?? { sessions: 0 };
    this.held.set(plan, h);
    h.sessions++;
    if (h.idle) clearTimeout(h.idle);
    h.idle = undefined;
  }

  /** A session that took it ended: unused for LINGER_MS, the plan is dropped (its roots then closed). */
  give(user: UserRecord, plan: Plan): void {
    const h = this.held.get(plan);
    if (!h || --h.sessions > 0) return;
    this.linger(user, plan, h);
  }

  /** A login failed before taking the plan (the shared state away): one no session holds goes as after a last session. */
  untaken(user: UserRecord, plan: Plan): void {
    const h = this.held.get(plan) ?? { sessions: 0 };
    this.held.set(plan, h);
    if (h.sessions === 0 && !h.idle) this.linger(user, plan, h);
  }

  private linger(user: UserRecord, plan: Plan, h: Held): void {
    // Only while it is the user's cached plan: one replaced (its root swapped) is held by its sessions alone.
    if (this.plans.get(user) !== plan) return;
    h.idle = setTimeout(() => {
      if (h.sessions !== 0 || this.plans.get(user) !== plan) return;
      this.delete(user);
      collectSoon(); // its roots' descriptors close when collected
    }, LINGER_MS);
    h.idle.unref?.();
  }

  /**
   * Before opening a new plan's roots: with over half the open-file limit in use (looked at most every
   * 200 ms; relieved every 5 s, or at each look past three quarters), the plans no session uses are dropped now, and their root descriptors closed by a collection (the garbage collector
   * runs on memory pressure, which descriptors do not make).
   */
  async relieve(alsoIdle: () => void): Promise<void> {
    // Not at every login: a busy server stays above half its limit, and a collection per login of a
    // new user was a cost any client with many accounts could make the server pay.
    const now = performance.now();
    if (now - this.lastLook < LOOK_EVERY_MS) return;
    this.lastLook = now;
    const open = openDescriptors();
    const limit = descriptorSoftLimit();
    if (open === null || limit === null || open < limit / 2) return;
    if (open < (limit * 3) / 4 && now - this.lastRelief < RELIEF_EVERY_MS) return;
    this.lastRelief = now;
    for (const [user, plan] of this.plans) if ((this.held.get(plan)?.sessions ?? 0) === 0) this.delete(user);
    alsoIdle(); // what else holds the dropped plans' storage (the quota ledgers' measures)
    Bun.gc(true);
    await Bun.sleep(0); // the finalizers that close the descriptors run on the next turn
  }
}
