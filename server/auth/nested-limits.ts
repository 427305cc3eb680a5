// Which homes and mounts hold a directory that some account's mount limits (a drop box below a home):
// found once per users-file load, so an upload needs only a prefix check of its key.
import { realpathSync } from "node:fs";
import { isS3Url } from "../../protocol/s3-url.ts";
import { chargedPlaces, userLedgerKey } from "./user-ledger.ts";

/** A limited directory inside a home or mount place: its key prefix there, and the directory as the users file names it. */
export interface NestedLimit {
  /** The directory's key inside the place ("incoming" for a box at HOME/incoming). */
  prefix: string;
  /** The limited directory (its "dir:" ledger key is `dir:${dir}`). */
  dir: string;
}

/**
 * For each home or mount place of `users` that holds one of `limited` strictly below it (local places
 * compared by real path, so a home named through a symlink still holds the box; object-store prefixes
 * by their text), the limited directories inside it. Places holding none are absent. One realpath per
 * local place and limited directory, and only when some directory is limited.
 */
export function nestedLimits(users: Iterable<{ home: string; mounts: ReadonlyArray<{ dir: string }> }>, limited: ReadonlySet<string>): ReadonlyMap<string, readonly NestedLimit[]> {
  const out = new Map<string, NestedLimit[]>();
  if (limited.size === 0) return out;
  const byReal = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const u of users) {
    for (const place of [u.home, ...u.mounts.map((m) => m.dir)]) {
      if (seen.has(place)) continue;
      seen.add(place);
      const real = realOf(place);
      byReal.set(real, [...(byReal.get(real) ?? []), place]);
    }
  }
  for (const dir of limited) {
    const real = realOf(dir);
    for (let up = parentOf(real); up !== null; up = parentOf(up)) {
      const prefix = real.slice(up.length + (up.endsWith("/") ? 0 : 1));
      for (const place of byReal.get(up) ?? []) out.set(place, [...(out.get(place) ?? []), { prefix, dir }]);
    }
  }
  return out;
}

function realOf(place: string): string {
  if (isS3Url(place)) return place;
  try {
    return realpathSync(place);
  } catch {
    return place; // not there (yet): as named
  }
}

/** "/a/b" → "/a", "/a" → "/", "/" → null; "s3://b/p" → "s3://b", "s3://b" → null. */
function parentOf(path: string): string | null {
  const cut = path.lastIndexOf("/");
  if (isS3Url(path)) return cut < "s3://".length ? null : path.slice(0, cut);
  if (path === "/" || cut < 0) return null;
  return cut === 0 ? "/" : path.slice(0, cut);
}

/** A ledger that counts the bytes of a place above another: its key, and the places its measure sums. */
export interface ContainingLedger {
  key: string;
  places: readonly string[];
}

interface PlaceUser {
  name: string;
  home: string;
  mounts: ReadonlyArray<{ dir: string; quota: number; perms: readonly string[] }>;
}

/**
 * For each home or mount place of `users`, the ledgers of the places at or above it (by real path,
 * as nestedLimits): a user's ledger whose home (or unlimited writable mount) holds it or is it, a
 * limited directory's. What is stored through the place counts there too, as a measure of those
 * places would count it: alice's own mount of HOME/sub with a limit of its own (or anonymous's drop
 * box in her home) booked only its own ledger, while a DELE through her home gave the bytes back to
 * hers too, and she stored 1.8 MB under a 1 MB quota; the same with one directory mounted twice
 * (anonymous's limited drop box, and a moderator's unlimited mount of it that counts in his quota).
 * The place's own ledgers are among them: the caller leaves out those its bookings reach already.
 * Places with none are absent.
 */
export function containingLedgers(users: Iterable<PlaceUser>, limited: ReadonlySet<string>): ReadonlyMap<string, readonly ContainingLedger[]> {
  const list = [...users];
  const ledgersByReal = new Map<string, ContainingLedger[]>();
  const add = (place: string, ledger: ContainingLedger) => {
    const real = realOf(place);
    const known = ledgersByReal.get(real) ?? [];
    if (!known.some((l) => l.key === ledger.key)) known.push(ledger);
    ledgersByReal.set(real, known);
  };
  for (const u of list) {
    // The user ledger's places and name, as mounts.ts measures and names it.
    const mine = chargedPlaces(u);
    const key = userLedgerKey(u);
    add(u.home, { key, places: mine });
    for (const m of u.mounts) {
      if (m.quota > 0) add(m.dir, { key: `dir:${m.dir}`, places: [m.dir] });
      else if (mine.includes(m.dir)) add(m.dir, { key, places: mine });
    }
    for (const place of [u.home, ...u.mounts.map((m) => m.dir)]) if (limited.has(place)) add(place, { key: `dir:${place}`, places: [place] });
  }
  const out = new Map<string, ContainingLedger[]>();
  if (ledgersByReal.size === 0) return out;
  for (const u of list) {
    for (const place of [u.home, ...u.mounts.map((m) => m.dir)]) {
      if (out.has(place)) continue;
      const above: ContainingLedger[] = [];
      for (let up: string | null = realOf(place); up !== null; up = parentOf(up)) {
        for (const l of ledgersByReal.get(up) ?? []) if (!above.some((a) => a.key === l.key)) above.push(l);
      }
      if (above.length) out.set(place, above);
    }
  }
  return out;
}
