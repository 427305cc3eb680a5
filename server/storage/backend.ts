/**
 * The storage interface: the local filesystem is the embedded default (local.ts); an object store
 * can implement the same contract. Keys are relative, already-normalised paths inside one storage
 * root ("" is the root, "a/b.txt" a file) — they never contain "..", "." or empty segments.
 */

/** Semantic failure kinds; server/commands map them to reply codes in one table. */
export type StorageErrorKind =
  | "not-found"
  | "exists"
  | "not-empty"
  | "not-a-directory"
  | "is-a-directory"
  | "denied"
  | "no-space"
  | "transient"
  | "unsupported";

/** A storage failure. Its message never contains a real filesystem path. */
export class StorageError extends Error {
  readonly kind: StorageErrorKind;
  constructor(kind: StorageErrorKind, message?: string) {
    super(message ?? kind);
    this.name = "StorageError";
    this.kind = kind;
  }
}

export interface EntryStat {
  type: "file" | "dir";
  size: number;
  mtime: Date;
  /**
   * Opaque, backend-neutral: changes whenever the content may have changed, even if size and
   * mtime were kept (local: device, inode, size, mtime and ctime; an object store: its ETag).
   * Absent when the backend cannot tell: then nothing derived from the content is cached.
   */
  version?: string;
}

export interface DirEntry extends EntryStat {
  name: string;
}

/** A file open for reading at explicit positions (no shared cursor, so pumps cannot interleave). */
export interface ReadHandle {
  readonly size: number;
  /** Read into `buf` from file position `position`; returns bytes read (0 at end of file). */
  read(buf: Uint8Array, position: number): number | Promise<number>;
  close(): void;
}

/** A file open for writing; chunks are written in order at the handle's own position. */
export interface WriteHandle {
  /** Current end position (the offset the next chunk lands at). */
  readonly position: number;
  write(chunk: Uint8Array): void | Promise<void>;
  close(): void | Promise<void>;
}

/** How STOR/APPE/REST+STOR open the target. */
export type WriteMode =
  | { kind: "create" } // must not exist yet (exclusive create)
  | { kind: "truncate" } // create or overwrite
  | { kind: "append" }
  | { kind: "offset"; offset: number }; // REST+STOR: keep bytes before offset, drop the rest

export interface Storage {
  stat(key: string): Promise<EntryStat>;
  list(key: string): Promise<DirEntry[]>;
  /**
   * Optional streaming form of `list` for big directories: the directory is read (and its errors
   * thrown) when the promise settles; the batches then come in name order (UTF-16 code units).
   */
  listBatches?(key: string): Promise<AsyncIterable<DirEntry[]>>;
  openRead(key: string): Promise<ReadHandle>;
  openWrite(key: string, mode: WriteMode): Promise<WriteHandle>;
  mkdir(key: string): Promise<void>;
  rmdir(key: string): Promise<void>;
  remove(key: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Total bytes of regular files under `key` (for quotas). */
  usage(key?: string): Promise<number>;
  /** Set a file's modification time (MFMT, MDTM with a time); absent: the backend cannot. */
  setMtime?(key: string, mtime: Date): Promise<void>;
  /** Free space where new files land, when the backend can tell. */
  freeBytes?(): Promise<number>;
}
