// The permission bits a download gives its part file and the file it publishes.
import { lstatSync } from "node:fs";

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
 * A new file gets read and write from the umask, as any new file does (curl, touch). `listed`, the
 * remote mode a tree's listing shows, adds its execute bits, as lftp's mirror and git do.
 */
export function downloadModes(listed: number | undefined): DownloadModes {
  const final = (0o666 | ((listed ?? 0) & 0o111)) & ~umask();
  return { part: partMode(final), final };
}

/**
 * The part file may hold no more than the published file will show (its execute bits aside), plus
 * the owner's read and write (a resumed run reopens it; the owner may chmod it anyway).
 */
function partMode(final: number): number {
  return (final & 0o666) | 0o600;
}
