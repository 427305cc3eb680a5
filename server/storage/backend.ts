/**
 * The storage interface: the local filesystem is the embedded default (local.ts); an object store
 * can implement the same contract. Keys are relative, already-normalised paths inside one storage
 * root ("" is the root, "a/b.txt" a file) — they never contain "..", "." or empty segments.
 */
import type { HashAlgorithm } from "../../protocol/hash.ts";

/** Semantic failure kinds; server/commands map them to reply codes in one table. */
export type StorageErrorKind =
  | "not-found"
  | "exists"
  | "not-empty"
  | "not-a-directory"
  | "is-a-directory"
  /** Symbolic links that lead round in a loop (a -> b -> a, a -> a): ELOOP. */
  | "loop"
  | "denied"
  | "name-too-long"
  | "no-space"
  | "transient"
  /** The disk failed under the server (EIO): no retry will do, an admin must look. */
  | "io"
  /** The place itself is missing for good until an admin acts (an object store's bucket gone). */
  | "unavailable"
  | "unsupported";

/** A REST past the file's end found at open: the file shrank after the check before the 150 (its words for the client too). */
export const RESTART_PAST_END = "restart offset beyond end of file (the file shrank meanwhile)";

/** A storage failure. Its message never contains a real filesystem path. */
export class StorageError extends Error {
  readonly kind: StorageErrorKind;
  /** Optional words for the FTP client after the kind's reply text (a fixed text: never a path, bucket or key). */
  readonly detail?: string;
  /** The store did not answer at all (unreachable, or not in time): a moment's outage, not a wrong setting. */
  outage?: true;
  constructor(kind: StorageErrorKind, message?: string, detail?: string) {
    super(message ?? kind);
    this.name = "StorageError";
    this.kind = kind;
    if (detail !== undefined) this.detail = detail;
  }
}

/** setMode's refusal of the root itself, reached by a link to it (SITE CHMOD says so as for the root's path). */
export const ROOT_MODE_REFUSED = "the root's permissions are the server's";

/** Names the storage backends keep for themselves (temp files of uploads in progress): never listed, never reachable. */
export function isReservedName(name: string): boolean {
  return name.startsWith(".ftpkit-");
}

/**
 * RMD's words for a directory that lists empty because all it holds are reserved names (put there by
 * another tool, or left by a server that was killed): a bare "Directory not empty" for ever, RMD after RMD.
 */
export function onlyReservedNames(): StorageError {
  return new StorageError("not-empty", "only reserved names", "it holds only names the server reserves (.ftpkit-…), which FTP neither lists nor removes");
}

/** An in-place upload's commit failed after its bytes landed: `settled` is the change it left stored. */
export class InPlaceCommitError extends StorageError {
  constructor(
    cause: StorageError,
    readonly settled: number,
  ) {
    super(cause.kind, cause.message, cause.detail);
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
  /** A directory's identity (local: device and inode), for MLSD's `unique` fact; absent when unknown. */
  unique?: string;
  /** Permission bits (0o777), for MLSD's UNIX.mode fact and LIST's columns; absent when the backend has none (S3). */
  mode?: number;
}

export interface DirEntry extends EntryStat {
  name: string;
  /**
   * A symbolic link to a directory (local storage): listed as a link, as vsftpd and ProFTPD list it,
   * so a recursive delete or mirror does not go through it; `size` and `mtime` are the link's own.
   * `target` is its text when that is safe to show (relative, no path of the server's).
   */
  link?: { target?: string };
}

/** A file open for reading at explicit positions (no shared cursor, so pumps cannot interleave). */
export interface ReadHandle {
  readonly size: number;
  /** Read into `buf` from file position `position`; returns bytes read (0 at end of file). */
  read(buf: Uint8Array, position: number): number | Promise<number>;
  /**
   * Optional: the bytes from `start` to `end` as the backend receives them, in pieces it will not
   * touch again (a RETR sends them as they are: no copy into a buffer of its own).
   */
  chunks?(start: number, end: number): AsyncIterable<Uint8Array>;
  /**
   * Optional: the digest of bytes [start, end), computed off the session's thread while the caller
   * streams the same bytes (a RETR whose client asked for a digest). Closing the handle stops it.
   */
  digest?(algorithm: HashAlgorithm, start: number, end: number): Promise<string>;
  close(): void;
}

/**
 * An upload in progress. It ends exactly once: `commit()` makes the written bytes the target's
 * content; `abort()` gives up. Disposal (`await using`) aborts unless it was committed, so no exit
 * path can leave a temp file, an open descriptor or an unfinished multipart upload behind.
 *
 * Both return the change in stored bytes the upload made to the target (the quota ledger settles its
 * reservation with it): atomic modes (`truncate`; every mode on an object store) leave the target
 * untouched on abort (0); in-place local modes (`create`, `append`, `offset`) keep the bytes written
 * so far, so a client can resume with REST+STOR or APPE. No mode ever shortens the target before
 * commit (`offset` cuts the old tail at commit only). One in-place upload writes a file at a time:
 * opening a second one fails with "transient". If the file is removed or replaced while written in
 * place, the remover reports 0 bytes freed for it and the upload reports minus the size it opened.
 */
export interface Upload extends AsyncDisposable {
  /** Bytes accepted by `write` so far. */
  readonly written: number;
  /** Write the next chunk (in order). A returned promise settles when the chunk is stored. */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Optional: `write` copies its chunk before it returns, so a pending promise holds none of it (the caller may reuse the chunk's memory). */
  readonly copiesChunks?: boolean;
  /**
   * True when the bytes land in the target as they are written (a new local file, APPE, REST+STOR):
   * abort keeps them, so commit changes nothing stored. False when nothing is visible before commit
   * (an overwrite's temp file, an object store's multipart upload).
   */
  readonly inPlace: boolean;
  /**
   * Optional: finish all that can still be undone (send the last bytes, settle writes in flight), so
   * that commit only makes the upload visible. Commit seals first if this was not called.
   */
  seal?(): Promise<void>;
  commit(): Promise<number>;
  abort(): Promise<number>;
  /**
   * Optional, before the first write of a whole-file upload: hash the written bytes off the session's
   * thread as they land. Returns the digest's getter; call it after the last write, before commit.
   */
  hashAlong?(algorithm: HashAlgorithm): () => Promise<string>;
  /**
   * Optional (local): the key the upload really writes to, from the directory it holds open (the
   * links on the way resolved), or null when unknown. A drop box inside a home books by it.
   */
  placeKey?(): string | null;
}

/**
 * An existing target locked for one in-place upload before its data connection opens
 * (Storage.claimWrite), so a second writer is refused before its 150, as vsftpd does. The upload
 * then starts from the claim (openWrite's `claim`), which hands over what it holds, or `release()`
 * lets the target go unstarted.
 */
export interface WriteClaim {
  /**
   * Let the target go without an upload (at most once; nothing once started). Returns the bytes it
   * gives back: the target's size when it was removed or replaced meanwhile (the remover freed
   * nothing for a file an upload holds, as the upload would settle for it), else 0.
   */
  release(): number;
}

/**
 * How STOR/APPE/REST+STOR open the target. `perm`: the permission bits of a file the upload creates
 * (the session's umask applied, SITE UMASK; the server process's umask still applies on top), where the
 * backend has them; a file replaced or appended to keeps its own. Absent: 0o644.
 */
export type WriteMode = (
  // must not exist yet (exclusive create), written in place; `dropOnFailure`: an upload that does not
  // commit removes the file (its account could never resume or replace it: a drop box's uploader)
  | { kind: "create"; dropOnFailure?: boolean }
  | { kind: "truncate" } // create or replace, atomically on commit (readers see old or new)
  | { kind: "append" }
  | { kind: "offset"; offset: number } // REST+STOR: keep bytes before offset; the rest is cut at commit only
) & { perm?: number };

/**
 * A directory's entries in batches. What the listing holds (a local directory's name list) is given
 * back when the batches end or are abandoned, or at `[Symbol.dispose]` for a listing never read (a
 * transfer whose data connection never came): whichever comes first.
 */
export type Listing = AsyncIterable<DirEntry[]> & { [Symbol.dispose]?(): void };

/** How Storage.rename treats a source an upload is still writing. */
export interface RenameOptions {
  /**
   * Refuse it rather than move it: its upload settles its bytes with the ledger it opened with, so
   * a move across a limit's edge (a drop box in a home) would leave both ledgers wrong (vfs.rename).
   */
  refuseWritten?: boolean;
}

export interface Storage {
  /** Directories exist by what is under them (an object store): an empty root is not a missing one. */
  readonly implicitDirectories?: boolean;
  stat(key: string): Promise<EntryStat>;
  /**
   * Optional: throws ("denied") when the server's own account may not list and enter directory
   * `key` (a root-owned 0700 directory in a home): CWD then answers 550, as vsftpd's and ProFTPD's
   * chdir(2) do, not 250 and a 550 at every command after it. Absent: every directory can be entered.
   */
  enter?(key: string): Promise<void>;
  list(key: string): Promise<DirEntry[]>;
  /**
   * Optional streaming form of `list` for big directories: the directory is read (and its errors
   * thrown) when the promise settles; the batches then come in name order (UTF-16 code units).
   */
  listBatches?(key: string): Promise<Listing>;
  /**
   * Open `key` for reading. `from`, where the first read will be (RETR passes its REST offset): a
   * backend that fetches over the network (S3) starts fetching there before it returns, so an object
   * gone or changed since it was listed fails here (RETR's 550 before its 150), not at the first read.
   */
  openRead(key: string, from?: number): Promise<ReadHandle>;
  /**
   * Start an upload. Nothing is created or truncated before this call. `signal` gives up an opening
   * that takes time (an object store composing the kept bytes of APPE or REST+STOR): it rejects and
   * leaves nothing behind.
   */
  openWrite(key: string, mode: WriteMode, claim?: WriteClaim | null, signal?: AbortSignal): Promise<Upload>;
  /**
   * Optional: lock an existing target of an in-place mode (append, offset) for one upload before
   * its data connection opens, without changing it, or reserve a name the upload will create (a
   * new name's STOR, APPE to a missing name); null when there is nothing to claim (an overwrite).
   * Throws like openWrite ("transient" when another upload holds the file or the name). Pass the
   * claim to openWrite, or dispose of it.
   */
  claimWrite?(key: string, mode: WriteMode): Promise<WriteClaim | null>;
  /** `perm`: the new directory's permission bits as for WriteMode's, where the backend has them; absent: 0o777. */
  mkdir(key: string, perm?: number): Promise<void>;
  rmdir(key: string): Promise<void>;
  /** Remove a file; resolves with the bytes it freed (what the quota gives back; 0 for a file an in-place upload is writing). */
  remove(key: string): Promise<number>;
  /**
   * Rename; resolves with the bytes of a file the rename replaced at `to` (0 if none, or one an
   * in-place upload is writing). `opts.refuseWritten`: a source an upload is writing in place (or
   * a claim holds for one) is not moved: "transient" (file busy, 450), as a second writer is refused.
   */
  rename(from: string, to: string, opts?: RenameOptions): Promise<number>;
  /**
   * Optional: whether the existing directory `to` is what a rename of the directory `from` left
   * unfinished (S3: a store that stopped mid-move); RNTO onto it then finishes the move.
   */
  resumesRename?(from: string, to: string): Promise<boolean>;
  /**
   * Total bytes of regular files under `key` (for quotas). Folders the server may not read are left
   * out and their number given to `onUnreadable` (the caller warns that the figure is short); a
   * passing failure (out of descriptors, an I/O error) fails the whole measure ("transient").
   */
  usage(key?: string, onUnreadable?: (folders: number) => void): Promise<number>;
  /** Set a file's modification time (MFMT, MDTM with a time); absent: the backend cannot. */
  setMtime?(key: string, mtime: Date): Promise<void>;
  /**
   * `key` as the storage reaches it: the directories on its way resolved through links (local
   * storage), the name itself not; `key` itself when its directory cannot be opened.
   */
  realKey?(key: string): Promise<string>;
  /** Whether the name `key` is itself a symbolic link (local storage): one carries no bytes of its target. */
  isLink?(key: string): Promise<boolean>;
  /**
   * The name `key` itself when it is a symbolic link to a directory (local storage), as its
   * directory's listing shows it (DirEntry.link); null for anything else. MLST shows it so.
   */
  dirLink?(key: string): Promise<DirEntry | null>;
  /** Set a regular file's or a directory's permission bits (SITE CHMOD; `mode` ≤ 0o777); absent: the backend has none. */
  setMode?(key: string, mode: number): Promise<void>;
  /**
   * Optional: the root's place now names another directory than the one this storage opened (a
   * deploy renamed a new tree into place, or swapped a symlink), so the next login should open it
   * again. A place gone (or no longer a directory) counts too: the next login's plan finds it so.
   * Sessions already in keep what their storage opened.
   */
  replaced?(): boolean;
  /** Free space where new files land, when the backend can tell. */
  freeBytes?(): Promise<number>;
  /**
   * Optional, at login: clear in the background what a killed process left in this place (local temp
   * files), once per place per process. Never throws; never delays the caller.
   */
  sweepLeftovers?(): void;
  /**
   * Optional: the digest of the whole file that the backend stored with it when it was uploaded
   * (an object store keeps it as metadata, so HASH needs no download), or null when it has none.
   * `algorithm` is a HASH name ("SHA-256").
   */
  storedDigest?(key: string, algorithm: string): Promise<string | null>;
}
