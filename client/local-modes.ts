// The permission bits a download gives its part file and the file it publishes.
import { lstatSync, statSync } from "node:fs";

let umaskRead: number | undefined;

/** The process's umask, read once: reading it sets it to 0 for a moment, which another thread creating a file could see. */
export function umask(): number {
  return (umaskRead ??= process.umask());
}

/** A download's modes: the part file's while bytes land in it, and the published file's. */
export interface DownloadModes {
  part: number;
  final: number;
}

/**
 * A file that replaces `local` keeps its mode, as with curl -o, wget -O and rsync without -p (a key.pem
 * stays 0600, a script executable); setuid, setgid and sticky are not carried to new content. A new
 * file gets read and write from the umask, as any new file does (curl, touch). `listed`, the remote
 * mode a tree's listing shows, adds its execute bits, as lftp's mirror and git do: to a replaced file
 * only where it is readable (rsync's --executability), so no one may run what they may not read.
 */
export function downloadModes(local: string, listed: number | undefined): DownloadModes {
  const x = (listed ?? 0) & 0o111;
  const replaced = replacedMode(local);
  const final = replaced === null ? (0o666 | x) & ~umask() : replaced | (x & ((replaced & 0o444) >> 2));
  return { part: partMode(final), final };
}

/**
 * The permission bits of the regular file at `local`, or null. A link to one (a tree job replaces the
 * link) gives its target's: a link to a 0600 key was replaced by a 0644 file.
 */
function replacedMode(local: string): number | null {
  try {
    const st = lstatSync(local, { throwIfNoEntry: false });
    const file = st?.isSymbolicLink() ? statSync(local, { throwIfNoEntry: false }) : st;
    return file?.isFile() ? file.mode & 0o777 : null;
  } catch {
    return null; // cannot be looked at: as a new file
  }
}

/**
 * The part file may hold no more than the published file will show (its execute bits aside), plus
 * the owner's read and write (a resumed run reopens it; the owner may chmod it anyway): a secret's
 * bytes never land where others may read them, not even before the rename.
 */
function partMode(final: number): number {
  return (final & 0o666) | 0o600;
}
