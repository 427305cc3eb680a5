// What the name lists of running listings may hold at once (local backend). A listing reads its
// directory's names whole, to send them sorted, and holds them until it ends: a client that does not
// read holds them for as long as the stall timeout lets it.
import { StorageError, type DirEntry, type Listing } from "./backend.ts";

/** Lists below this (~3,000 names of 16 characters) are not counted. */
const SMALL_LIST_BYTES = 256 * 1024;
const NOTHING_HELD: Disposable = { [Symbol.dispose]: () => {} };

/** Heap bytes of a name beyond its characters (the string's header and its slot in the list), rounded up. */
const NAME_OVERHEAD = 56;

/** Rough heap bytes of a name list: two bytes a character (as a name with any non-Latin-1 character keeps them), plus each name's overhead. */
export function nameListBytes(names: readonly string[]): number {
  let bytes = 0;
  for (const name of names) bytes += name.length * 2 + NAME_OVERHEAD;
  return bytes;
}

/**
 * The name lists one server's listings hold, against its limit. A list shared by several listings
 * (one version of one directory: local-walk.ts) counts once. A list that would take the total
 * beyond the limit is refused (450, try again later), unless it would be the only one held: a
 * directory bigger than the limit can still be listed, one listing at a time. Small lists are
 * neither counted nor refused: a crowd holding the budget with big directories does not stop
 * other users' everyday listings (each session holds one list at most: 500 sessions, 128 MiB).
 */
export class NameListBudget {
  private held = 0;
  private readonly lists = new Map<readonly string[], { refs: number; bytes: number }>();

  constructor(readonly limit: number) {}

  /** Count `names` as held until the returned disposable is disposed (once; later calls do nothing). */
  hold(names: readonly string[]): Disposable {
    let entry = this.lists.get(names);
    if (!entry) {
      const bytes = nameListBytes(names);
      if (bytes < SMALL_LIST_BYTES) return NOTHING_HELD;
      if (this.held > 0 && this.held + bytes > this.limit) {
        throw new StorageError("transient", "listings hold too many directory names", "too many directory listings at once");
      }
      entry = { refs: 0, bytes };
      this.lists.set(names, entry);
      this.held += bytes;
    }
    entry.refs++;
    const held = entry;
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        this.lists.delete(names);
        this.held -= held.bytes;
      },
    };
  }

  /** Bytes of the lists held now (tests: 0 once no listing runs). */
  get heldBytes(): number {
    return this.held;
  }
}

/** `rounds`, with `hold` given back once: when they end or are abandoned, or at dispose if never read. */
export function heldWhileListed(rounds: AsyncGenerator<DirEntry[]>, hold: Disposable | undefined): Listing {
  const release = () => hold?.[Symbol.dispose]();
  return {
    async *[Symbol.asyncIterator]() {
      try {
        yield* rounds;
      } finally {
        release();
      }
    },
    [Symbol.dispose]: release,
  };
}
