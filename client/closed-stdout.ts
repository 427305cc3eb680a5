// `>&-`: standard output closed when the process started. Bun opens /dev/null in its place, so a
// write there succeeds and vanishes; the one trace left is that this descriptor is close-on-exec.

/** O_CLOEXEC in the "flags" of /proc/PID/fdinfo (octal): Linux shows a descriptor's close-on-exec there. */
const O_CLOEXEC = 0o2000000;

/**
 * Whether standard output was closed when this process started (`>&-`). The /dev/null Bun opens in
 * its place is close-on-exec, and no inherited descriptor can be (exec would have closed it):
 * `>/dev/null` (also `1<>/dev/null`, a spawner's "ignore"), a pipe or a file never are. Linux only
 * (/proc); false elsewhere.
 */
export function stdoutClosedAtStart(): boolean {
  try {
    const { readFileSync } = require("node:fs") as typeof import("node:fs");
    return closedIn(readFileSync(FDINFO, "utf8"));
  } catch {
    return false;
  }
}

/**
 * stdoutClosedAtStart, read without node:fs: the tuning re-execution asks before anything else is
 * loaded, and node:fs costs that first image ~1.5 ms to load.
 */
export async function stdoutClosedAtStartAsync(): Promise<boolean> {
  try {
    return closedIn(await Bun.file(FDINFO).text());
  } catch {
    return false;
  }
}

const FDINFO = "/proc/self/fdinfo/1";

function closedIn(fdinfo: string): boolean {
  const flags = /^flags:\s*([0-7]+)$/m.exec(fdinfo)?.[1];
  return flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) !== 0;
}
