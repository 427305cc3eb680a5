// The permission bits a download gives its part file and the file it publishes.
import { fchmodSync, fchownSync, fstatSync, lstat, stat, type Stats } from "node:fs";

let umaskRead: number | undefined;

/** The process's umask, read once: reading it sets it to 0 for a moment, which another thread creating a file could see. */
export function umask(): number {
  return (umaskRead ??= process.umask());
}

/** A download's modes: the part file's while bytes land in it, and the published file's. */
export interface DownloadModes {
  part: number;
  final: number;
  /**
   * Run as root over another user's file: its owner and group, for the part file before the rename
   * (cp and curl -o write in place, so the file stays theirs; a rename gave it to root). Else null.
   */
  owner: { uid: number; gid: number } | null;
}

/**
 * A file that replaces `local` keeps its mode, as with curl -o, wget -O and rsync without -p (a key.pem
 * stays 0600, a script executable); setuid, setgid and sticky are not carried to new content. A new
 * file gets read and write from the umask, as any new file does (curl, touch). `listed`, the remote
 * mode a tree's listing shows, adds its execute bits, as lftp's mirror and git do: to a replaced file
 * only where it is readable (rsync's --executability), so no one may run what they may not read.
 */
export async function downloadModes(local: string, listed: number | undefined): Promise<DownloadModes> {
  const x = (listed ?? 0) & 0o111;
  const file = await replacedFile(local);
  const replaced = file ? file.mode & 0o777 : null;
  const final = replaced === null ? (0o666 | x) & ~umask() : replaced | (x & ((replaced & 0o444) >> 2));
  // Only root may give a file away; anyone else's download is theirs, as a new file is.
  const owner = file && process.geteuid?.() === 0 && (file.uid !== 0 || file.gid !== (process.getegid?.() ?? 0)) ? { uid: file.uid, gid: file.gid } : null;
  return { part: partMode(final), final, owner };
}

/**
 * Before the rename publishes the part file `fd`: the replaced file's owner (DownloadModes.owner), then
 * the final mode (which the umask may have narrowed at the part file's creation; set after the chown,
 * which may clear set-id bits).
 */
export function setFinalModes(fd: number, modes: DownloadModes): void {
  const st = fstatSync(fd);
  if (modes.owner && (st.uid !== modes.owner.uid || st.gid !== modes.owner.gid)) {
    try {
      fchownSync(fd, modes.owner.uid, modes.owner.gid);
    } catch {
      // root without the right here (an NFS export with root_squash): the file stays the download's, as a new one
    }
  }
  if ((st.mode & 0o7777) !== modes.final) fchmodSync(fd, modes.final);
}

/**
 * The regular file at `local`, or null. A link to one (a tree job replaces the link) gives its
 * target's mode and owner: a link to a 0600 key was replaced by a 0644 file. On the thread pool: a
 * name not there yet is looked up under its directory's lock, which the other connections' file
 * creations hold; lstatSync waited for them on the main thread (a fifth of a 1,000-file get -r's
 * main-thread time).
 */
async function replacedFile(local: string): Promise<{ mode: number; uid: number; gid: number } | null> {
  try {
    const st = await statOffThread(lstat, local);
    const file = st.isSymbolicLink() ? await statOffThread(stat, local) : st;
    return file.isFile() ? file : null;
  } catch {
    return null; // not there, or cannot be looked at: as a new file
  }
}

/** The callback forms (node:fs/promises costs ~3 ms of every start-up: start-up-modules test). */
function statOffThread(call: (path: string, cb: (err: NodeJS.ErrnoException | null, st: Stats) => void) => void, path: string): Promise<Stats> {
  return new Promise((resolve, reject) => call(path, (err, st) => (err ? reject(err) : resolve(st))));
}

/**
 * The part file may hold no more than the published file will show (its execute bits aside), plus
 * the owner's read and write (a resumed run reopens it; the owner may chmod it anyway): a secret's
 * bytes never land where others may read them, not even before the rename.
 */
function partMode(final: number): number {
  return (final & 0o666) | 0o600;
}
