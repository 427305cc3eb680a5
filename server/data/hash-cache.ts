import type { EntryStat } from "../storage/backend.ts";

/**
 * Digests computed while files streamed (or by HASH), keyed by (place, storage version, algorithm,
 * range): a HASH right after a transfer answers without reading the file again. The storage's
 * `version` (local: device, inode, size, mtime and ctime in ns) moves with every content change,
 * including one that keeps size and mtime (`cp -p`, rsync, a restore); a backend that cannot say
 * gets no caching at all, so a HASH never vouches for bytes it did not read.
 */
export class HashCache {
  private entries = new Map<string, string>();

  constructor(private readonly maxEntries = 10_000) {}

  /** The cache key, or null when the storage gives no version (such entries are never cached). */
  static key(place: string, st: EntryStat, algorithm: string, start = 0, end = st.size): string | null {
    if (st.version === undefined) return null;
    return `${place}\0${st.version}\0${algorithm}\0${start}-${end}`;
  }

  get(key: string | null): string | undefined {
    return key === null ? undefined : this.entries.get(key);
  }

  set(key: string | null, hex: string): void {
    if (key === null) return;
    if (this.entries.size >= this.maxEntries) {
      // Drop the oldest insertion (Map keeps insertion order).
      const first = this.entries.keys().next().value;
      if (first !== undefined) this.entries.delete(first);
    }
    this.entries.set(key, hex);
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
