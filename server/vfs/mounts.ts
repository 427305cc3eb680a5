import type { Perm, UserRecord } from "../auth/types.ts";
import type { Storage } from "../storage/backend.ts";
import { LocalStorage } from "../storage/local.ts";
import { S3Storage } from "../storage/s3.ts";
import { s3SettingsFromEnv, type S3Settings } from "../storage/s3-request.ts";
import { isS3Url, parseS3Url } from "../../protocol/s3-url.ts";
import { normalizeVirtualPath } from "../../protocol/path.ts";
import type { Ledger, QuotaRegistry } from "./quota.ts";

/** One root of a user's tree: the home at "/" or a virtual directory mounted at `vpath`. */
export interface Mount {
  vpath: string;
  /** Stable identity of the real place (for caches); never shown to clients. */
  id: string;
  storage: Storage;
  /** Where the files are (a directory; an object-store prefix for S3): for operators' hooks only, never shown to clients. */
  location: string;
  perms: ReadonlySet<Perm>;
  /** The ledger this mount's writes are charged to (the user's, or the mount's own). */
  ledger: Ledger;
  ledgerKey: string;
}

interface LedgerSpec {
  key: string;
  limit: number;
  measure: () => Promise<number>;
}

/** What a user's mount table is made of, built once per user record (a users-file reload makes new records). */
interface MountPlan {
  roots: Array<Omit<Mount, "ledger">>;
  ledgers: LedgerSpec[];
  /** The table handed to the last login: sessions of one user share it while its ledgers are current. */
  table: Mount[] | null;
}

const plans = new WeakMap<UserRecord, MountPlan>();

/**
 * The user's mount table: the home at "/" plus each virtual directory. A mount with its own size
 * limit is charged to a ledger keyed by its real directory (shared by every user who mounts it);
 * the others to the user's ledger. Each call takes one reference on every ledger (see releaseMounts).
 * `fresh` says the table was built now (its storage has not been touched yet).
 */
export async function acquireMounts(user: UserRecord, quotas: QuotaRegistry, places: PlaceOptions = {}): Promise<{ mounts: Mount[]; fresh: boolean }> {
  let plan = plans.get(user);
  if (!plan) {
    plan = planMounts(user, places);
    plans.set(user, plan);
  }
  const ledgers = new Map<string, Ledger>();
  for (const spec of plan.ledgers) ledgers.set(spec.key, await quotas.acquire(spec.key, spec.limit, spec.measure));
  const table = plan.table;
  if (table && table.every((m) => ledgers.get(m.ledgerKey) === m.ledger)) return { mounts: table, fresh: false };
  plan.table = plan.roots.map((root) => ({ ...root, ledger: ledgers.get(root.ledgerKey)! }));
  return { mounts: plan.table, fresh: !table };
}

/** How places of the users file become storage: `s3://…` needs the object store's settings. */
export interface PlaceOptions {
  /** `ftpkit serve --s3-endpoint`: wins over S3_ENDPOINT / AWS_ENDPOINT_URL. */
  s3Endpoint?: string;
  /** Explicit settings (tests); default: read from the environment when first needed. */
  s3?: S3Settings;
  /** One log line when an object store fails as a whole (missing bucket, credentials, unreachable). */
  log?: (event: string, fields: Record<string, string>) => void;
}

const lastOutage = new Map<string, number>();

/** The backend for a home or mount place: a local directory or `s3://bucket/prefix`. */
export function storageAt(place: string, opts: PlaceOptions = {}): Storage {
  if (!isS3Url(place)) return new LocalStorage(place);
  const log = opts.log;
  return new S3Storage(opts.s3 ?? s3SettingsFromEnv(process.env, opts.s3Endpoint), parseS3Url(place), {
    onOutage: log && ((reason) => {
      // Once a minute per place, even across table rebuilds (a refused login forgets its table).
      const now = Date.now();
      if (now - (lastOutage.get(place) ?? -Infinity) < 60_000) return;
      lastOutage.set(place, now);
      log("object store unavailable", { place, reason });
    }),
  });
}

function planMounts(user: UserRecord, places: PlaceOptions): MountPlan {
  const home = storageAt(user.home, places);
  const userKey = `user:${user.name}`;
  const roots: MountPlan["roots"] = [{ vpath: "/", id: `dir:${user.home}`, storage: home, location: user.home, perms: new Set(user.perms), ledgerKey: userKey }];
  const chargedToUser: Storage[] = [home];
  const ledgers: LedgerSpec[] = [];
  for (const m of user.mounts) {
    const storage = storageAt(m.dir, places);
    const ledgerKey = m.quota > 0 ? `dir:${m.dir}` : userKey;
    if (m.quota > 0) ledgers.push({ key: ledgerKey, limit: m.quota, measure: () => storage.usage() });
    else chargedToUser.push(storage);
    roots.push({ vpath: normalizeVirtualPath("/", m.vpath), id: `dir:${m.dir}`, storage, location: m.dir, perms: new Set(m.perms), ledgerKey });
  }
  ledgers.unshift({
    key: userKey,
    limit: user.quota,
    measure: async () => {
      let total = 0;
      for (const s of chargedToUser) total += await s.usage().catch(() => 0);
      return total;
    },
  });
  return { roots, ledgers, table: null };
}

export function releaseMounts(mounts: readonly Mount[], quotas: QuotaRegistry): void {
  for (const key of new Set(mounts.map((m) => m.ledgerKey))) quotas.release(key);
}

/** Drop a user's cached table (its home turned out to be unusable: check again next time). */
export function forgetMounts(user: UserRecord): void {
  plans.delete(user);
}
