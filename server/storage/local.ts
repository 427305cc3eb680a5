// The local-filesystem storage backend: the embedded default; with the other local-*.ts files (the
// jail, its roots, uploads, the temp directory, errors, walks, the changes of names in local-namespace.ts…)
// the only node:fs importer of the server.
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import {
  StorageError,
  type DirEntry,
  type EntryStat,
  type Listing,
  type ReadHandle,
  type RenameOptions,
  type Storage,
  type Upload,
  type WriteClaim,
  type WriteMode,
} from "./backend.ts";
import { closeQuietly, fdPath, removeOwnDirIfEmpty, type Jail } from "./local-jail.ts";
import { uniqueFromDev } from "./local-identity.ts";
import { checkKey, rootMissing, rootNotDirectory, storageError, sync, wrap } from "./local-errors.ts";
import { reopenRegular } from "./local-open.ts";
import { BackgroundDigest } from "./local-hash.ts";
import type { HashAlgorithm } from "../../protocol/hash.ts";
import { claimLocalUpload, openLocalUpload } from "./local-upload.ts";
import { TEMP_DIR, TempSweeps, type OpenTempDir } from "./local-temp.ts";
import { removing, type VerdictLocks } from "./local-removal.ts";
import { mkdirBeneath, removeBeneath, renameBeneath, rmdirBeneath } from "./local-namespace.ts";
import { verdictLocks } from "./local-name-lock.ts";
import { checkOverwrite, LocalClaim, LocalWriteClaim, placed, releasing, takeNewName } from "./local-claims.ts";
import { jailFor } from "./local-roots.ts";
import { dirLinkAt, sortedNames, statRounds } from "./local-walk.ts";
import { diskUsage } from "./local-usage.ts";
import { setModeBeneath, setMtimeBeneath } from "./local-attrs.ts";
import { heldWhileListed, type NameListBudget } from "./name-budget.ts";

/**
 * Files under one real directory, jailed by the kernel (local-jail.ts): every open, create, listing,
 * rename and removal resolves its key with openat2 RESOLVE_BENEATH from a descriptor of the root, or
 * acts inside a parent directory opened that way — never on a path looked up again after a check.
 * A symlink that stays inside the root is followed; one that leads out (or is absolute) is refused.
 */

/** The opened root: its jail, its temp directory, and its verdict locks when other processes serve it (VerdictLocks). */
interface Opened {
  jail: Jail;
  tempDir: OpenTempDir;
  verdicts: VerdictLocks;
}

/**
 * How the server removes a temp directory it made when it stops: by the root's path and identity,
 * not through its jail, which a server kept open for good (one descriptor per home or mount it
 * made one in: disks busy for umount, EMFILE at logins). Made out here: a closure made in
 * LocalStorage.jail() would share that scope, and the jail in it, with the others made there.
 */
function tempDirRemoval(realRoot: string, identity: { dev: number; ino: number }): () => void {
  return () => removeOwnDirIfEmpty(realRoot, identity, TEMP_DIR);
}

export class LocalStorage implements Storage {
  private opened: Promise<Opened> | null = null;
  /** Device and inode of the directory opened as the root, once it is. */
  private rootIdentity: { dev: number; ino: number } | null = null;
  /** When temp files a killed process left are cleared (local-temp.ts TempSweeps). */
  private readonly sweeps = new TempSweeps();

  constructor(
    private readonly root: string,
    /**
     * Other processes serve this root too (--workers, --state): a new name's reservation also takes a
     * lock file they see (local-name-lock.ts, ~15 µs per upload), and so do the verdicts on who gives
     * back a removed file's bytes (VerdictLocks); alone, this process's own suffices. `nameBudget`:
     * the server's, for the name lists its listings hold (name-budget.ts; left out: none).
     */
    private readonly opts: { sharedNames?: boolean; ownTempDir?: (realRoot: string, removeIfEmpty: () => void) => void; nameBudget?: NameListBudget } = {},
  ) {}

  private jail(): Promise<Opened> {
    this.opened ??= wrap(async () => {
      // A root that is a loop of links (a home or mount folder made a link to itself) is said so, as
      // the same loop inside a home is: ELOOP elsewhere means a link where a file was wanted ("denied").
      const realRoot = await fsp.realpath(this.root).catch((err) => {
        const code = (err as NodeJS.ErrnoException).code;
        throw code === "ELOOP" ? new StorageError("loop", "too many levels of symbolic links") : code === "ENOENT" ? rootMissing() : err;
      });
      const jail = (() => {
        try {
          return jailFor(realRoot);
        } catch (err) {
          throw (err as NodeJS.ErrnoException).code === "ENOTDIR" ? rootNotDirectory() : err;
        }
      })();
      const st = fs.fstatSync(jail.rootFd);
      const identity = { dev: st.dev, ino: st.ino };
      this.rootIdentity = identity;
      // The server that makes the temp directory is told, with how to remove it (if empty) when it stops.
      const own = this.opts.ownTempDir;
      const made = own && (() => own(realRoot, tempDirRemoval(realRoot, identity)));
      const tempDir = (create?: boolean) => jail.openOwnDir(TEMP_DIR, create, made);
      return { jail, tempDir, verdicts: this.opts.sharedNames ? verdictLocks(tempDir) : null };
    }).catch((err) => {
      this.opened = null; // a home created later is found then
      throw err;
    });
    return this.opened;
  }

  /** Storage.replaced: one stat of the root's path (through symlinks, as it was opened). */
  replaced(): boolean {
    const held = this.rootIdentity;
    if (!held) return false;
    const now = fs.statSync(this.root, { throwIfNoEntry: false });
    // Gone, or no longer a directory: a new login's plan says so (a home: 530, as once no session
    // held it; before, the plan a session held let the login in, to 550 on everything).
    return now === undefined || !now.isDirectory() || now.dev !== held.dev || now.ino !== held.ino;
  }

  private sweepOnce(tempDir: OpenTempDir): void {
    this.sweeps.due(tempDir);
  }

  /** Storage.sweepLeftovers: the first login to each root in this process sweeps (TempSweeps.atLogin). */
  sweepLeftovers(): void {
    TempSweeps.atLogin(this.root, () => this.jail().then(({ tempDir }) => this.sweepOnce(tempDir)));
  }

  async stat(key: string): Promise<EntryStat> {
    checkKey(key);
    const { jail } = await this.jail();
    const fd = sync(() => jail.openPath(key));
    try {
      // On the descriptor just opened, synchronously: the inode is in memory, and a round trip to
      // the thread pool cost two thread switches per RETR, STOR, SIZE, MDTM and HASH (~13% of the
      // server's CPU for a tree of small files). Nanosecond times and the inode make the version: a
      // rewrite that keeps size and mtime still moves ctime, a replace by rename (rsync) moves the inode.
      const st = sync(() => fs.fstatSync(fd, { bigint: true }));
      const dir = st.isDirectory();
      // FIFOs, sockets and devices are not served (listings leave them out too).
      if (!dir && !st.isFile()) throw new StorageError("not-found", "not a regular file");
      return {
        type: dir ? "dir" : "file",
        size: dir ? 0 : Number(st.size),
        mtime: new Date(Number(st.mtimeMs)),
        version: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`,
        mode: Number(st.mode) & 0o777,
        ...(dir ? { unique: uniqueFromDev(st.dev, st.ino) } : {}),
      };
    } finally {
      closeQuietly(fd);
    }
  }

  async isLink(key: string): Promise<boolean> {
    checkKey(key);
    if (key === "") return false;
    const { jail } = await this.jail();
    return sync(() => {
      using p = jail.parent(key);
      return fs.lstatSync(p.path, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
    });
  }

  async dirLink(key: string): Promise<DirEntry | null> {
    checkKey(key);
    if (key === "") return null;
    const { jail } = await this.jail();
    return sync(() => dirLinkAt(jail, key));
  }

  async realKey(key: string): Promise<string> {
    checkKey(key);
    const slash = key.lastIndexOf("/");
    if (slash < 0) return key;
    const { jail } = await this.jail();
    try {
      // The directory opened beneath the root, as every open is.
      const fd = jail.openPath(key.slice(0, slash), true);
      try {
        return jail.keyOf(fd, key.slice(slash + 1)) ?? key;
      } finally {
        closeQuietly(fd);
      }
    } catch {
      return key;
    }
  }

  async setMtime(key: string, mtime: Date): Promise<void> {
    checkKey(key);
    const { jail } = await this.jail();
    sync(() => setMtimeBeneath(jail, key, mtime));
  }

  async setMode(key: string, mode: number): Promise<void> {
    checkKey(key);
    const { jail } = await this.jail();
    sync(() => setModeBeneath(jail, key, mode));
  }

  async enter(key: string): Promise<void> {
    checkKey(key);
    const { jail } = await this.jail();
    const fd = sync(() => jail.openPath(key, true));
    try {
      // access(2) through the O_PATH descriptor's /proc link: the inode opened, not a path again.
      sync(() => fs.accessSync(fdPath(fd), fs.constants.R_OK | fs.constants.X_OK));
    } finally {
      closeQuietly(fd);
    }
  }

  async list(key: string): Promise<DirEntry[]> {
    const out: DirEntry[] = [];
    for await (const batch of await this.listBatches(key)) for (const e of batch) out.push(e);
    return out;
  }

  async listBatches(key: string): Promise<Listing> {
    checkKey(key);
    const { jail } = await this.jail();
    // The names come from the directory actually opened; a descriptor is held only within a round,
    // so a listing the client abandons between rounds holds none.
    const fd = sync(() => jail.openPath(key, true));
    let names: string[];
    try {
      // Sorted here, natively (UTF-16 order, as listDirectory's comparator): its sort then finds the
      // order already right, and the stats walk the inodes in creation order more often.
      names = await wrap(() => sortedNames(fd));
    } finally {
      closeQuietly(fd);
    }
    // Counted from here until the listing ends (or is abandoned, or never read: dispose).
    return heldWhileListed(statRounds(jail, key, names), this.opts.nameBudget?.hold(names));
  }

  async openRead(key: string): Promise<ReadHandle> {
    checkKey(key);
    const { jail } = await this.jail();
    return sync(() => {
      // Only a regular file is opened for reading: a FIFO or device is refused before (local-open.ts).
      const fd = reopenRegular(jail.openPath(key), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const st = fs.fstatSync(fd);
      let closed = false;
      let digest: BackgroundDigest | null = null;
      return {
        size: st.size,
        read(buf: Uint8Array, position: number): number {
          try {
            return fs.readSync(fd, buf, 0, buf.length, position);
          } catch (err) {
            throw storageError(err);
          }
        },
        digest(algorithm: HashAlgorithm, start: number, end: number): Promise<string> {
          if (closed || digest) return Promise.reject(new StorageError("transient", "one digest per open file"));
          digest = new BackgroundDigest(fd, algorithm, start);
          return digest.finish(end);
        },
        close() {
          // Idempotent: a second close could hit a descriptor number reused by another open.
          if (closed) return;
          closed = true;
          // The hashing thread may still read this descriptor: close it once the thread lets go.
          if (digest?.holdsDescriptor) void digest.release().then(() => closeQuietly(fd));
          else closeQuietly(fd);
        },
      };
    });
  }

  async openWrite(key: string, mode: WriteMode, claim?: WriteClaim | null): Promise<Upload> {
    if (claim) {
      if (!(claim instanceof LocalWriteClaim)) throw new StorageError("transient", "claim of another storage");
      return claim.start(mode);
    }
    checkKey(key);
    const { jail, tempDir, verdicts } = await this.jail();
    this.sweepOnce(tempDir);
    // The upload works on the name inside its opened parent directory (O_NOFOLLOW on the name
    // itself), and holds that directory until it ends.
    const parent = sync(() => jail.parent(key));
    try {
      // The release closure keeps the jail reachable while the upload lives: its temp directory is
      // opened through the jail's root descriptor, which is closed once the jail is unreachable.
      const upload = releasing(openLocalUpload(parent.path, mode, tempDir, storageError, null, verdicts), () => {
        closeQuietly(parent.fd);
        void jail;
      });
      return placed(upload, jail, parent.fd, parent.name);
    } catch (err) {
      closeQuietly(parent.fd);
      throw err;
    }
  }

  /**
   * Before the 150 (Storage.claimWrite): APPE or REST+STOR of an existing file takes its lock; a new
   * name is reserved in this process until the upload creates it (NewNameClaim); an overwrite only checks.
   */
  async claimWrite(key: string, mode: WriteMode): Promise<WriteClaim | null> {
    checkKey(key);
    const { jail, tempDir, verdicts } = await this.jail();
    if (mode.kind === "truncate") {
      checkOverwrite(jail, key, tempDir);
      return null;
    }
    this.sweepOnce(tempDir); // as openWrite does: the claimed upload starts without it
    const parent = sync(() => jail.parent(key));
    if (mode.kind === "create") return takeNewName(jail, parent, tempDir, verdicts);
    let fd: number | null;
    try {
      fd = claimLocalUpload(parent.path, mode, storageError, verdicts);
    } catch (err) {
      closeQuietly(parent.fd);
      throw err;
    }
    if (fd === null) {
      // APPE of a missing name creates it, as a STOR of a new name does: it takes the same
      // reservation, or each could get its 150 and the later STOR then 550 (its exclusive create lost).
      if (mode.kind === "append") return takeNewName(jail, parent, tempDir, verdicts);
      closeQuietly(parent.fd);
      return null;
    }
    return new LocalClaim(jail, parent.fd, parent.path, fd, tempDir, verdicts);
  }

  async mkdir(key: string, perm = 0o777): Promise<void> {
    checkKey(key);
    const { jail } = await this.jail();
    sync(() => mkdirBeneath(jail, key, perm));
  }

  async rmdir(key: string): Promise<void> {
    checkKey(key);
    if (key === "") throw new StorageError("denied", "cannot remove the root");
    const { jail } = await this.jail();
    sync(() => rmdirBeneath(jail, key));
  }

  async remove(key: string): Promise<number> {
    checkKey(key);
    const { jail, verdicts } = await this.jail();
    // lstat and unlink in one synchronous step: a concurrent overwrite's commit cannot slip between
    // them, so the freed bytes are given back to the quota exactly once (across workers: `removing`).
    return removing((lastTry) => sync(() => removeBeneath(jail, key, lastTry, verdicts)));
  }

  async rename(from: string, to: string, opts: RenameOptions = {}): Promise<number> {
    checkKey(from);
    checkKey(to);
    if (from === "" || to === "") throw new StorageError("denied", "cannot rename the root");
    const { jail, verdicts } = await this.jail();
    return removing((lastTry) => sync(() => renameBeneath(jail, from, to, lastTry, verdicts, opts.refuseWritten)));
  }

  async freeBytes(): Promise<number> {
    const { jail } = await this.jail();
    const st = await wrap(() => fsp.statfs(fdPath(jail.rootFd)));
    return st.bavail * st.bsize;
  }

  /**
   * Bytes of regular files under `key`, walked through opened directories (never following links)
   * in batches that yield to the event loop, whatever their names' encoding (local-usage.ts).
   */
  async usage(key = "", onUnreadable?: (folders: number) => void): Promise<number> {
    checkKey(key);
    const { jail, tempDir } = await this.jail();
    this.sweepOnce(tempDir);
    const start = sync(() => jail.openPath(key));
    try {
      // Uploads in progress are booked by their own reservations: the temp directory is skipped.
      return await diskUsage(jail, start, key === "" ? TEMP_DIR : null, onUnreadable);
    } finally {
      closeQuietly(start);
    }
  }
}
