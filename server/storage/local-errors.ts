// Errors of the local backend: errno codes become StorageError kinds, and no message carries a real
// path; the errno numbers the jail's system calls return become Node-style errors first. Split out of local.ts (with local-walk.ts) to keep each file to one concern.
import { StorageError, type StorageErrorKind } from "./backend.ts";

/** Linux errno numbers (as the jail's system calls through bun:ffi return them) by their Node codes. */
export const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 5: "EIO", 6: "ENXIO", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
  16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE",
  24: "EMFILE", 26: "ETXTBSY", 28: "ENOSPC", 30: "EROFS", 36: "ENAMETOOLONG", 38: "ENOSYS",
  39: "ENOTEMPTY", 40: "ELOOP", 95: "EOPNOTSUPP", 122: "EDQUOT",
};

/** A Node-style errno error for `errno` (a number the jail's system calls returned), for the mapping below. */
export function errnoError(errno: number): NodeJS.ErrnoException {
  const code = ERRNO_NAMES[errno] ?? "EIO";
  const err = new Error(code) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -errno;
  return err;
}

const ERRNO_KINDS: Record<string, StorageErrorKind> = {
  ENOENT: "not-found",
  EEXIST: "exists",
  ENOTEMPTY: "not-empty",
  ENOTDIR: "not-a-directory",
  EISDIR: "is-a-directory",
  EACCES: "denied",
  EPERM: "denied",
  EROFS: "denied",
  // Most ELOOPs here come from an O_NOFOLLOW open of a name that is a link (a link where a file was
  // wanted): "denied". A loop of links the kernel walked is said so where it can happen (the jail's
  // openAt, a home or mount root: local.ts).
  ELOOP: "denied",
  ENOSPC: "no-space",
  EDQUOT: "no-space",
  EIO: "io",
  EBUSY: "transient",
  EAGAIN: "transient",
  EMFILE: "transient",
  ENFILE: "transient",
  EXDEV: "unsupported",
  ENAMETOOLONG: "name-too-long",
  ENXIO: "denied",
};

/**
 * The home or mount directory itself is gone: never there, or removed (`rm -rf`) while served. The
 * server's to look into, as a missing bucket is ("unavailable": 550 "Directory not available", a WARN
 * with this reason); as "not-found" it read as the client's missing file, an upload into it got its
 * 150 before failing, and nothing was logged.
 */
export function rootMissing(): StorageError {
  return new StorageError("unavailable", "ENOENT: the home or mount directory itself is missing");
}

/**
 * The home or mount path names a file, not a directory (a drop box removed by its directory's owner,
 * who put a file at its path; a mount set on a file): the server's to look into, as rootMissing().
 * "not-a-directory" read as the client's, and a limited box's upload got "451 Cannot measure" for ever.
 */
export function rootNotDirectory(): StorageError {
  return new StorageError("unavailable", "ENOTDIR: the home or mount directory is not a directory");
}

/** Translate a Node errno error into a StorageError without leaking the real path. */
export function storageError(err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? "";
  // The file size limit (ulimit -f, RLIMIT_FSIZE) reached: out of room for that file, as ENOSPC is
  // (552 after the 150); it was "transient", 451 "try again later", which no retry could fix.
  if (code === "EFBIG") return new StorageError("no-space", code, "file too large for the server");
  return new StorageError(ERRNO_KINDS[code] ?? "transient", code || "I/O error");
}

export async function wrap<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw storageError(err);
  }
}

export function checkKey(key: string): void {
  if (key.includes("\0") || key.split("/").some((s) => s === ".." || s === ".")) {
    throw new StorageError("denied", "invalid path");
  }
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new StorageError("name-too-long", "path too long for the file system");
}

/**
 * PATH_MAX (4096, with its NUL) bounds a key, not the root's path before it: every entry is reached by
 * its key from the root's descriptor (openat2). MKD, STOR and RNTO act in the opened parent, so without
 * this check they made names deeper than that, which no command could reach again (CWD, RETR, RMD: 553).
 */
export const MAX_KEY_BYTES = 4095;

/** Run synchronous filesystem work, translating its errors. */
export function sync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storageError(err);
  }
}
