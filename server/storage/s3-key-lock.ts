// One change at a time per object key (within this process). S3 answers "what is there now?" (HEAD)
// and "replace it" (PUT, CompleteMultipartUpload, DELETE, CopyObject) in separate requests, and the
// quota is settled with what that HEAD saw. Two sessions doing both for one key at once each counted
// the same old object: four DELEs of one 10 MiB file all answered 250 and gave back 40 MiB; two
// overwrites of a 20 MiB file each credited its 20 MiB (the ledger fell below what was stored, and
// the difference could be uploaded over the quota). Serialised, the second HEAD sees the first change.
// Sessions in other processes (--workers, a cluster on one bucket) are not covered: S3 itself has no
// lock; the README says so.

const tails = new Map<string, Promise<void>>();

/** Run `fn` holding the lock of every key (taken in sorted order, so two callers never deadlock). */
export async function withKeys<T>(keys: Iterable<string>, fn: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  const releases: Array<() => void> = [];
  try {
    for (const key of sorted) releases.push(await lock(key));
    return await fn();
  } finally {
    for (const release of releases.reverse()) release();
  }
}

async function lock(key: string): Promise<() => void> {
  const before = tails.get(key);
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = before ? before.then(() => mine) : mine;
  tails.set(key, tail);
  if (before) await before;
  return () => {
    release();
    if (tails.get(key) === tail) tails.delete(key);
  };
}

/** Keys currently locked or waited for (tests: nothing may stay behind). */
export function lockedKeys(): number {
  return tails.size;
}
