// The name of a user's quota ledger. It says what the ledger counts, not only whose it is: keyed by
// the user's name alone, a ledger outlived a change of her home or mounts (a users-file edit, `user
// del` + `user add --home`, `user mount`), as sessions and reconnects within the linger kept it, and
// in a shared store for as long as any node used it. New logins then counted the old directories:
// 1,744,096 bytes were stored under a 1 MB quota in a new home already holding 900 KB, and a user
// moved from a full home to an empty one was refused with 552. A new layout is a new ledger,
// measured afresh; sessions still open under the old one keep theirs, as they keep their old home,
// and the old ledger's keys in a shared store expire as any idle ledger's do.
import { realpathSync } from "node:fs";
import { dirname } from "node:path";
import { isS3Url } from "../../protocol/s3-url.ts";

/** What a user's own ledger is made of (a UserRecord, or the parts of one the users file gives). */
export interface LedgerOwner {
  name: string;
  home: string;
  mounts: ReadonlyArray<{ dir: string; quota: number; perms: readonly string[] }>;
}

/**
 * The places a user's own quota counts: her home, and each mount without a limit of its own that she
 * may store in (a read-only /pub is not hers: she could never free it). Mounts in the users file's order.
 */
export function chargedPlaces(u: LedgerOwner): string[] {
  return [u.home, ...u.mounts.filter((m) => m.quota <= 0 && (m.perms.includes("write") || m.perms.includes("modify"))).map((m) => m.dir)];
}

/**
 * The key of the user's own quota ledger: her name and a digest of the places it counts (local
 * directories by their real paths, object-store places as s3://bucket/prefix). SHA-256, not
 * Bun.hash: every node sharing a store must name the ledger alike, whatever Bun it runs. Real
 * paths: two nodes reading one users file by two spellings (a symbolic link, a relative path) named
 * one home twice, and with two ledgers in the store a user stored 1,400,000 bytes under 1 MB.
 */
export function userLedgerKey(u: LedgerOwner): string {
  const [home, ...mounts] = chargedPlaces(u).map(realPlace);
  // The mounts' order in the file changes nothing counted.
  const places = JSON.stringify([home, ...[...new Set(mounts)].sort()]);
  const digest = new Bun.CryptoHasher("sha256").update(places).digest("hex").slice(0, 16);
  return `user:${u.name}:${digest}`;
}

/** A local place's real path: of its nearest existing directory, the rest as named (a home made at the first login keeps its key). */
function realPlace(place: string): string {
  if (isS3Url(place)) return place;
  let rest = "";
  for (let dir = place; ; ) {
    try {
      return realpathSync(dir) + rest;
    } catch {
      const up = dirname(dir);
      if (up === dir) return place;
      rest = dir.slice(up === "/" ? 1 : up.length) + rest;
      rest = rest.startsWith("/") ? rest : `/${rest}`;
      dir = up;
    }
  }
}
