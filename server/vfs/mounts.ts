import type { Perm, UserRecord } from "../auth/types.ts";
import type { Storage } from "../storage/backend.ts";
import { LocalStorage } from "../storage/local.ts";
import { normalizeVirtualPath } from "../../protocol/path.ts";
import type { QuotaLedger, QuotaRegistry } from "./quota.ts";

/** One root of a user's tree: the home at "/" or a virtual directory mounted at `vpath`. */
export interface Mount {
  vpath: string;
  /** Stable identity of the real place (for caches); never shown to clients. */
  id: string;
  storage: Storage;
  perms: ReadonlySet<Perm>;
  /** The ledger this mount's writes are charged to (the user's, or the mount's own). */
  ledger: QuotaLedger;
  ledgerKey: string;
}

/**
 * Build a user's mount table: the home at "/" plus each virtual directory. A mount with its own
 * size limit gets a ledger keyed by its real directory (shared by every user who mounts it);
 * the others are charged to the user's ledger.
 */
export async function buildMounts(user: UserRecord, quotas: QuotaRegistry): Promise<Mount[]> {
  const home = new LocalStorage(user.home);
  const ownMounts = user.mounts.filter((m) => m.quota === 0).map((m) => new LocalStorage(m.dir));
  const userKey = `user:${user.name}`;
  const userLedger = await quotas.acquire(userKey, user.quota, async () => {
    let total = await home.usage();
    for (const s of ownMounts) total += await s.usage().catch(() => 0);
    return total;
  });
  const mounts: Mount[] = [
    { vpath: "/", id: `dir:${user.home}`, storage: home, perms: new Set(user.perms), ledger: userLedger, ledgerKey: userKey },
  ];
  for (const m of user.mounts) {
    const storage = new LocalStorage(m.dir);
    let ledger = userLedger;
    let ledgerKey = userKey;
    if (m.quota > 0) {
      ledgerKey = `dir:${m.dir}`;
      ledger = await quotas.acquire(ledgerKey, m.quota, () => storage.usage());
    }
    mounts.push({ vpath: normalizeVirtualPath("/", m.vpath), id: `dir:${m.dir}`, storage, perms: new Set(m.perms), ledger, ledgerKey });
  }
  return mounts;
}

export function releaseMounts(mounts: readonly Mount[], quotas: QuotaRegistry): void {
  for (const key of new Set(mounts.map((m) => m.ledgerKey))) quotas.release(key);
}
