import { FtpError } from "../../protocol/errors.ts";
import type { HashAlgorithm } from "../../protocol/hash.ts";
import type { EntryStat } from "../storage/backend.ts";
import { checkDirName, type Resolved } from "../vfs/resolve.ts";
import type { RateLimiter } from "./rate.ts";
import { HashCache } from "./hash-cache.ts";
import { createHasher } from "../../protocol/digest.ts";
import { within } from "../timers.ts";

const HASH_CHUNK = 1024 * 1024;
/** How long a HASH waits for the digest a running download of the same version is computing. */
const PENDING_WAIT_MS = 2000;

/**
 * Digest of bytes [start, end) of a file for HASH/XMD5…: from the cache when a transfer already
 * computed it, else read in 1 MiB chunks that yield to the event loop (other sessions keep
 * running) and are paced by the user's hash budget (a client cannot burn the CPU). Sessions asking
 * for the same range of the same version at once share one computation (HashCache.share).
 */
export async function hashFile(
  r: Resolved,
  algorithm: HashAlgorithm,
  range: { start: number; end: number | null },
  cache: HashCache,
  budget: RateLimiter,
  /** The session ended: it stops waiting (a HASH never outlives its client), and its reading stops once no session waits for it. */
  gone?: AbortSignal,
): Promise<{ hex: string; start: number; end: number }> {
  const st = checkDirName(r, await r.mount.storage.stat(r.key));
  if (st.type !== "file") throw new FtpError(550, "Not a regular file");
  const start = Math.min(range.start, st.size);
  const end = Math.min(range.end ?? st.size, st.size);
  const key = HashCache.key(`${r.mount.id}/${r.key}`, st, algorithm, start, end);
  const cached = cache.get(key);
  if (cached) return { hex: cached, start, end };
  const hex = await cache.share(key, (abandoned) => computeDigest(r, st, algorithm, start, end, key, cache, budget, abandoned), gone);
  return { hex, start, end };
}

async function computeDigest(
  r: Resolved,
  st: EntryStat,
  algorithm: HashAlgorithm,
  start: number,
  end: number,
  key: string | null,
  cache: HashCache,
  budget: RateLimiter,
  abandoned: () => boolean,
): Promise<string> {
  // A download of this very version is hashing it as it sends: its digest, if it completes soon. A
  // slow reader's download held every other session's HASH of the file for as long as it trickled
  // (and their QUIT behind it): past PENDING_WAIT_MS, the file is read here instead.
  let sending: string | undefined;
  const running = cache.pending(key);
  if (running) await within(running.then((hex) => void (sending = hex)), PENDING_WAIT_MS);
  if (sending) return sending;
  // An object store may keep the digest the upload computed: no download for the whole file.
  if (start === 0 && end === st.size && r.mount.storage.storedDigest) {
    const stored = await r.mount.storage.storedDigest(r.key, algorithm).catch(() => null);
    if (stored) {
      cache.set(key, stored);
      return stored;
    }
  }
  const file = await r.mount.storage.openRead(r.key);
  const hasher = createHasher(algorithm);
  try {
    const buf = new Uint8Array(Math.max(1, Math.min(HASH_CHUNK, end - start)));
    let pos = start;
    while (pos < end) {
      if (abandoned()) throw new FtpError(426, "Session closed; hash abandoned");
      const want = Math.min(buf.length, end - pos);
      const got = file.read(want === buf.length ? buf : buf.subarray(0, want), pos);
      const n = typeof got === "number" ? got : await got;
      // Shorter than its stat said: the digest of fewer bytes would be answered for [start, end).
      if (n <= 0) throw new FtpError(451, "The file changed while it was hashed; try again");
      cache.bytesRead += n;
      hasher.update(buf.subarray(0, n));
      pos += n;
      const ms = budget.delayFor(n);
      await (ms > 0 ? Bun.sleep(ms) : new Promise((resolve) => setImmediate(resolve)));
    }
  } finally {
    file.close();
  }
  const hex = hasher.hex();
  // Cached only if the file did not change while it was read.
  const after = await r.mount.storage.stat(r.key).catch(() => null);
  if (after?.version !== undefined && after.version === st.version) cache.set(key, hex);
  return hex;
}
