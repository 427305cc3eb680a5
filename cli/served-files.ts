// Is one of the server's own files (its TLS key, its xferlog, the users file) inside a served directory?
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
