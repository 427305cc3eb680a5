// One change at a time per object key. S3 answers "what is there now?" (HEAD) and "replace it" (PUT,
// CompleteMultipartUpload, DELETE, CopyObject) in separate requests, and the quota is settled with
// what that HEAD saw. Two sessions doing both for one key at once each counted the same old object:
// four DELEs of one 10 MiB file all answered 250 and gave back 40 MiB; two overwrites of a 20 MiB file
// each credited its 20 MiB (the ledger fell below what was stored, and the difference could be
// uploaded over the quota). Serialised, the second HEAD sees the first change.
//
// Within this process the sessions queue here. Processes sharing state (--workers, a cluster on one
// bucket with --state) take the key there too (the storage carries its server's store): a lease with a token and an expiry,
// renewed while the operation runs, given back by compare-and-delete. S3 itself has no lock.
import { StorageError } from "./backend.ts";

const tails = new Map<string, Promise<void>>();

/** A lock every process sharing the state store sees (server/state: RedisState). */
export interface SharedKeyLock {
  /** Take `name` for `ttlMs` under `token` if no one holds it; false: someone does. Rejects when the store is unreachable. */
  tryLock(name: string, token: string, ttlMs: number): Promise<boolean>;
  /** Extend a lease still held under `token`; false: it was lost (expired, taken over). */
  renew(name: string, token: string, ttlMs: number): Promise<boolean>;
  /** Give it back if still held under `token`. */
  unlock(name: string, token: string): Promise<void>;
  /**
   * A multipart upload of this process began (`live`) or ended; `entry` names it (s3-orphans.ts). Noted
   * so that the survivors of a --workers worker that dies abort its uploads (SharedState.uploadsOf).
   */
  noteUpload?(entry: string, live: boolean): Promise<void>;
}

/** How long a lease lasts unless renewed (a process that dies holding one blocks its key this long). */
export const LEASE_MS = 15_000;
/** Renewed this often while the operation runs. */
export const RENEW_MS = 5_000;
/** A key held elsewhere longer than this: the operation gets 450 (try again). */
const WAIT_MS = 30_000;

/**
 * Run `fn` holding the lock of every key (taken in sorted order, so two callers never deadlock).
 * `store`: the shared store of the server whose storage this is (null: it shares none). Each storage
 * carries its own server's: the package API runs several servers in one process, and one store for
 * all of them (the newest server's, before 0b63291) put a cluster node's leases where the cluster's
 * other nodes never looked, and refused a server without --state when another server's store was down.
 */
export async function withKeys<T>(keys: Iterable<string>, fn: () => Promise<T>, store: SharedKeyLock | null = null): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  const releases: Array<() => void | Promise<void>> = [];
  try {
    // This process's turn first: only one of its sessions at a time asks the store for a key.
    for (const key of sorted) releases.push(await lock(key));
    if (!store) return await fn();
    const leases = new Leases(store);
    releases.push(() => leases.release());
    for (const key of sorted) await leases.take(key);
    return await leases.during(fn);
  } finally {
    for (const release of releases.reverse()) await release();
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

/** The shared leases of one withKeys call. */
class Leases {
  private readonly held: string[] = [];
  private readonly token = crypto.randomUUID();

  constructor(private readonly store: SharedKeyLock) {}

  /** Wait (polling, with back-off) until the key is ours; 450 when the store cannot be reached or the key stays taken. */
  async take(name: string): Promise<void> {
    const deadline = performance.now() + WAIT_MS;
    let pause = 5;
    for (;;) {
      let ok: boolean;
      try {
        ok = await this.store.tryLock(name, this.token, LEASE_MS);
      } catch {
        // Unguarded, racing DELEs and overwrites would each settle the quota with the same old size.
        throw new StorageError("transient", "shared key lock unavailable", "shared state unreachable");
      }
      if (ok) {
        this.held.push(name);
        return;
      }
      if (performance.now() + pause > deadline) throw new StorageError("transient", "object locked by another server too long", "file busy");
      await Bun.sleep(pause);
      pause = Math.min(pause * 2, 100);
    }
  }

  /** Run `fn`, renewing the leases until it ends (an S3 commit or copy can outlast one lease). */
  async during<T>(fn: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => {
      for (const name of this.held) void this.store.renew(name, this.token, LEASE_MS).catch(() => false);
    }, RENEW_MS);
    try {
      return await fn();
    } finally {
      clearInterval(timer);
    }
  }

  /** Give every lease back (one the store cannot take back now expires by itself). */
  async release(): Promise<void> {
    await Promise.all(this.held.splice(0).reverse().map((name) => this.store.unlock(name, this.token).catch(() => {})));
  }
}

/** Keys currently locked or waited for in this process (tests: nothing may stay behind). */
export function lockedKeys(): number {
  return tails.size;
}
