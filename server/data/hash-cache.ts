/**
 * Digests computed while files streamed (or by HASH), keyed by (place, size, mtime, algorithm,
 * range): a HASH right after a transfer answers without reading the file again. Any change to the
 * file changes its size or mtime, so stale entries are simply never hit again.
 */
export class HashCache {
  private entries = new Map<string, string>();

  constructor(private readonly maxEntries = 10_000) {}

  static key(place: string, size: number, mtime: Date, algorithm: string, start = 0, end = size): string {
    return `${place}\0${size}\0${mtime.getTime()}\0${algorithm}\0${start}-${end}`;
  }

  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  set(key: string, hex: string): void {
    if (this.entries.size >= this.maxEntries) {
      // Drop the oldest insertion (Map keeps insertion order).
      const first = this.entries.keys().next().value;
      if (first !== undefined) this.entries.delete(first);
    }
    this.entries.set(key, hex);
  }
}
