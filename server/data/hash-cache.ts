import { FtpError } from "../../protocol/errors.ts";
import type { EntryStat } from "../storage/backend.ts";

/**
 * Digests computed while files streamed (or by HASH), keyed by (place, storage version, algorithm,
 * range): a HASH right after a transfer answers without reading the file again. The storage's
 * `version` (local: device, inode, size, mtime and ctime in ns) moves with every content change,
 * including one that keeps size and mtime (`cp -p`, rsync, a restore); a backend that cannot say
 * gets no caching at all, so a HASH never vouches for bytes it did not read.
 */
/** A Map entry and two string headers (measured: 100,000 entries of 106 characters, 274 bytes of heap each). */
const ENTRY_OVERHEAD = 160;

interface SharedDigest {
  /** Sessions waiting for it; at 0 the computation stops at its next chunk. */
  askers: number;
  digest: Promise<string>;
}

/** One asker's wait on a shared digest: it leaves (426) when `gone` aborts, without stopping it for the others. */
function waitAsAsker(job: SharedDigest, gone?: AbortSignal): Promise<string> {
  if (gone?.aborted) return Promise.reject(new FtpError(426, "Session closed; hash abandoned"));
  job.askers++;
  return new Promise<string>((resolve, reject) => {
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      job.askers--;
      gone?.removeEventListener("abort", onGone);
    };
    const onGone = () => {
      leave();
      reject(new FtpError(426, "Session closed; hash abandoned"));
    };
    gone?.addEventListener("abort", onGone, { once: true });
    job.digest.then(
      (hex) => (leave(), resolve(hex)),
      (err: unknown) => (leave(), reject(err)),
    );
  });
}

export class HashCache {
  private entries = new Map<string, string>();
  private bytes = 0;
  /**
   * Digests a running transfer is computing (RETR hashing while it sends), by key: a HASH of the same
   * version waits for the send's digest instead of reading the file a second time, as a client
   * that asks on a second connection while its download runs does. One per running transfer.
   */
  private running = new Map<string, Promise<string | undefined>>();
  /**
   * HASH computations in flight, by key: four sessions asking HASH of one big file read it once.
   * The key holds the storage's version, so an asker that saw other bytes never joins.
   */
  private asked = new Map<string, SharedDigest>();
  /** Bytes HASH read from storage to compute digests (for /metrics: the hashing work done). */
  bytesRead = 0;

  /**
   * At most `maxEntries` digests, and at most `maxBytes` of them as `entryBytes` counts, keys
   * included: a key holds the file's path (up to ~4 KiB, what a command line holds), and 10,000
   * HASH RANG of one deep path made the cache hold 43 MB of heap (64 MB of RSS) with the count alone.
   */
  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  /** What one entry costs, at most: two bytes a UTF-16 unit (JS strings), and the Map's own. */
  static entryBytes(key: string, hex: string): number {
    return 2 * (key.length + hex.length) + ENTRY_OVERHEAD;
  }

  /** The cache key, or null when the storage gives no version (such entries are never cached). */
  static key(place: string, st: EntryStat, algorithm: string, start = 0, end = st.size): string | null {
    if (st.version === undefined) return null;
    return `${place}\0${st.version}\0${algorithm}\0${start}-${end}`;
  }

  /** Shared HASH computations reading now, and the sessions waiting for them (for /metrics). */
  get hashing(): { computations: number; askers: number } {
    let askers = 0;
    for (const job of this.asked.values()) askers += job.askers;
    return { computations: this.asked.size, askers };
  }

  /** Entries held and their bytes as entryBytes counts them. */
  get held(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  get(key: string | null): string | undefined {
    return key === null ? undefined : this.entries.get(key);
  }

  set(key: string | null, hex: string): void {
    if (key === null) return;
    const cost = HashCache.entryBytes(key, hex);
    if (cost > this.maxBytes) return;
    this.drop(key);
    // Drop the oldest insertions (Map keeps insertion order) until this one fits both bounds.
    while (this.entries.size >= this.maxEntries || this.bytes + cost > this.maxBytes) {
      const first = this.entries.keys().next().value;
      if (first === undefined) break;
      this.drop(first);
    }
    this.entries.set(key, hex);
    this.bytes += cost;
  }

  private drop(key: string): void {
    const hex = this.entries.get(key);
    if (hex === undefined) return;
    this.entries.delete(key);
    this.bytes -= HashCache.entryBytes(key, hex);
  }

  /**
   * A transfer starts computing the digest under `key`: the returned function settles it, once, with
   * the digest or with nothing (the transfer failed, or the file changed under it); a HASH waiting
   * for it then reads the file itself. The caller calls it on every path.
   */
  computing(key: string | null): (hex?: string) => void {
    if (key === null || this.running.has(key)) return () => {};
    let resolve!: (hex: string | undefined) => void;
    const digest = new Promise<string | undefined>((r) => (resolve = r));
    this.running.set(key, digest);
    return (hex) => {
      if (this.running.get(key) === digest) this.running.delete(key);
      resolve(hex);
    };
  }

  /**
   * The digest under `key` from the computation in flight, or from `compute` started now. `compute`
   * stops when `abandoned()` says every asker has left; it says so once, and the key is free from
   * that moment (a later asker starts anew, never joins a computation that is stopping). An asker
   * whose `gone` aborts leaves with a 426 of its own; the others keep waiting. A failure fails
   * every asker with the same error.
   */
  share(key: string | null, compute: (abandoned: () => boolean) => Promise<string>, gone?: AbortSignal): Promise<string> {
    if (key === null) return compute(() => gone?.aborted === true);
    let job = this.asked.get(key);
    if (!job) {
      const started: SharedDigest = { askers: 0, digest: Promise.resolve("") };
      const abandoned = () => {
        if (started.askers > 0) return false;
        if (this.asked.get(key) === started) this.asked.delete(key);
        return true;
      };
      this.asked.set(key, started);
      started.digest = compute(abandoned).finally(() => {
        if (this.asked.get(key) === started) this.asked.delete(key);
      });
      job = started;
    }
    return waitAsAsker(job, gone);
  }

  /** The digest a running transfer is computing under `key`, if one is. */
  pending(key: string | null): Promise<string | undefined> | undefined {
    return key === null ? undefined : this.running.get(key);
  }

  /**
   * Remember the digest of bytes that were just streamed, if the file is still the one they came
   * from: `before` is the stat taken before the bytes moved, `after` a stat taken now. A file
   * changed meanwhile (different version) is not remembered.
   */
  remember(place: string, before: EntryStat, after: EntryStat | null, algorithm: string, hex: string): void {
    if (!after || after.version === undefined || after.version !== before.version) return;
    this.set(HashCache.key(place, after, algorithm), hex);
  }
}
