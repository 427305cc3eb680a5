// Resuming a segmented download (--segments): the bytes each segment already holds are checked
// against the server's ranged digest before the segments go on.
import { createHasher } from "../protocol/digest.ts";
import { localDigest, uncheckedPrefixReason, type FileContext } from "./file-transfer.ts";
import { hashRange } from "./hasher.ts";
import { HASH_NAMES } from "./remote-hash.ts";
import type { Segment } from "./segmented.ts";
import type { Session } from "./session.ts";

/**
 * Each started segment's bytes so far are checked against the server's digest of the same range (as
 * a single get checks its prefix); a segment that differs is fetched again. The file's size and time
 * may be unchanged while its bytes are not, and the digest of the whole only fails at the end.
 *
 * The checks run side by side, over the job's session and as many more as the job has segments
 * (`count`), as the segments themselves do: a server reads the whole range to hash it, and one
 * after another a resumed job of N segments waited N of those reads before its first byte. The
 * extra sessions are returned idle and logged in, for the segments to go on over; one that could
 * not be opened only means fewer checks at a time. On a failure they are closed, and it is thrown.
 */
export async function checkSegments(first: Session, open: () => Promise<Session>, count: number, remote: string, segments: Segment[], fd: number, ctx: FileContext): Promise<Session[]> {
  const started = segments.filter((s) => s.pos > s.start);
  if (started.length === 0) return [];
  const unchecked = () => ctx.note.info(`cannot verify the partial data (${uncheckedPrefixReason(ctx)}); resuming ${started.length} segment(s) where they stopped`);
  const algo = localDigest(first.client, ctx) ? ctx.algo : null;
  if (!algo) {
    unchecked();
    return [];
  }
  const queue = [...started];
  let verified = 0;
  /** The server gave no digest for a range: nothing more is asked, the segments go on unchecked. */
  let unverifiable = false;
  const check = async (s: Session): Promise<void> => {
    for (let seg = queue.shift(); seg && !unverifiable; seg = queue.shift()) {
      const asked = s.client.remoteDigest(remote, algo, { start: seg.start, end: seg.pos });
      asked.catch(() => {}); // awaited below; a local read failing first must not leave it unhandled
      // Hashed here while the server hashes its copy.
      const ours = createHasher(HASH_NAMES[algo].hash);
      hashRange(fd, seg.pos, ours, seg.start);
      const theirs = await asked;
      if (!theirs) {
        unverifiable = true;
        return;
      }
      if (ours.hex() === theirs.hex) {
        verified += seg.pos - seg.start;
        continue;
      }
      ctx.note.warn(`segment ${seg.start}-${seg.end}: the partial data differs from the server's bytes ${seg.start}-${seg.pos}; fetching the segment again`);
      seg.pos = seg.start;
    }
  };
  const extras: Session[] = [];
  const another = async (): Promise<void> => {
    let s: Session;
    try {
      s = await open();
    } catch {
      return; // a full server: the other connections check this one's share
    }
    extras.push(s);
    await check(s);
  };
  const more = Math.min(count, started.length) - 1;
  const results = await Promise.allSettled([check(first), ...Array.from({ length: Math.max(0, more) }, another)]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    for (const s of extras) s.destroy();
    throw failed.reason;
  }
  if (unverifiable) unchecked();
  else if (verified > 0) ctx.note.info(`partial data verified (${verified} bytes, ${algo} via ranged HASH); resuming`);
  return extras;
}
