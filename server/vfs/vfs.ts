import { FtpError } from "../../protocol/errors.ts";
import { isWithin, virtualDirname } from "../../protocol/path.ts";
import type { Perm } from "../auth/types.ts";
import { StorageError, type EntryStat, type ReadHandle, type WriteClaim, type WriteMode } from "../storage/backend.ts";
import { checkDirName, checkNewName, requirePerm, resolvePath, slashedUploadName, standEmptyOrThrow, type Resolved } from "./resolve.ts";
import { ledgerAt, type Mount } from "./mounts.ts";
import { QuotaUpload } from "./upload.ts";
import { UsageUnmeasured } from "./quota.ts";

/** What the virtual filesystem needs of a session: its mount table, working directory and umask. */
export interface FsSession {
  mounts: readonly Mount[];
  cwd: string;
  /** Bits taken from new files (0o666) and directories (0o777), as a process's umask (SITE UMASK). */
  umask: number;
}

/** An upload decided before the data connection opens (permissions and mode checked, nothing touched yet). */
export interface UploadPlan {
  r: Resolved;
  mode: WriteMode;
  /** Bytes of the existing file this upload replaces or cuts off: they may be rewritten without quota. */
  credit: number;
  /** The key a limited directory below the mount books it by (VirtualFs.boxKey); `r.key` where there is none. */
  boxKey?: string;
}

/**
 * What a transfer holds for its upload from before the 150 to its end: the storage's claim
 * (WriteClaim: an in-place target's lock, a new name's reservation), and the replaced file's credit.
 * Disposed, both are let go and a claim's give-back is booked.
 */
export interface UploadClaim extends Disposable {
  readonly claim: WriteClaim | null;
}

/**
 * Files whose bytes an upload in flight rewrites on credit (an overwrite, a REST+STOR), in this
 * process: one upload at a time may, the others of the same file reserve every byte. Eight
 * sessions overwriting one 900 KB file under a 1 MB quota each wrote 900 KB on its credit, 7.2 MB
 * in temp files at once (a full disk for everyone else), all within the quota's count.
 */
const creditsInFlight = new Set<string>();

/**
 * The one door from command handlers to storage. Each operation takes a client path and the
 * permission it needs, resolves it, checks it, calls the mount's storage and keeps the quota ledger
 * in step with what storage reports — so no handler can forget a check or a booking.
 */
export class VirtualFs {
  constructor(
    private readonly session: FsSession,
    private readonly startedAt: number,
  ) {}

  resolve(path: string, need?: Perm): Resolved {
    return resolvePath(this.session.mounts, this.session.cwd, path, need);
  }

  /** Stat a resolved path; mount points and their ancestors are directories even if absent on disk. */
  async statResolved(r: Resolved): Promise<EntryStat> {
    try {
      return await this.statStored(r);
    } catch (err) {
      standEmptyOrThrow(r, err);
      return { type: "dir", size: 0, mtime: new Date(this.startedAt) };
    }
  }

  /** Stat in storage alone (no virtual directory stands in); a name written "a.txt/" must be a directory (Resolved.dirOnly). */
  async statStored(r: Resolved): Promise<EntryStat> {
    return checkDirName(r, await r.mount.storage.stat(r.key));
  }

  /** CWD's check that the server itself may enter a directory; a mount point absent on disk stands empty. */
  async checkEnterable(r: Resolved): Promise<void> {
    try {
      await r.mount.storage.enter?.(r.key);
    } catch (err) {
      standEmptyOrThrow(r, err);
    }
  }

  async statOrNull(r: Resolved): Promise<EntryStat | null> {
    try {
      return await this.statResolved(r);
    } catch (err) {
      if (err instanceof StorageError && err.kind === "not-found") return null;
      throw err;
    }
  }

  /** RETR, before the 150: the file must exist, be a regular file and be readable. */
  async planRead(path: string): Promise<{ r: Resolved; st: EntryStat }> {
    const r = this.resolve(path, "read");
    const st = await this.statResolved(r);
    if (st.type !== "file") throw new FtpError(550, "Not a regular file");
    return { r, st };
  }

  /**
   * Open a planned read before the 150, its first read to be at `from`; the caller's transfer owns
   * the handle (and, on S3, the GET already started).
   */
  openPlanned(r: Resolved, from: number): Promise<ReadHandle> {
    return r.mount.storage.openRead(r.key, from);
  }

  /**
   * STOR / APPE / REST+STOR: decide the write mode and check its permission. New names need write;
   * replacing, appending to or cutting an existing file needs modify.
   */
  async planUpload(path: string, how: { append: boolean; offset: number }): Promise<UploadPlan> {
    const plan = await this.planWrite(path, how);
    plan.boxKey = await this.boxKey(plan.r);
    // A quota with no byte left refuses before the 150, as ProFTPD's mod_quotatab does (552): else
    // the client sent its file for a 552 after it. Not a byte over: the file replaced or cut (its
    // credit) is room the upload may rewrite, so only an upload that could store nothing is refused.
    const { ledger } = plan.r.mount;
    if (ledger.limit > 0) await ledger.measured();
    if (ledger.available() + plan.credit <= 0) throw new FtpError(552, "Quota exceeded");
    return plan;
  }

  private async planWrite(path: string, how: { append: boolean; offset: number }): Promise<UploadPlan> {
    const r = this.resolve(path);
    if (r.virtual) throw new FtpError(550, "Is a directory");
    if (r.dirOnly) throw slashedUploadName();
    // Only a limit needs the measure: a user without one was refused every upload while any place of
    // hers (an S3 mount away) could not be measured.
    if (r.mount.ledger.limit > 0 && r.mount.ledger.unmeasured) {
      await r.mount.ledger.measured();
      if (r.mount.ledger.unmeasured) {
        // A root gone or no longer a directory (a drop box whose path is now a file) is said as such
        // (550 Directory not available, logged): "451 try again later" had the client retry for ever.
        await this.statOrNull(r).catch((err) => {
          if (err instanceof StorageError && err.kind === "unavailable") throw err;
        });
        throw new UsageUnmeasured();
      }
    }
    const existing = await this.statOrNull(r);
    if (existing?.type === "dir") throw new FtpError(550, "Is a directory");
    if (how.append) {
      requirePerm(r, "modify");
      if (!existing) {
        requirePerm(r, "write"); // APPE to a missing name creates a file
        checkNewName(r);
        const dir = await this.statOrNull(this.resolve(virtualDirname(r.vpath)));
        if (dir?.type !== "dir") throw noDirectory(dir);
      }
      return { r, mode: { kind: "append", perm: this.filePerm() }, credit: 0 };
    }
    if (how.offset > 0) {
      requirePerm(r, "modify");
      if (!existing || how.offset > existing.size) throw new FtpError(554, "Restart offset beyond end of file");
      return { r, mode: { kind: "offset", offset: how.offset }, credit: existing.size - how.offset };
    }
    if (existing) {
      // A drop box's uploader retrying a name that is taken: say so ("Permission denied" read as a box refusing every upload).
      if (!r.mount.perms.has("modify") && r.mount.perms.has("write")) throw new FtpError(550, "File exists; this account may not replace it");
      requirePerm(r, "modify");
      return { r, mode: { kind: "truncate", perm: this.filePerm() }, credit: existing.size };
    }
    requirePerm(r, "write");
    checkNewName(r);
    // The file itself is created only once the data connection is up; its directory must exist now,
    // so a bad path is answered before the 150 (as vsftpd does).
    const dir = await this.statOrNull(this.resolve(virtualDirname(r.vpath)));
    if (dir?.type !== "dir") throw noDirectory(dir);
    // Kept, a failed upload's partial file (a 552 in a full box, a broken connection) took the name
    // for good from an account that may not resume, replace or delete it, and its bytes counted in the box.
    const dropOnFailure = !r.mount.perms.has("modify");
    return { r, mode: { kind: "create", perm: this.filePerm(), ...(dropOnFailure ? { dropOnFailure } : {}) }, credit: 0 };
  }

  /**
   * The key a limited directory below `r`'s mount (a drop box in a home) books `r` by: with the
   * directories on its way resolved through links (carol's `inc -> incoming` stored into her box
   * uncounted, and moved directories across its edge), only where the mount holds such a box.
   */
  private async boxKey(r: Resolved): Promise<string> {
    if (!r.mount.nested?.length) return r.key;
    return (await r.mount.storage.realKey?.(r.key)) ?? r.key;
  }

  private filePerm(): number {
    return 0o666 & ~this.session.umask;
  }

  /**
   * Before the 150: lock the existing target of a planned APPE or REST+STOR when its storage writes
   * in place (Storage.claimWrite), so a second writer is refused now ("file busy", 450), not after
   * its 150. Null when there is nothing to lock. The caller owns the claim: openUpload takes it, or
   * it is disposed (the transfer's resources hold it until then).
   */
  async claimUpload(plan: UploadPlan): Promise<UploadClaim | null> {
    const { r } = plan;
    const claim = (await r.mount.storage.claimWrite?.(r.key, plan.mode)) ?? null;
    // The replaced file's credit, if no other upload in flight here rewrites it already (else none: every byte reserved).
    let credit: string | null = null;
    if (plan.credit > 0) {
      const file = `${r.mount.id}\0${r.key}`;
      if (creditsInFlight.has(file)) plan.credit = 0;
      else creditsInFlight.add((credit = file));
    }
    if (!claim && !credit) return null;
    let disposed = false;
    return {
      claim,
      // Let go unstarted: a file removed meanwhile gives its bytes back here (WriteClaim.release).
      [Symbol.dispose]() {
        if (disposed) return;
        disposed = true;
        if (credit) creditsInFlight.delete(credit);
        const freed = claim?.release() ?? 0;
        if (freed > 0) ledgerAt(r.mount, plan.boxKey ?? r.key).release(freed);
      },
    };
  }

  /** Open the planned upload (only once the data connection is up: nothing is created before), from its claim if it has one. */
  async openUpload(plan: UploadPlan, held: UploadClaim | null = null, signal?: AbortSignal): Promise<QuotaUpload> {
    const { r } = plan;
    try {
      const upload = await r.mount.storage.openWrite(r.key, plan.mode, held?.claim, signal);
      // The box comes from the directory the upload writes through: a rename since the plan (a
      // pre-upload hook's wait widens the window) could have put a link into a box on the path.
      const boxKey = r.mount.nested?.length ? (upload.placeKey?.() ?? plan.boxKey ?? r.key) : r.key;
      return new QuotaUpload(upload, ledgerAt(r.mount, boxKey).reserve(plan.credit, upload.inPlace));
    } catch (err) {
      // Someone created the name between the plan and the exclusive create.
      if (err instanceof StorageError && err.kind === "exists") throw new FtpError(550, "File exists");
      throw err;
    }
  }

  /**
   * Just before an overwrite or REST+STOR commits: the credit it was planned with (the bytes of the
   * file it replaces) must still be there. Sessions that planned overwrites of one file, which then
   * was renamed or deleted, each stored a whole file without a quota check (4 sessions: 450,000
   * bytes stored under a 100,000-byte quota). What is missing now is booked, or the upload gets 552.
   */
  async confirmCredit(plan: UploadPlan, upload: QuotaUpload): Promise<void> {
    if (plan.credit === 0) return;
    const st = await this.statOrNull(plan.r);
    const size = st?.type === "file" ? st.size : 0;
    await upload.recredit(plan.mode.kind === "offset" ? Math.max(0, size - plan.mode.offset) : size);
  }

  /** DELE: the bytes storage says it freed go back to the quota. */
  async remove(path: string): Promise<{ vpath: string; bytes: number }> {
    const r = this.resolve(path, "modify");
    if (r.virtual) throw new FtpError(550, "Is a directory (use RMD)");
    // "cur/" names the directory a link leads to (rm "cur/" refuses it): never the link, never a file.
    if (r.dirOnly && (await this.statResolved(r)).type === "dir") throw new FtpError(550, "Is a directory (use RMD)");
    // The storage looks at the name itself: a link (to a directory, or to nothing) is removed, as
    // vsftpd's DELE removes it; a stat first followed it, and no command could remove it.
    const bytes = await r.mount.storage.remove(r.key).catch((err: unknown) => {
      if (err instanceof StorageError && err.kind === "is-a-directory") throw new FtpError(550, "Is a directory (use RMD)");
      throw err;
    });
    ledgerAt(r.mount, await this.boxKey(r)).release(bytes);
    return { vpath: r.vpath, bytes };
  }

  async mkdir(path: string): Promise<string> {
    const r = this.resolve(path, "modify");
    if (r.virtual) throw new StorageError("exists");
    checkNewName(r);
    await r.mount.storage.mkdir(r.key, 0o777 & ~this.session.umask);
    return r.vpath;
  }

  async rmdir(path: string): Promise<string> {
    const r = this.resolve(path, "modify");
    if (r.virtual) throw new FtpError(550, "Cannot remove a mount point");
    // The current directory may go, as in vsftpd and ProFTPD (a script's cwd(d), DELE each file,
    // RMD /d): the cwd is a path, not a held directory, so CDUP and an absolute CWD lead out of it.
    await r.mount.storage.rmdir(r.key);
    return r.vpath;
  }

  /** RNFR: the source must exist and be renamable; returns its virtual path for RNTO. */
  async renameSource(path: string): Promise<string> {
    const r = this.resolve(path, "modify");
    if (r.virtual) throw new FtpError(550, "Cannot rename a mount point");
    await this.statStored(r);
    // "cur/" names the directory a link leads to, which renaming the link would not move (rename(2): ENOTDIR).
    if (r.dirOnly && (await r.mount.storage.isLink?.(r.key))) throw new StorageError("not-a-directory");
    return r.vpath;
  }

  /**
   * RNTO: within one mount; a file it replaces gives its bytes back to the quota. A file moved into
   * (or out of) a limited directory below the mount (a drop box in a home) is booked into (released
   * from) that box's ledger. A directory is refused there: its bytes would need a walk of the whole
   * subtree (ProFTPD's mod_quotatab does not count directory renames at all). So is, for now, a file
   * an upload is still writing there (450, as a second writer of it gets): its upload books its bytes
   * in the ledger it opened with, and the move booked only the size at that instant (a box counted
   * 710,000 bytes for 610,000 on disk, another 720,000 for 920,000, and took uploads past its limit).
   */
  async rename(fromPath: string, toPath: string): Promise<{ from: string; to: string }> {
    const from = this.resolve(fromPath, "modify");
    const to = this.resolve(toPath, "modify");
    if (from.mount !== to.mount) throw new FtpError(550, "Cannot move across virtual directories");
    if (to.virtual) throw new FtpError(550, "Cannot overwrite a mount point");
    checkNewName(to);
    // "new/" can only name a directory moved there (rename(2): ENOTDIR for a file or a link).
    if (to.dirOnly && ((await from.mount.storage.stat(from.key)).type !== "dir" || (await from.mount.storage.isLink?.(from.key)))) throw new StorageError("not-a-directory");
    const target = await this.statOrNull(to);
    if (target?.type === "dir" && from.vpath !== to.vpath && !(await from.mount.storage.resumesRename?.(from.key, to.key))) {
      throw new FtpError(550, "Target is an existing directory");
    }
    const { nested = [] } = from.mount;
    const [fromKey, toKey] = [await this.boxKey(from), await this.boxKey(to)];
    const entering = nested.filter((n) => isWithin(n.prefix, toKey) && !isWithin(n.prefix, fromKey));
    const leaving = nested.filter((n) => isWithin(n.prefix, fromKey) && !isWithin(n.prefix, toKey));
    // A link moves no bytes: its target's size booked a box full (and its DELE gave back nothing).
    const moved = entering.length + leaving.length === 0 ? null : (await from.mount.storage.isLink?.(from.key)) ? { type: "file" as const, size: 0 } : await from.mount.storage.stat(from.key);
    if (moved && moved.type !== "file") throw new FtpError(550, "Cannot move a directory into or out of a place with its own limit");
    const replaced = await from.mount.storage.rename(from.key, to.key, { refuseWritten: moved !== null });
    ledgerAt(to.mount, toKey).release(replaced);
    for (const n of entering) n.ledger.settle(0, moved!.size);
    for (const n of leaving) n.ledger.release(moved!.size);
    return { from: from.vpath, to: to.vpath };
  }
}

/** A new file's directory that is not one: a file there is "Not a directory" (ENOTDIR), as a local home answers; nothing there, "No such directory". */
function noDirectory(dir: EntryStat | null): FtpError {
  return new FtpError(550, dir ? "Not a directory" : "No such directory");
}
