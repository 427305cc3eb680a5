// Descriptors have a hard ceiling (RLIMIT_NOFILE). At it, accept() fails with EMFILE while the
// connection waits in the backlog, and Bun's accept loop retries at once: measured, a server at its
// limit spun a core at 100% and new clients hung without a greeting until sessions ended. So the
// session cap is lowered until every admitted session can hold its peak at once; beyond it a client
// gets 421, as at --max-connections.
import { readdirSync, readFileSync } from "node:fs";
import { PARTS_IN_FLIGHT } from "./storage/s3-upload.ts";

/**
 * Most descriptors one session holds at once: the control socket; a passive listener or the data
 * socket (also the one MODE B keeps between transfers: a new PASV/EPSV/PORT/EPRT closes it first);
 * the sockets of an S3 upload's parts in flight (a local file takes one, fewer); one spare.
 */
export const FDS_PER_SESSION = 2 + PARTS_IN_FLIGHT + 1;
/** Kept free for what the process opens later: hashing threads, hook pipes, S3 and Redis sockets, a log reopened (the metrics endpoint's connections are counted apart). */
export const FD_HEADROOM = 32;

/** Descriptors open now (null where the platform cannot say). */
export function openDescriptors(): number | null {
  try {
    return readdirSync("/proc/self/fd").length - 1; // not the one reading the directory
  } catch {
    return null;
  }
}

/** The soft open-file limit now (null where the platform cannot say; Infinity when unlimited). */
export function descriptorSoftLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? (m[1] === "unlimited" ? Infinity : Number(m[1])) : null;
  } catch {
    return null;
  }
}

/**
 * Sessions that fit under the open-file `limit` with `open` descriptors already in use and `held`
 * more that other listeners may take (the metrics endpoint's connections): at least 1.
 */
export function sessionsWithin(limit: number, open: number, held = 0): number {
  return Math.max(1, Math.floor((limit - open - FD_HEADROOM - held) / FDS_PER_SESSION));
}
