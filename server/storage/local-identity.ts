// A local file's identity, its device and inode: the MLSD `unique` fact made of them, whether a name
// still names an open file, whether another process holds a flock(2) on an inode. Apart from
// local-jail.ts, which keeps the system calls made through bun:ffi; these need only node:fs.
import * as fs from "node:fs";

/** The major and minor numbers of a stat's dev_t (glibc's encoding). */
function majorMinor(dev: bigint): [major: bigint, minor: bigint] {
  return [((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn), (dev & 0xffn) | ((dev >> 12n) & ~0xffn)];
}

/** The `unique` fact of a file: its device (major, minor) and inode, in hex. */
export function uniqueFact(major: number, minor: number, ino: bigint | number): string {
  return `${major.toString(16)}.${minor.toString(16)}g${ino.toString(16)}`;
}

/** The same from a stat's dev_t. */
export function uniqueFromDev(dev: bigint, ino: bigint): string {
  const [major, minor] = majorMinor(dev);
  return uniqueFact(Number(major), Number(minor), ino);
}

/**
 * `path` still names the file open at `fd` (same device and inode): a lock taken on an open file
 * guards that name only while this holds (a rival may have unlinked or replaced it meanwhile).
 */
export function pathNamesOpenFile(path: string, fd: number): boolean {
  try {
    const open = fs.fstatSync(fd);
    const named = fs.lstatSync(path);
    return open.ino === named.ino && open.dev === named.dev;
  } catch {
    return false;
  }
}

/**
 * Does a process hold a flock(2) lock on the file of device `dev` and inode `ino` (/proc/locks)? For
 * a file this process cannot open to ask (mode 000, the server not root). False where /proc is not
 * there to say.
 */
export function flockHeldOn(dev: number | bigint, ino: number | bigint): boolean {
  let text: string;
  try {
    text = fs.readFileSync("/proc/locks", "latin1");
  } catch {
    return false;
  }
  const [major, minor] = majorMinor(BigInt(dev));
  // "1: FLOCK  ADVISORY  WRITE 25299 fe:00:2146384 0 EOF" (device in hex, inode in decimal); "->" lines wait for one.
  for (const m of text.matchAll(/^\d+: FLOCK\s.*?\s([0-9a-f]+):([0-9a-f]+):(\d+)\s/gm)) {
    if (BigInt(`0x${m[1]}`) === major && BigInt(`0x${m[2]}`) === minor && BigInt(m[3]!) === BigInt(ino)) return true;
  }
  return false;
}
