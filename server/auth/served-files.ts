// Is one of the server's own files (its TLS key, its xferlog, the users file) inside a served directory?
// Used by `ftpkit serve --root` and `ftpkit user` (which refuse) and by the server (which warns at each load).
import { realpathSync } from "node:fs";
import { dirname, isAbsolute, relative } from "node:path";

/** `inner` is `outer` or lies below it (both real paths): "..x" is a name inside, not a way out. */
export function isInside(outer: string, inner: string): boolean {
  const rel = relative(outer, inner);
  return rel === "" || (rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel));
}

/**
 * Would a client served `dir` reach `file`? Its directory (or, when the file exists, the file
 * itself, through symlinks) lies in `dir`. A directory or file not there yet holds nothing.
 */
export function holdsFile(dir: string, file: string): boolean {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return false;
  }
  for (const place of [file, dirname(file)]) {
    try {
      if (isInside(real, realpathSync(place))) return true;
    } catch {}
  }
  return false;
}

/** One of the server's own files, and what a user served it could do. */
export interface OwnFile {
  /** Absolute path. */
  path: string;
  /** "the users file", "the TLS private key /etc/…": said in the warning. */
  what: string;
  /** "download every password hash, …": said in the warning. */
  risk: string;
}

/**
 * Each local home or mount of `users` that holds one of `files` (the place and the file both
 * followed through symlinks), as one line per case; the users keep working. Each path is resolved
 * once (a users file of 10,000 homes: ~10,000 realpath calls, ~2 µs each).
 */
export function exposedFiles(users: Iterable<{ name: string; home: string; mounts: ReadonlyArray<{ dir: string }> }>, files: readonly OwnFile[], isLocal: (place: string) => boolean): string[] {
  const real = (path: string): string | null => {
    try {
      return realpathSync(path);
    } catch {
      return null;
    }
  };
  const targets = files.map((f) => ({ f, reals: [real(f.path), real(dirname(f.path))].filter((r): r is string => r !== null) }));
  const places = new Map<string, string | null>();
  const lines: string[] = [];
  for (const u of users) {
    for (const place of [u.home, ...u.mounts.map((m) => m.dir)]) {
      if (!isLocal(place)) continue;
      if (!places.has(place)) places.set(place, real(place));
      const dir = places.get(place);
      if (dir == null) continue;
      for (const { f, reals } of targets) {
        if (reals.some((r) => isInside(dir, r))) lines.push(`${u.name} is served ${place}, which holds ${f.what}: ${u.name} can ${f.risk}; move ${f.what === "the users file" ? "the users file" : "it"} or that directory`);
      }
    }
  }
  return lines;
}
