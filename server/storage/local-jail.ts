// The jail of the local backend: every path is resolved by the kernel with openat2(2) RESOLVE_BENEATH
// relative to a descriptor of the storage root, so the check and the use are one system call and no
// rename can slip in between. Only server/storage/local*.ts open served files, and this file alone
// imports bun:ffi. The server's other node:fs users touch its own files, never served ones:
// auth/authenticator.ts, auth/ini-store.ts, auth/ini-save.ts, auth/users-lock.ts and
// auth/missing-places.ts (the users file, its lock, a stat of each home), auth/nested-limits.ts and
// auth/user-ledger.ts (the real path of each home, mount and limited directory the users file
// names), auth/served-files.ts
// (whether a home or mount holds the users file, the TLS key or the xferlog), auth/users-file-warnings.ts
// (the users file's own mode), tls/config.ts (the
// certificate), read-regular.ts (a banner, the certificate and key: regular files only),
// ops/xferlog.ts, fd-budget.ts and data/send-queue.ts (/proc) and data/direct-read.ts (a data
// socket's descriptor).
// tests/security/fs-users.test.ts keeps this list true.
import { dlopen, FFIType, ptr, read } from "bun:ffi";
import * as fs from "node:fs";
import * as nodePath from "node:path";
import { StorageError } from "./backend.ts";
import { ERRNO_NAMES, errnoError, rootMissing } from "./local-errors.ts";
import { uniqueFact } from "./local-identity.ts";

const SYS_OPENAT2 = 437; // x86_64, aarch64 and riscv64 share the generic number
const RESOLVE_NO_MAGICLINKS = 0x02n;
const RESOLVE_BENEATH = 0x08n;
const RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const AT_FDCWD = -100;

type Libc = ReturnType<typeof loadLibc>;
let libc: Libc | null = null;

function loadLibc() {
  return dlopen("libc.so.6", {
    syscall: { args: [FFIType.i64, FFIType.i64, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
    __errno_location: { args: [], returns: FFIType.ptr },
    statx: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
    getrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  });
}

/** openat2(2) is missing (not Linux ≥ 5.6, no glibc, seccomp): the server cannot keep its jail. */
export class JailUnavailableError extends Error {
  constructor(reason: string) {
    super(`the local storage jail needs Linux openat2(2) (kernel 5.6 or later): ${reason}`);
    this.name = "JailUnavailableError";
  }
}

/** Throws JailUnavailableError when openat2 cannot be used (called once at start-up). */
export function checkJailSupport(): void {
  try {
    libc ??= loadLibc();
  } catch (err) {
    throw new JailUnavailableError(`libc not loadable (${(err as Error).message})`);
  }
  const fd = rawOpenat2(AT_FDCWD, "/", O_PATH | fs.constants.O_DIRECTORY, 0, 0n);
  if (fd < 0) throw new JailUnavailableError(ERRNO_NAMES[-fd] ?? `errno ${-fd}`);
  fs.closeSync(fd);
}

/** The fd, or -errno. `path` as text (UTF-8) or as the bytes of a name that is not UTF-8 (local-names.ts). */
function rawOpenat2(dirfd: number, path: string | Uint8Array, flags: number, mode: number, resolve: bigint): number {
  // The kernel refuses a mode without O_CREAT (EINVAL).
  const how = new BigUint64Array([BigInt(flags | O_CLOEXEC), BigInt(flags & fs.constants.O_CREAT ? mode : 0), resolve]);
  const name = typeof path === "string" ? Buffer.from(path + "\0", "utf8") : Buffer.concat([path, new Uint8Array(1)]);
  const r = Number(libc!.symbols.syscall(SYS_OPENAT2, dirfd, ptr(name), ptr(how), 24));
  // errno is read at once: no other libc call runs on this thread in between.
  return r < 0 ? -read.i32(libc!.symbols.__errno_location()!, 0) : r;
}

const RENAME_NOREPLACE = 1;
let renameat2: ((from: Buffer, to: Buffer) => number) | null | undefined;

/**
 * rename(2) that never replaces: EEXIST (thrown, as an errno error) when `to` exists, atomically
 * (renameat2 RENAME_NOREPLACE). False where libc, the kernel or the filesystem has no such rename;
 * the caller then renames as before. Paths as for rename(2) (here /proc/self/fd/N/name ones).
 */
export function renameNoReplace(from: string, to: string): boolean {
  if (renameat2 === undefined) {
    try {
      // Its own dlopen: a libc without renameat2 (glibc < 2.28) must not take the jail down with it.
      const lib = dlopen("libc.so.6", { renameat2: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 } });
      renameat2 = (a, b) => lib.symbols.renameat2(AT_FDCWD, ptr(a), AT_FDCWD, ptr(b), RENAME_NOREPLACE);
    } catch {
      renameat2 = null;
    }
  }
  if (!renameat2) return false;
  libc ??= loadLibc();
  if (renameat2(Buffer.from(from + "\0", "utf8"), Buffer.from(to + "\0", "utf8")) === 0) return true;
  // errno is read at once: no other libc call runs on this thread in between.
  const errno = read.i32(libc.symbols.__errno_location()!, 0);
  if (errno === 22 || errno === 38) return false; // EINVAL (the filesystem), ENOSYS (the kernel)
  throw errnoError(errno);
}

const LOCK_EX = 2;
const LOCK_NB = 4;

/**
 * Take flock(2)'s exclusive lock on an open file without waiting: false when another open of the
 * file (in this process or another worker) holds it. The lock belongs to the open file description,
 * so closing the descriptor ends it on every path. Advisory: only ftpkit's in-place uploads take it.
 */
export function tryLockExclusive(fd: number): boolean {
  libc ??= loadLibc();
  return libc.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0;
}

/** The path of an open descriptor: the directory (or file) actually opened, whatever is renamed later. */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** A parent directory held open and the last segment of a key: `path` names the entry inside it. */
export interface Parent extends Disposable {
  fd: number;
  name: string;
  /** `/proc/self/fd/<fd>/<name>`: renames of the parent's ancestors cannot redirect it. */
  path: string;
}

/**
 * One storage root, opened once. `open` resolves a key beneath it (symlinks that stay inside are
 * followed, any resolution that would leave it — "..", absolute or escaping symlinks, magic links
 * — fails with StorageError "denied"). Operations Node offers only by path go through `parent`.
 */
export class Jail {
  readonly rootFd: number;

  constructor(private readonly realRoot: string) {
    libc ??= loadLibc();
    this.rootFd = fs.openSync(realRoot, O_PATH | fs.constants.O_DIRECTORY | O_CLOEXEC);
  }

  /** Open `key` ("" = the root) beneath the root. Throws errno errors (mapped by the caller) or StorageError. */
  open(key: string, flags: number, mode = 0o644): number {
    // A root removed while held still opens as "." (and stats as a directory): only its link count says it is gone.
    if (key === "" && this.removed()) throw rootMissing();
    for (let hops = 0; ; hops++) {
      try {
        return this.openAt(this.rootFd, key === "" ? "." : key, flags, mode);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT" && this.removed()) throw rootMissing();
        // RESOLVE_BENEATH refuses every absolute symlink, even one naming a place inside the root:
        // spell such links relative to the root and try again (the open itself stays beneath).
        const again = err instanceof StorageError && err.kind === "denied" && hops < 40 ? this.rebase(key) : null;
        if (again === null) throw err;
        key = again;
      }
    }
  }

  /**
   * `key` with its first symlink replaced by the link's target as a key, when that target (absolute
   * or relative) lies inside the root; null when there is none or it leads out. Only ever a hint:
   * whatever it returns is opened beneath the root again.
   */
  private rebase(key: string): string | null {
    const parts = key.split("/");
    for (let i = 0; i < parts.length; i++) {
      let fd: number;
      try {
        fd = this.openAt(this.rootFd, i === 0 ? "." : parts.slice(0, i).join("/"), O_PATH | fs.constants.O_DIRECTORY);
      } catch {
        return null;
      }
      let target: string;
      try {
        target = fs.readlinkSync(`${fdPath(fd)}/${parts[i]}`);
      } catch {
        continue; // not a link: go deeper
      } finally {
        closeQuietly(fd);
      }
      const base = target.startsWith("/") ? target : `${this.realRoot}/${parts.slice(0, i).join("/")}/${target}`;
      const real = nodePath.posix.normalize(base);
      if (real !== this.realRoot && !real.startsWith(this.realRoot.endsWith("/") ? this.realRoot : this.realRoot + "/")) return null;
      const inside = real.slice(this.realRoot.length).replace(/^\/+/, "");
      return [inside, ...parts.slice(i + 1)].filter((p) => p !== "").join("/");
    }
    return null;
  }

  /** The root directory was removed (its descriptor is held, its inode has no name left). */
  private removed(): boolean {
    try {
      return fs.fstatSync(this.rootFd).nlink === 0;
    } catch {
      return false;
    }
  }

  /** Open `name` (a relative path, or its bytes) beneath the directory `dirfd`, which is the jail for that call. */
  openAt(dirfd: number, name: string | Uint8Array, flags: number, mode = 0o644): number {
    for (let attempt = 0; ; attempt++) {
      const r = rawOpenat2(dirfd, name, flags, mode, RESOLVE);
      if (r >= 0) return r;
      // EAGAIN: a rename raced the lookup and the kernel could not prove it stayed beneath: retry.
      if (-r === 11 && attempt < 8) continue;
      if (-r === 18) throw new StorageError("denied", "path outside the home");
      // Links in a loop on the way: said so. Only here, where the kernel walked the links: an ELOOP
      // of an O_NOFOLLOW open elsewhere means "a link where a file was wanted" (still "denied").
      if (-r === 40) throw new StorageError("loop", "too many levels of symbolic links");
      throw errnoError(-r);
    }
  }

  /** Open the directory holding `key` (which must not be the root) and name the entry in it. */
  parent(key: string): Parent {
    const slash = key.lastIndexOf("/");
    const name = key.slice(slash + 1);
    if (name === "") throw new StorageError("denied", "invalid path");
    const fd = this.open(slash < 0 ? "" : key.slice(0, slash), O_PATH | fs.constants.O_DIRECTORY);
    return {
      fd,
      name,
      path: `${fdPath(fd)}/${name}`,
      [Symbol.dispose]: () => closeQuietly(fd),
    };
  }

  /**
   * The key of `name` in the open directory `dirFd` as that directory really lies below the root
   * (the links on its way resolved: its /proc link names where it is), or null when it is not below it.
   */
  keyOf(dirFd: number, name: string): string | null {
    const real = fs.readlinkSync(fdPath(dirFd));
    const root = fs.readlinkSync(fdPath(this.rootFd));
    if (real === root) return name;
    return real.startsWith(`${root}/`) ? `${real.slice(root.length + 1)}/${name}` : null;
  }

  /** Open `key` as an O_PATH descriptor (no read or write access: stat, or a directory to work in). */
  openPath(key: string, directory = false): number {
    return this.open(key, O_PATH | (directory ? fs.constants.O_DIRECTORY : 0));
  }

  /**
   * The backend's own directory `name` in the root (created when missing), opened as an O_PATH
   * descriptor the caller owns, never through a symlink: with `.ftpkit-tmp -> /elsewhere` planted in
   * a home by a local user, the server wrote upload data and lock files there, outside the jail (and
   * its sweep removed files there). Work inside it through fdPath(fd), as inside a Parent.
   * `onCreated` is called when this call made the directory (not when it was there).
   */
  openOwnDir(name: string, create = true, onCreated?: () => void): number {
    const flags = O_PATH | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;
    try {
      return this.openAt(this.rootFd, name, flags);
    } catch (err) {
      if (!create || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    try {
      fs.mkdirSync(`${fdPath(this.rootFd)}/${name}`, { mode: 0o700 }); // mkdir(2) follows no symlink at the name
      onCreated?.();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    return this.openAt(this.rootFd, name, flags);
  }

  close(): void {
    closeQuietly(this.rootFd);
  }
}

/**
 * Remove the backend's own directory `name` in `realRoot` if it is empty, through a fresh open of
 * the root, and only while that is still the directory `made` (device and inode) it was made in.
 * Its caller keeps no jail: a server keeping one per temp directory it made (to remove them when it
 * stops) held every such home's descriptor until then (disks busy for umount, EMFILE at logins).
 * rmdir(2): a directory holding anything, another server's temp file or lock included, stays; a
 * symlink at the name is not removed. Never throws.
 */
export function removeOwnDirIfEmpty(realRoot: string, made: { dev: number; ino: number }, name: string): void {
  let fd: number;
  try {
    fd = fs.openSync(realRoot, O_PATH | fs.constants.O_DIRECTORY | O_CLOEXEC);
  } catch {
    return;
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.dev === made.dev && st.ino === made.ino) fs.rmdirSync(`${fdPath(fd)}/${name}`);
  } catch {
  } finally {
    closeQuietly(fd);
  }
}

/** What a listing needs of an entry: its type bits, size and modification time. */
export interface EntryFacts {
  /** st_mode (S_IFMT bits tell the type). */
  mode: number;
  size: number;
  mtimeMs: number;
  /** Directories: device and inode as MLSD's `unique` fact (RFC 3659 §7.5.2); one reached twice has one. */
  unique?: string;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_WANTED = 0x1 | 0x2 | 0x40 | 0x100 | 0x200; // TYPE, MODE, MTIME, INO, SIZE
// statx(2)'s struct has one layout on every architecture (unlike struct stat).
const statxOut = new Uint8Array(256);
const statxView = new DataView(statxOut.buffer);
const statxName = Buffer.alloc(4096 + 1);
const utf8 = new TextEncoder();
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * lstat of `name` inside the directory `dirfd` (statx with AT_SYMLINK_NOFOLLOW): one name lookup in
 * the directory actually opened, no path walk — about twice as fast as lstat by path. Undefined when
 * it vanished or cannot be read. `raw`: `name` is a name's bytes as Latin-1 text (local-names.ts),
 * written as they are, not encoded.
 */
export function statAt(dirfd: number, name: string, raw = false): EntryFacts | undefined {
  libc ??= loadLibc();
  if (raw && name.length >= 4096) return undefined;
  const written = raw ? statxName.write(name, 0, "latin1") : utf8.encodeInto(name, statxName.subarray(0, 4096)).written;
  if (written >= 4096) return undefined;
  statxName[written] = 0;
  if (libc.symbols.statx(dirfd, ptr(statxName), AT_SYMLINK_NOFOLLOW, STATX_WANTED, ptr(statxOut)) !== 0) return undefined;
  const le = LITTLE_ENDIAN;
  const mode = statxView.getUint16(28, le);
  return {
    mode,
    size: Number(statxView.getBigUint64(40, le)),
    mtimeMs: Number(statxView.getBigInt64(112, le)) * 1000 + statxView.getUint32(120, le) / 1e6,
    // Only directories need it: a listing of 10,000 files builds no string per file.
    ...((mode & S_IFMT) === S_IFDIR ? { unique: uniqueFact(statxView.getUint32(136, le), statxView.getUint32(140, le), statxView.getBigUint64(32, le)) } : {}),
  };
}

const RLIMIT_NOFILE = 7;

/**
 * Raise the soft open-descriptor limit to the hard one (Bun already does at start-up; this makes
 * sure, and reports the result). Null when the limits cannot be read.
 */
export function raiseDescriptorLimit(): { soft: number; hard: number } | null {
  try {
    libc ??= loadLibc();
    const lim = new BigUint64Array(2);
    if (libc.symbols.getrlimit(RLIMIT_NOFILE, ptr(lim)) !== 0) return null;
    if (lim[0]! < lim[1]!) {
      const want = new BigUint64Array([lim[1]!, lim[1]!]);
      if (libc.symbols.setrlimit(RLIMIT_NOFILE, ptr(want)) === 0) lim[0] = lim[1]!;
    }
    const num = (v: bigint) => (v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v));
    return { soft: num(lim[0]!), hard: num(lim[1]!) };
  } catch {
    return null;
  }
}

export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {}
}

export const O_PATH_FLAG = O_PATH;
