// Reading whole directories of the local backend: the sorted (and, for big directories, shared)
// name list of a listing, and the usage walk of quotas. Split out of local.ts.
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { closeQuietly, fdPath, O_PATH_FLAG, statAt, type Jail } from "./local-jail.ts";

/** Directories at least this big share one sorted name list between concurrent listings. */
const SHARED_NAMES_MIN = 1000;
const sharedNames = new Map<string, string[]>();
const SHARED_NAMES_MAX = 16;

/**
 * The names of the directory open as `fd`, sorted. Big ones are shared by every listing of the same
 * unchanged directory (keyed by device, inode, mtime and ctime in ns): fifty sessions listing one
 * 100,000-entry directory and reading nothing hold one name list, not fifty.
 */
export async function sortedNames(fd: number): Promise<string[]> {
  const st = fs.fstatSync(fd, { bigint: true });
  const version = `${st.dev}:${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
  const hit = sharedNames.get(version);
  if (hit) return hit;
  const names = (await fsp.readdir(fdPath(fd))).sort();
  if (names.length >= SHARED_NAMES_MIN) {
    if (sharedNames.size >= SHARED_NAMES_MAX) sharedNames.delete(sharedNames.keys().next().value!);
    sharedNames.set(version, names);
  }
  return names;
}

/** Entries stat'ed between two yields of a usage walk (≈1–2 ms of lstat calls). */
const USAGE_BATCH = 1000;

/**
 * Bytes of regular files under the directory (or file) open as `start`, walked through opened
 * directories (never following links) in batches that yield to the event loop: 100,000 files never
 * stall other sessions. `skipTop` is a name left out at the top level (the temp directory of
 * uploads in progress, which their own reservations book). `start` stays open: the caller's.
 */
export async function diskUsage(jail: Jail, start: number, skipTop: string | null): Promise<number> {
  let total = 0;
  let sinceYield = 0;
  const walk = async (fd: number, depth: number, top: boolean): Promise<void> => {
    if (depth > 64) return;
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(fdPath(fd), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (++sinceYield >= USAGE_BATCH) {
        sinceYield = 0;
        await new Promise<void>((r) => setImmediate(r));
      }
      if (e.isFile()) {
        total += statAt(fd, e.name)?.size ?? 0;
      } else if (e.isDirectory()) {
        if (top && e.name === skipTop) continue;
        let child: number;
        try {
          child = jail.openAt(fd, e.name, O_PATH_FLAG | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
        } catch {
          continue;
        }
        try {
          await walk(child, depth + 1, false);
        } finally {
          closeQuietly(child);
        }
      }
    }
  };
  const st = fs.fstatSync(start);
  if (st.isFile()) return st.size;
  if (!st.isDirectory()) return 0;
  await walk(start, 0, true);
  return total;
}
