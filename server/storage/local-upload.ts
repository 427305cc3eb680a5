// Uploads into the local filesystem (part of the local backend: with local.ts, the only node:fs user).
// New names, APPE and REST+STOR write in place (partial bytes stay for a resume); overwrites go to a
// temp file in the root's `.ftpkit-tmp/` that replaces the target only on commit.
import * as fs from "node:fs";
import type { HashAlgorithm } from "../../protocol/hash.ts";
import { InPlaceCommitError, RESTART_PAST_END, StorageError, type Upload, type WriteMode } from "./backend.ts";
import { hashesOffThread } from "../data/hashing.ts";
import { createHasher, type StreamHasher } from "../../protocol/digest.ts";
import { BackgroundDigest } from "./local-hash.ts";
import { closeQuietly, fdPath, tryLockExclusive } from "./local-jail.ts";
import { pathNamesOpenFile } from "./local-identity.ts";
import { createOwnedTemp, unlinkQuietly, type OpenTempDir } from "./local-temp.ts";
import { freedByRemoval, removing, renameToFree, underVerdict, verdictNow, verdictOf, type VerdictLocks } from "./local-removal.ts";
import { openRegularAt } from "./local-open.ts";

type ToStorageError = (err: unknown) => StorageError;

/** The modes written in place (all but an overwrite's temp file). */
type InPlaceMode = Exclude<WriteMode, { kind: "truncate" }>;

/**
 * Open the target of an in-place mode and take its writer's lock; the descriptor then owns the lock.
 * With `existingOnly` nothing is created: null when the name is missing. Throws errno errors or StorageError.
 */
function openLocked(real: string, mode: InPlaceMode, existingOnly: boolean, verdicts: VerdictLocks): number | null {
  const { O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  // New files open read-write: the hashing thread reads them back (hashAlong).
  let flags = mode.kind === "create" ? O_RDWR | O_CREAT | O_EXCL : mode.kind === "append" ? O_WRONLY | O_CREAT | O_APPEND : O_RDWR;
  if (existingOnly) flags &= ~O_CREAT;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      // Only a regular file is opened, or a new one created (local-open.ts): never a FIFO or device.
      fd = openRegularAt(real, flags | O_NOFOLLOW | O_NONBLOCK, fileMode(mode));
    } catch (err) {
      if (existingOnly && (err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      fs.closeSync(fd);
      throw new StorageError(st.isDirectory() ? "is-a-directory" : "denied", "not a regular file");
    }
    // Under the file's verdict lock (VerdictLocks): a removal in another process must not take this
    // lock, before the check below lets it go, for a writer's.
    const verdict = verdictNow(fd, verdicts);
    try {
      // One in-place writer per file at a time (across workers too: flock). Two REST+STORs of one file
      // each booked "size now − size when it opened": the one that cut the file back was credited with
      // the other's bytes (1,400,002 bytes stored under a 1,000,000-byte quota).
      if (!tryLockExclusive(fd)) {
        fs.closeSync(fd);
        throw new StorageError("transient", "file busy", "the file is being uploaded by another session");
      }
      // Between the open and the lock another worker's RNTO or DELE may have taken the name (it locked
      // the file, unlocked, so it found free): a lock on a file no longer named guards nothing, and an
      // upload into it was lost with a 226 (a new name), or gave back the bytes the remover had already
      // given back (APPE, REST+STOR). Open the name again: it is then what that rename left, as if the
      // rename had come first (an existing name for a STOR of a new one: 550).
      if (pathNamesOpenFile(real, fd)) return fd;
      fs.closeSync(fd);
    } finally {
      verdict();
    }
  }
  throw new StorageError("transient", "file busy", "the file is being changed by another session");
}

/**
 * Storage.claimWrite for a local target: before the 150 of an APPE or REST+STOR of an existing
 * file, open it and take its lock, changing nothing (no O_CREAT, no write). The descriptor, to be
 * handed to openLocalUpload; null when there is nothing to claim (another mode, a missing name).
 */
export function claimLocalUpload(real: string, mode: WriteMode, toError: ToStorageError, verdicts: VerdictLocks = null): number | null {
  if (mode.kind !== "append" && mode.kind !== "offset") return null;
  try {
    return openLocked(real, mode, true, verdicts);
  } catch (err) {
    throw toError(err);
  }
}

/**
 * Open an upload at `real` (already checked to be inside the root). `tempDir` opens the root's TEMP_DIR.
 * O_NOFOLLOW: a symlink swapped in after the check makes the open fail instead of being followed.
 * `claimed`: the locked descriptor of claimLocalUpload for this target and mode, owned from here on.
 * `verdicts`: other processes serve the root; the upload ends under its file's verdict lock (VerdictLocks).
 */
export function openLocalUpload(real: string, mode: WriteMode, tempDir: OpenTempDir, toError: ToStorageError, claimed: number | null = null, verdicts: VerdictLocks = null): Upload {
  try {
    if (mode.kind === "truncate") return atomicUpload(real, fileMode(mode), tempDir, toError, verdicts);
    const fd = claimed ?? openLocked(real, mode, false, verdicts)!;
    const before = sizeOf(fd);
    if (mode.kind === "offset" && mode.offset > before) {
      fs.closeSync(fd);
      // Checked before the 150 (vfs); here the file shrank since (another session, another node).
      throw new StorageError("unsupported", RESTART_PAST_END, RESTART_PAST_END);
    }
    // REST+STOR keeps [0, offset) and writes from there; the old tail beyond what arrives is cut only
    // at commit (226). Cut at open, a resume that broke before its first byte destroyed the rest of the file.
    const start = mode.kind === "offset" ? mode.offset : 0;
    const writer = fileWriter(fd, mode.kind === "append" ? null : start, toError);
    // What the target gained. A file removed or replaced while written (DELE, RNTO over it, an
    // overwrite's commit) is gone with everything this upload wrote: the remover gave nothing back for
    // it (freedByRemoval), so the upload gives back the bytes it had when it opened. Otherwise: for APPE
    // the bytes this upload wrote, else what the file's size says now (after a failed write, the truth).
    const delta = () => {
      if (unlinked(fd)) return 0 - before; // not -before: -0 for a new file
      return mode.kind === "append" ? writer.stored() : sizeOf(fd) - before;
    };
    // The delta is this writer's verdict: it, and the closing that lets the file's lock go, run under the file's verdict lock.
    const ending = (end: () => number) => underVerdict(fd, verdicts, end);
    return endsOnce(
      writer,
      {
        commit: () =>
          ending(() => {
            try {
              if (mode.kind === "offset") fs.ftruncateSync(fd, start + writer.stored());
            } catch (err) {
              const d = delta();
              closeQuietly(fd);
              throw new InPlaceCommitError(toError(err), d);
            }
            const d = delta();
            fs.closeSync(fd);
            return d;
          }),
        abort: () =>
          ending(() => {
            // Only while the name is still this file (the owner may have renamed it meanwhile).
            if (mode.kind === "create" && mode.dropOnFailure && pathNamesOpenFile(real, fd)) unlinkQuietly(real);
            const d = delta();
            fs.closeSync(fd);
            return d;
          }),
      },
      // Only a new file is hashed whole from byte 0 (APPE and REST+STOR keep earlier bytes).
      mode.kind === "create" ? fd : null,
      true,
    );
  } catch (err) {
    throw toError(err);
  }
}

/** Overwrite: write a temp file, then rename it over the target (readers see the old or the new file). */
function atomicUpload(real: string, perm: number, tempDir: OpenTempDir, toError: ToStorageError, verdicts: VerdictLocks): Upload {
  // The temp directory stays open (the temp file's path goes through it) until the upload ends.
  const dirFd = tempDir();
  let temp: string;
  let fd: number;
  try {
    // The owner's read and write stay while it is a temp file: a sweep must open a killed upload's.
    ({ temp, fd } = createOwnedTemp(fdPath(dirFd), perm | 0o600));
  } catch (err) {
    closeQuietly(dirFd);
    throw err;
  }
  const writer = fileWriter(fd, 0, toError);
  return endsOnce(writer, {
    async commit() {
      // Renamed in, the file keeps the temp file's lock until closed: a removal on its last try in
      // another process took it for an in-place writer's and gave back nothing. So under its verdict lock.
      const verdict = await verdictOf(fd, verdicts);
      try {
        const st = fs.fstatSync(fd);
        const size = st.size;
        // Synchronous from the lstat to the rename (each try of `removing`): no other session's DELE
        // or rename can run in between, so the bytes this replaces are counted exactly once.
        const delta = await removing((lastTry) => {
          const old = fs.lstatSync(real, { throwIfNoEntry: false });
          if (old?.isDirectory()) throw new StorageError("is-a-directory");
          if (old && !old.isSymbolicLink()) {
            // Keep the replaced file's permissions (and owner, when we may). Not a link's: its own
            // mode is 0777 (the file replacing it was made world-writable).
            fs.fchmodSync(fd, old.mode & 0o7777);
            try {
              fs.fchownSync(fd, old.uid, old.gid);
            } catch {}
          } else {
            // A new file (the target vanished, or was a link): the bits it is created with, without the
            // owner's read and write the temp file kept (the process umask was applied at creation).
            fs.fchmodSync(fd, st.mode & perm);
          }
          return size - (old ? freedByRemoval(real, old, () => fs.renameSync(temp, real), lastTry, verdicts) : (renameToFree(temp, real), 0));
        });
        fs.closeSync(fd);
        return delta;
      } catch (err) {
        closeQuietly(fd);
        unlinkQuietly(temp);
        throw toError(err);
      } finally {
        verdict();
        closeQuietly(dirFd);
      }
    },
    async abort() {
      closeQuietly(fd);
      unlinkQuietly(temp);
      closeQuietly(dirFd);
      return 0;
    },
  }, fd, false);
}

interface Writer {
  readonly written: number;
  write(chunk: Uint8Array): void | Promise<void>;
  /** Bytes that reached the file. */
  stored(): number;
}

/**
 * Wrap a writer and its two endings so exactly one of them ever runs (disposal = abort). With
 * `hashFd` (the upload's descriptor, written from byte 0) the upload can be hashed along on the
 * hashing thread; either ending first waits until the thread has let go of the descriptor.
 */
function endsOnce(writer: Writer, ends: { commit(): Promise<number>; abort(): Promise<number> }, hashFd: number | null, inPlace: boolean): Upload {
  let ended: Promise<number> | null = null;
  let digest: BackgroundDigest | null = null;
  let inline: (StreamHasher & { algorithm: HashAlgorithm }) | null = null;
  const once = (end: () => Promise<number>) => {
    if (ended) throw new StorageError("transient", "upload already ended");
    ended = digest?.holdsDescriptor ? digest.release().then(end) : end();
    return ended;
  };
  const upload: Upload = {
    inPlace,
    get written() {
      return writer.written;
    },
    write(chunk) {
      if (ended) throw new StorageError("transient", "upload already ended");
      const r = writer.write(chunk);
      if (digest) digest.upto(writer.stored());
      else if (inline) {
        // Small uploads (and CRC-32) hash inline; past the threshold the thread takes over, from byte
        // 0 again (the first bytes are still in the page cache), and the inline digest is dropped.
        if (!hashesOffThread(inline.algorithm, writer.stored())) inline.update(chunk);
        else {
          digest = new BackgroundDigest(hashFd!, inline.algorithm);
          digest.upto(writer.stored());
        }
      }
      return r;
    },
    commit: () => once(ends.commit),
    abort: () => once(ends.abort),
    async [Symbol.asyncDispose]() {
      if (!ended) await once(ends.abort).catch(() => 0);
    },
  };
  if (hashFd !== null) {
    upload.hashAlong = (algorithm: HashAlgorithm) => {
      if (inline || writer.written > 0) throw new StorageError("transient", "hash along from the first write only");
      inline = Object.assign(createHasher(algorithm), { algorithm });
      return async () => {
        if (digest) return digest.finish(writer.stored());
        return inline!.hex();
      };
    };
  }
  return upload;
}

/**
 * Writes at explicit positions, synchronously, in the socket's `data` callback. Measured against
 * positioned writes on the thread pool (the earlier design, up to 4 MiB in flight per upload): the
 * pool cost 2.4–3.0 s of CPU per GiB against 1.3–1.5 s here, because every chunk Bun hands us is a
 * fresh allocation that stayed alive until its write completed on another core: the kernel then
 * copied cache-cold memory into the page cache (39% of a stor-1 profile), fresh pages faulted in
 * (50–230 k minor faults per GiB), and 100 uploads held up to 400 MiB. Written at once, a chunk is
 * still hot in cache and is garbage as soon as the callback returns, so an upload holds one chunk.
 */
function fileWriter(fd: number, start: number | null, toError: ToStorageError): Writer {
  // null: an O_APPEND file, which ignores positions (so writes in flight could land out of order: stay synchronous).
  let position = start;
  let written = 0;
  let stored = 0;
  return {
    get written() {
      return written;
    },
    write(chunk: Uint8Array) {
      try {
        let off = 0;
        while (off < chunk.length) {
          const n = fs.writeSync(fd, chunk, off, chunk.length - off, position);
          if (n <= 0) throw new StorageError("no-space", "short write");
          off += n;
          if (position !== null) position += n;
          stored += n;
          // What a chunk that fails midway (a full disk) left written counts too: the transfer log says it.
          written += n;
        }
      } catch (err) {
        throw err instanceof StorageError ? err : toError(err);
      }
    },
    stored: () => stored,
  };
}

/** The file is no longer in any directory (removed or replaced while open). */
function unlinked(fd: number): boolean {
  try {
    return fs.fstatSync(fd).nlink === 0;
  } catch {
    return false;
  }
}

/** The bits of a file this upload creates, before the process umask. */
const fileMode = (mode: WriteMode): number => (mode.perm ?? 0o644) & 0o777;

function sizeOf(fd: number): number {
  try {
    return fs.fstatSync(fd).size;
  } catch {
    return 0;
  }
}
