// What a local upload holds between its STOR/APPE and its data connection (Storage.claimWrite), so a
// second writer is refused with 450 before its 150 (as vsftpd refuses before the data channel):
// an existing file written in place is locked (LocalClaim); a new name is reserved (NewNameClaim).
// Started, a claim hands what it holds to the upload; released unstarted, it lets all of it go.
import * as fs from "node:fs";
import { StorageError, type Upload, type WriteClaim, type WriteMode } from "./backend.ts";
import { closeQuietly, fdPath, O_PATH_FLAG, S_IFMT, S_IFREG, statAt, type Jail, type Parent } from "./local-jail.ts";
import { storageError } from "./local-errors.ts";
import { openLocalUpload } from "./local-upload.ts";
import type { OpenTempDir } from "./local-temp.ts";
import { removedSize, verdictNow, type VerdictLocks } from "./local-removal.ts";
import { lockName, unlockName, type NameLock } from "./local-name-lock.ts";

const BUSY = ["transient", "file busy", "the file is being uploaded by another session"] as const;

/**
 * Before the 150 of an overwrite, which holds nothing: renaming the temp file over the target needs
 * only the directory's write permission, so a file made read-only (SITE CHMOD 444) was replaced where
 * vsftpd (553) and ProFTPD (550) refuse. Open it for writing (no O_TRUNC: nothing changes) and let the
 * kernel decide, as for APPE. A name gone meanwhile, or a symlink (the overwrite replaces the link), passes.
 * The replacement itself is a temp file made in the root's temp directory and renamed into the target's
 * directory: both must take it from this process, or the upload failed only after its 150 and the data.
 */
export function checkOverwrite(jail: Jail, key: string, tempDir: OpenTempDir): void {
  const { O_WRONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  try {
    using p = jail.parent(key);
    fs.accessSync(fdPath(p.fd), fs.constants.W_OK | fs.constants.X_OK);
    mayMakeTemp(jail, tempDir);
    // Asked of a regular file only (local-open.ts): a FIFO or device under the name is never opened
    // (it passes, as a symlink does: the overwrite replaces it).
    const fd = fs.openSync(p.path, O_PATH_FLAG | O_NOFOLLOW);
    try {
      if (!fs.fstatSync(fd).isFile()) return;
      fs.closeSync(fs.openSync(fdPath(fd), O_WRONLY | O_NONBLOCK));
    } finally {
      closeQuietly(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof StorageError || code === "EACCES" || code === "EPERM" || code === "EROFS") throw storageError(err);
  }
}

/** The temp directory takes a new file from this process; not there yet, the root takes it (nothing is made now). */
function mayMakeTemp(jail: Jail, tempDir: OpenTempDir): void {
  let temp: number;
  try {
    temp = tempDir(false);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    fs.accessSync(fdPath(jail.rootFd), fs.constants.W_OK | fs.constants.X_OK);
    return;
  }
  try {
    fs.accessSync(fdPath(temp), fs.constants.W_OK | fs.constants.X_OK);
  } finally {
    closeQuietly(temp);
  }
}

/** A claim LocalStorage.openWrite can start: the upload, opened inside the claim's parent directory. */
export abstract class LocalWriteClaim implements WriteClaim {
  protected spent = false;

  constructor(
    /** Kept reachable while the upload lives: its temp directory is opened through the jail's root descriptor. */
    protected readonly jail: Jail,
    protected readonly parentFd: number,
    /** The name inside the open parent (`/proc/self/fd/N/name`). */
    protected readonly path: string,
    protected readonly tempDir: OpenTempDir,
    /** Other processes serve the root: the verdict locks of local-removal.ts (VerdictLocks). */
    protected readonly verdicts: VerdictLocks,
  ) {}

  abstract start(mode: WriteMode): Upload;
  abstract release(): number;

  /** Open the upload; it closes the parent directory when it ends, and so does a failed open. */
  protected open(mode: WriteMode, claimedFd: number | null): Upload {
    if (this.spent) throw new StorageError("transient", "claim already used");
    this.spent = true;
    const { jail, parentFd } = this;
    try {
      // As in openWrite: the closure keeps the jail (through which its temp directory is opened) reachable.
      const upload = releasing(openLocalUpload(this.path, mode, this.tempDir, storageError, claimedFd, this.verdicts), () => {
        closeQuietly(parentFd);
        void jail;
      });
      return placed(upload, jail, parentFd, this.path.slice(this.path.lastIndexOf("/") + 1));
    } catch (err) {
      closeQuietly(parentFd);
      throw err;
    }
  }
}

/**
 * An existing target locked before its data connection: the open parent directory and the locked file
 * descriptor. Started, both pass to the upload; released unstarted, both are closed (the lock with them).
 */
export class LocalClaim extends LocalWriteClaim {
  constructor(jail: Jail, parentFd: number, path: string, private readonly fd: number, tempDir: OpenTempDir, verdicts: VerdictLocks) {
    super(jail, parentFd, path, tempDir, verdicts);
  }

  start(mode: WriteMode): Upload {
    return this.open(mode, this.fd);
  }

  release(): number {
    if (this.spent) return 0;
    this.spent = true;
    // Removed or renamed over while held: freedByRemoval gave nothing back for it, so this does
    // (a verdict, taken with the lock let go under the file's verdict lock: VerdictLocks).
    const verdict = verdictNow(this.fd, this.verdicts);
    const freed = removedSize(this.fd);
    closeQuietly(this.fd);
    verdict();
    closeQuietly(this.parentFd);
    return freed;
  }
}

/**
 * New names reserved by uploads still waiting for their data connection, in this process: "dev:ino"
 * of the parent directory and the name (so two users whose homes share a directory meet here too).
 * Nothing is created before the data connection; without this, a second STOR of the same new name got
 * its 150 and then 550 (the exclusive create lost). Where other processes serve the root too
 * (--workers, --state), they see the reservation through a lock file in the root's temp directory
 * (local-name-lock.ts): two homes that share a directory from different roots meet only within one process.
 */
const newNames = new Set<string>();

/** A new name reserved until the upload creates it (then a later STOR of it is an overwrite, as before), or is let go. */
export class NewNameClaim extends LocalWriteClaim {
  private constructor(
    jail: Jail,
    parent: Parent,
    tempDir: OpenTempDir,
    private readonly id: string,
    private readonly lock: NameLock | null,
    verdicts: VerdictLocks,
  ) {
    super(jail, parent.fd, parent.path, tempDir, verdicts);
  }

  /**
   * Reserve `parent`'s entry `name`; throws "file busy" (450) while another upload has it reserved.
   * `verdicts` (VerdictLocks): set when other processes serve the root too; they then see the
   * reservation. Owns `parent` once returned.
   */
  static take(jail: Jail, parent: Parent, tempDir: OpenTempDir, verdicts: VerdictLocks): NewNameClaim {
    const dir = fs.fstatSync(parent.fd);
    const id = `${dir.dev}:${dir.ino}/${parent.name}`;
    if (newNames.has(id)) throw new StorageError(...BUSY);
    const lock = verdicts ? lockName(tempDir, id) : null;
    if (lock === "busy") throw new StorageError(...BUSY);
    newNames.add(id);
    return new NewNameClaim(jail, parent, tempDir, id, lock, verdicts);
  }

  start(mode: WriteMode): Upload {
    // Checked here too: a spent claim's name may be another upload's reservation by now.
    if (this.spent) throw new StorageError("transient", "claim already used");
    try {
      return this.open(mode, null);
    } finally {
      this.letGo(); // created (or failed): the name is the file's now
    }
  }

  release(): number {
    if (this.spent) return 0;
    this.spent = true;
    this.letGo();
    closeQuietly(this.parentFd);
    return 0;
  }

  private letGo(): void {
    newNames.delete(this.id);
    if (this.lock) unlockName(this.lock);
  }
}

/**
 * The upload itself, changed in place so it also closes its parent directory once it has ended
 * (commit, abort or disposal) — once only: a descriptor closed twice could close whatever file or
 * socket was given its number in between.
 */
/**
 * Give `upload` its placeKey: where it really writes, from the directory descriptor it writes
 * through (held until it ends), not from its path, which a rename may have pointed elsewhere since.
 */
export function placed(upload: Upload, jail: Jail, parentFd: number, name: string): Upload {
  upload.placeKey = () => {
    try {
      return jail.keyOf(parentFd, name);
    } catch {
      return null;
    }
  };
  return upload;
}

export function releasing(upload: Upload, releaseOnce: () => void): Upload {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    releaseOnce();
  };
  const { commit, abort } = upload;
  const dispose = upload[Symbol.asyncDispose];
  upload.commit = () => commit.call(upload).finally(release);
  upload.abort = () => abort.call(upload).finally(release);
  upload[Symbol.asyncDispose] = async () => {
    try {
      await dispose.call(upload);
    } finally {
      release();
    }
  };
  return upload;
}

/** NewNameClaim.take, closing `parent` when the name is already reserved (the claim owns it otherwise). */
export function takeNewName(jail: Jail, parent: Parent, tempDir: OpenTempDir, verdicts: VerdictLocks): NewNameClaim {
  let claim: NewNameClaim;
  try {
    claim = NewNameClaim.take(jail, parent, tempDir, verdicts);
  } catch (err) {
    closeQuietly(parent.fd);
    throw err;
  }
  // The name must be free now, before the 150: stat (which follows links and serves only files and
  // directories) calls a FIFO, socket, device or dangling symlink missing, and the exclusive create
  // then failed only once the client had sent its data ("150", then "550 File exists").
  const taken = statAt(parent.fd, parent.name);
  if (taken) {
    claim.release();
    // A file created since the upload was planned (by another --workers process's upload, whose
    // reservation this one cannot see, or a local user): a moment's race, 450, and the retry is
    // planned as an overwrite. A permanent "550 File exists" made curl give up (7 of 80 racing STORs).
    if ((taken.mode & S_IFMT) === S_IFREG) throw new StorageError("transient", "file busy", "another session created the file meanwhile");
    throw new StorageError("exists", "name taken", "not a regular file");
  }
  // And the directory must take a new name from this process (its mode, owner, ACLs, a read-only
  // file system): else the create failed only after the 150, as vsftpd's creating before it does not.
  try {
    fs.accessSync(fdPath(parent.fd), fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    claim.release();
    throw storageError(err);
  }
  return claim;
}
