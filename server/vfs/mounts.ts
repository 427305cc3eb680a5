import type { Perm, UserRecord } from "../auth/types.ts";
import { StorageError, type Storage } from "../storage/backend.ts";
import { LocalStorage } from "../storage/local.ts";
import { S3Storage } from "../storage/s3.ts";
import { s3SettingsFromEnv, type S3Settings } from "../storage/s3-request.ts";
import type { SharedKeyLock } from "../storage/s3-key-lock.ts";
import type { StaleUploads } from "../storage/s3-sweep.ts";
import type { NameListBudget } from "../storage/name-budget.ts";
import { isS3Url, parseS3Url } from "../../protocol/s3-url.ts";
import { isWithin, normalizeVirtualPath } from "../../protocol/path.ts";
import { JointLedger, type Ledger, type QuotaRegistry } from "./quota.ts";
import { PlanCache } from "./mount-plans.ts";
import type { ContainingLedger, NestedLimit } from "../auth/nested-limits.ts";
import { userLedgerKey } from "../auth/user-ledger.ts";

/** One root of a user's tree: the home at "/" or a virtual directory mounted at `vpath`. */
export interface Mount {
  vpath: string;
  /** Stable identity of the real place (for caches); never shown to clients. */
  id: string;
  storage: Storage;
  /** Where the files are (a directory; an object-store prefix for S3): for operators' hooks only, never shown to clients. */
  location: string;
  perms: ReadonlySet<Perm>;
  /** The ledger this mount's writes are charged to (the user's, or the mount's own), seen through its limit. */
  ledger: Ledger;
  ledgerKey: string;
  /**
   * Charged to the user: the ledger of the mount's own directory too ("dir:…"), booked with no limit,
   * so a limit another account's mount sets on that directory (a drop box) counts these bytes.
   */
  alsoKey?: string;
  /** The limit uploads through this mount are held to (bytes, 0 = unlimited). */
  limit: number;
  /**
   * Directories below this mount's root that another mount limits (a drop box inside a home): what
   * is stored, removed or renamed under `prefix` books into that box's ledger too (ledgerAt).
   */
  nested?: readonly NestedLedger[];
  /**
   * The ledgers of places above this mount's root (its user's home holding it, another account's
   * home holding this drop box), seen with no limit: what is stored or removed here books there too.
   */
  above?: readonly Ledger[];
  aboveKeys?: readonly string[];
}

/** A limited directory inside a mount: its key prefix, its "dir:" ledger key and that ledger seen with no limit. */
export interface NestedLedger {
  /** Its key inside the mount: never empty or "/" (the box is strictly below the mount's root). */
  prefix: string;
  key: string;
  ledger: Ledger;
}

/**
 * The ledger an upload, overwrite or DELE at `key` of `m` books into: the mount's own, and the ledger
 * of each limited directory below the mount that holds `key` (only the mount's limit holds it).
 */
export function ledgerAt(m: Mount, key: string): Ledger {
  let ledger = m.ledger;
  for (const n of m.nested ?? []) if (isWithin(n.prefix, key)) ledger = new JointLedger(ledger, n.ledger);
  for (const a of m.above ?? []) ledger = new JointLedger(ledger, a);
  return ledger;
}

interface LedgerSpec {
  key: string;
  limit: number;
  measure: () => Promise<number>;
}

/** What a user's mount table is made of, built once per user record (a users-file reload makes new records). */
interface MountPlan {
  roots: Array<Omit<Mount, "ledger" | "nested" | "above"> & { nested: Array<Omit<NestedLedger, "ledger">>; aboveKeys: string[] }>;
  ledgers: LedgerSpec[];
  /** The table handed to the last login: sessions of one user share it while its ledgers are current. */
  table: Mount[] | null;
  /**
   * The home's check (it must exist), once per plan: every login waits for it, so a second login
   * while the first one checks is not let in unchecked. A failed check drops the plan (forgetMounts).
   */
  homeChecked: Promise<void> | null;
}

/** A server's users' mount plans (mount-plans.ts). */
export type MountPlans = PlanCache<MountPlan>;
export function mountPlans(): MountPlans {
  return new PlanCache<MountPlan>();
}
/** The plan each handed-out table belongs to (releaseMounts gives the session's hold on it back). */
const planOfTable = new WeakMap<readonly Mount[], { user: UserRecord; plan: MountPlan; plans: MountPlans }>();

/**
 * The user's mount table: the home at "/" plus each virtual directory. A mount with its own size
 * limit is charged to a ledger keyed by its real directory: the usage is shared by every user who
 * mounts it, and each mount keeps its own limit (an anonymous drop box of 100 KB stays 100 KB
 * when bob mounts the same directory with 200 KB). The others are charged to the user's ledger.
 * Each call takes one reference on every ledger (see releaseMounts), and gives them back if it fails.
 * The home's check and the limited places' measures run at once: a store that does not answer
 * holds a login one request deadline, not one per place in turn.
 */
export async function acquireMounts(user: UserRecord, { quotas, plans }: { quotas: QuotaRegistry; plans: MountPlans }, places: PlaceOptions = {}): Promise<Mount[]> {
  let plan = plans.get(user);
  // A home or mount root replaced under its path since the table was built (a deploy's rename, a
  // symlink swap): this login opens the places again, as vsftpd's chroot at each login does.
  // Sessions already in keep the directories they opened.
  if (plan?.roots.some((root) => root.storage.replaced?.())) plan = undefined;
  if (!plan) {
    await plans.relieve(() => quotas.dropIdle());
    plan = planMounts(user, places);
    plans.set(user, plan);
  }
  const home = (plan.homeChecked ??= plan.roots[0]!.storage.stat("").then(() => undefined));
  const acquired = plan.ledgers.map((spec) => quotas.acquire(spec.key, spec.limit, spec.measure));
  const failed = (await Promise.allSettled([home, ...acquired])).find((r) => r.status === "rejected");
  if (failed) {
    // acquire took its reference before it measured: every one is given back.
    for (const spec of plan.ledgers) quotas.release(spec.key);
    plans.untaken(user, plan);
    throw failed.reason;
  }
  const ledgers = plan.roots.map((root) => {
    const main = quotas.view(root.ledgerKey, root.limit)!;
    return root.alsoKey ? new JointLedger(main, quotas.view(root.alsoKey, 0)!) : main;
  });
  const nested = plan.roots.map((root) => root.nested.map((n) => ({ ...n, ledger: quotas.view(n.key, 0)! })));
  const above = plan.roots.map((root) =>
    root.aboveKeys.map((key) => {
      quotas.bookedFromBelow(key);
      return quotas.view(key, 0)!;
    }),
  );
  const table = plan.table;
  const current = (m: Mount, i: number) =>
    sameLedger(ledgers[i]!, m.ledger) && nested[i]!.every((n, j) => n.ledger === m.nested?.[j]?.ledger) && above[i]!.every((a, j) => a === m.above?.[j]);
  plans.take(plan);
  if (table && table.every(current)) return table;
  plan.table = plan.roots.map((root, i) => ({
    ...root,
    ledger: ledgers[i]!,
    nested: nested[i]!.length > 0 ? nested[i] : undefined,
    above: above[i]!.length > 0 ? above[i] : undefined,
    aboveKeys: root.aboveKeys.length > 0 ? root.aboveKeys : undefined,
  }));
  planOfTable.set(plan.table, { user, plan, plans });
  return plan.table;
}

function sameLedger(a: Ledger, b: Ledger): boolean {
  if (a instanceof JointLedger && b instanceof JointLedger) return a.main === b.main && a.also === b.also;
  return a === b;
}

/** How places of the users file become storage: `s3://…` needs the object store's settings. */
export interface PlaceOptions {
  /** `ftpkit serve --s3-endpoint`: wins over S3_ENDPOINT / AWS_ENDPOINT_URL. */
  s3Endpoint?: string;
  /** Explicit settings (tests); default: read from the environment when first needed. */
  s3?: S3Settings;
  /** One log line when an object store fails as a whole (missing bucket, credentials, unreachable). */
  log?: (event: string, fields: Record<string, string>) => void;
  /** One WARN per quota measure that left out folders the server may not read (the figure is short). */
  warn?: (event: string, fields: Record<string, string | number>) => void;
  /** The server's S3 per-key lock in its shared state (left out or null: it shares none). */
  keyLock?: SharedKeyLock | null;
  /** Other processes serve the same places (--workers, --state): local new-name reservations are shared with them. */
  sharedNames?: boolean;
  /** A local place's temp directory (.ftpkit-tmp) was made by this server: `removeIfEmpty` when it stops. */
  ownTempDir?: (realRoot: string, removeIfEmpty: () => void) => void;
  /** S3 places abort multipart uploads older than this under their prefix (left out: none). */
  staleUploads?: StaleUploads;
  /** The server's budget for the name lists local listings hold (left out: none). */
  nameBudget?: NameListBudget;
  /**
   * The directories some account's mount limits (drop boxes), from the users file: only a home or
   * unlimited mount of one of these also books into its "dir:" ledger. Left out: every one does
   * (a login service that cannot tell). Read when a user's table is planned, once per user record:
   * it must change only with the records (a reload of the users file makes new ones).
   */
  limitedDirs?: ReadonlySet<string>;
  /**
   * The homes and mounts that hold a limited directory below them (server/auth/nested-limits.ts),
   * found once per users-file load: uploads there book into the box's ledger too. Left out: none.
   */
  nestedLimits?: ReadonlyMap<string, readonly NestedLimit[]>;
  /**
   * The ledgers of the places above each home and mount (server/auth/nested-limits.ts), found once
   * per users-file load: what is stored through the lower place books there too. Left out: none.
   */
  containers?: ReadonlyMap<string, readonly ContainingLedger[]>;
}

const lastOutage = new Map<string, number>();

/** The backend for a home or mount place: a local directory or `s3://bucket/prefix`. */
export function storageAt(place: string, opts: PlaceOptions = {}): Storage {
  if (!isS3Url(place)) return new LocalStorage(place, { sharedNames: opts.sharedNames, ownTempDir: opts.ownTempDir, nameBudget: opts.nameBudget });
  const log = opts.log;
  return new S3Storage(opts.s3 ?? s3SettingsFromEnv(process.env, opts.s3Endpoint), parseS3Url(place), {
    keyLock: opts.keyLock ?? null,
    staleUploads: opts.staleUploads ?? null,
    onOutage: log && ((reason) => {
      // Once a minute per place, even across table rebuilds (a refused login forgets its table).
      const now = performance.now();
      if (now - (lastOutage.get(place) ?? -Infinity) < 60_000) return;
      lastOutage.set(place, now);
      log("object store unavailable", { place, reason });
    }),
  });
}

function planMounts(user: UserRecord, places: PlaceOptions): MountPlan {
  const home = storageAt(user.home, places);
  // Named for the places it counts too (user-ledger.ts): a changed home or mount is a new ledger.
  const userKey = userLedgerKey(user);
  // Booking into a directory's ledger costs a store update per finished upload under --state redis:
  // only where a limit set on that directory elsewhere needs it.
  const limited = (dir: string) => !places.limitedDirs || places.limitedDirs.has(dir);
  const homeAlso = limited(user.home) ? `dir:${user.home}` : undefined;
  const ledgers: LedgerSpec[] = [];
  /**
   * The bytes under some places, summed. Folders the server may not read are left out, with one WARN
   * for the measure (it under-counted silently). Of several places, one that fails as a whole counts
   * 0 (a missing mount is warned about at each users-file load, an object store away), but not a local
   * place's passing failure (out of descriptors, an I/O error): the measure fails, and the ledger stays
   * unmeasured until the next (it counted 0 for the session's life). `alone`: a ledger of one directory fails with it.
   */
  const sumOf = async (ledger: string, at: ReadonlyArray<{ storage: Storage; place: string; mount?: string }>, alone = false) => {
    let total = 0;
    let unreadable = 0;
    const short: typeof at[number][] = [];
    for (const p of at) {
      const note = (folders: number) => {
        unreadable += folders;
        short.push(p);
      };
      total += await p.storage.usage("", note).catch((err) => {
        // An object store away counts 0 here, as before: its own uploads fail meanwhile, and failing
        // the measure refused the user's uploads to her local home (and, shared, her login) for it.
        const passing = err instanceof StorageError && (err.kind === "transient" || err.kind === "io");
        if (alone || (passing && p.storage instanceof LocalStorage)) throw err;
        return 0;
      });
    }
    if (unreadable > 0) {
      const mounts = short.flatMap((p) => (p.mount ? [p.mount] : []));
      places.warn?.("quota measure incomplete: folders the server cannot read are left out, the usage is short", {
        user: user.name,
        ...(mounts.length > 0 ? { mount: mounts.join(",") } : { ledger }),
        place: short.map((p) => p.place).join(","),
        folders: unreadable,
      });
    }
    return total;
  };
  const placeOf = (location: string) => ({ place: location, mount: roots.find((r) => r.location === location)?.vpath });
  // One reference per ledger (releaseMounts gives one back per key), whatever the mounts of its
  // directory; a directory with a limit is measured under it, whichever mount named it first.
  const spec = (key: string, limit: number, storage: () => Storage, location: string) =>
    measured(key, limit, () => sumOf(key, [{ storage: storage(), ...placeOf(location) }], true));
  const measured = (key: string, limit: number, measure: () => Promise<number>) => {
    const known = ledgers.find((l) => l.key === key);
    if (!known) ledgers.push({ key, limit, measure });
    else if (known.limit === 0) known.limit = limit;
  };
  // The ledgers at or above a place (another mount of the same directory too), but those its own
  // bookings reach already (its own, its "dir:", the user's for an unlimited mount inside the home:
  // booked once). Measured as the ledger's owner measures it.
  const aboveOf = (place: string, own: ReadonlyArray<string | undefined>) =>
    (places.containers?.get(place) ?? [])
      .filter((c) => !own.includes(c.key))
      .map((c) => {
        let stores: Storage[] | null = null;
        measured(c.key, 0, async () => {
          stores ??= c.places.map((p) => storageAt(p, places));
          return sumOf(c.key, stores.map((storage, i) => ({ storage, ...placeOf(c.places[i]!) })));
        });
        return c.key;
      });
  // A box below this place: measured as its own directory (made only if a limit ever measures it
  // here), so its temp directory's uploads in flight are not counted twice.
  const nestedIn = (place: string) =>
    (places.nestedLimits?.get(place) ?? []).map((n) => {
      let box: Storage | null = null;
      spec(`dir:${n.dir}`, 0, () => (box ??= storageAt(n.dir, places)), n.dir);
      return { prefix: n.prefix, key: `dir:${n.dir}` };
    });
  const homeNested = nestedIn(user.home);
  const roots: MountPlan["roots"] = [{ vpath: "/", id: `dir:${user.home}`, storage: home, location: user.home, perms: new Set(user.perms), ledgerKey: userKey, alsoKey: homeAlso, limit: user.quota, nested: homeNested, aboveKeys: aboveOf(user.home, [userKey, homeAlso, ...homeNested.map((n) => n.key)]) }];
  const chargedToUser: Array<{ storage: Storage; place: string }> = [{ storage: home, place: user.home }];
  if (homeAlso) spec(homeAlso, 0, () => home, user.home);
  for (const m of user.mounts) {
    const storage = storageAt(m.dir, places);
    const ledgerKey = m.quota > 0 ? `dir:${m.dir}` : userKey;
    const alsoKey = m.quota > 0 || !limited(m.dir) ? undefined : `dir:${m.dir}`;
    if (m.quota > 0 || alsoKey) spec(`dir:${m.dir}`, m.quota, () => storage, m.dir);
    // A mount without its own limit counts in the user's quota, unless the user cannot store there:
    // a read-only /pub of 2 GB is not hers and she could never free it (it made every upload 552).
    if (m.quota <= 0 && (m.perms.includes("write") || m.perms.includes("modify"))) chargedToUser.push({ storage, place: m.dir });
    const limit = m.quota > 0 ? m.quota : user.quota;
    const mountNested = nestedIn(m.dir);
    const aboveKeys = aboveOf(m.dir, [ledgerKey, alsoKey, `dir:${m.dir}`, ...mountNested.map((n) => n.key)]);
    roots.push({ vpath: normalizeVirtualPath("/", m.vpath), id: `dir:${m.dir}`, storage, location: m.dir, perms: new Set(m.perms), ledgerKey, alsoKey, limit, nested: mountNested, aboveKeys });
  }
  // First (measured first), and once: a mount of the user's own inside her home named it as a ledger above.
  const mine = ledgers.findIndex((l) => l.key === userKey);
  if (mine >= 0) ledgers.splice(mine, 1);
  ledgers.unshift({
    key: userKey,
    limit: user.quota,
    measure: () => sumOf(userKey, chargedToUser.map((p) => ({ ...p, ...placeOf(p.place) }))),
  });
  return { roots, ledgers, table: null, homeChecked: null };
}

export function releaseMounts(mounts: readonly Mount[], quotas: QuotaRegistry): void {
  const owner = planOfTable.get(mounts);
  if (owner) owner.plans.give(owner.user, owner.plan);
  const keys = mounts.flatMap((m) => [m.ledgerKey, ...(m.alsoKey ? [m.alsoKey] : []), ...(m.nested ?? []).map((n) => n.key), ...(m.aboveKeys ?? [])]);
  for (const key of new Set(keys)) quotas.release(key);
}

/** Drop a user's cached table (its home turned out to be unusable: check again next time). */
export function forgetMounts(plans: MountPlans, user: UserRecord): void {
  plans.delete(user);
}

/**
 * Whether a session may see the usage of `m`'s ledger (AVBL, ALLO, SITE QUOTA). Not when a mount it
 * may not read is charged to it: a write-only drop box's bytes are other uploaders' (how much, and
 * when, polled), as is anonymous's own quota, which every anonymous session shares. vsftpd's
 * anonymous upload directory tells nothing either; a full box still answers its upload with 552.
 */
export function usageShown(session: { mounts: readonly Mount[]; user: { name: string } | null }, m: Mount): boolean {
  const { mounts } = session;
  const userKey = mounts[0]?.ledgerKey;
  const anonymous = session.user?.name === "anonymous";
  return mounts.every((o) => o.ledgerKey !== m.ledgerKey || o.perms.has("read") || (o.ledgerKey === userKey && !anonymous));
}
