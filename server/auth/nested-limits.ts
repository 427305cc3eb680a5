// Which homes and mounts hold a directory that some account's mount limits (a drop box below a home):
// found once per users-file load, so an upload needs only a prefix check of its key.
import { realpathSync } from "node:fs";
import { isS3Url } from "../../protocol/s3-url.ts";

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
