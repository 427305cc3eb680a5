// The local backend's temp directory (`.ftpkit-tmp/` in each root): the temp files overwrites write
// before they replace their target, each locked by its upload, and the sweep that clears the ones a
// killed server left (with the new-name lock files nobody holds).
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { StorageError } from "./backend.ts";
import { closeQuietly, fdPath, tryLockExclusive } from "./local-jail.ts";
import { pathNamesOpenFile } from "./local-identity.ts";
import { NAME_LOCK_PREFIX, sweepNameLock } from "./local-name-lock.ts";

/** The backend's own directory in each storage root: temp files of overwrites in progress. */
export const TEMP_DIR = ".ftpkit-tmp";

/**
 * Opens the root's TEMP_DIR (Jail.openOwnDir: never through a symlink), created when missing unless
 * `create` is false; the caller owns the descriptor.
 */
export type OpenTempDir = (create?: boolean) => number;

/**
 * A new temp file in `dir`, named HOST.PID.UUID and locked (flock) by its upload's descriptor for as
 * long as the upload owns it: the lock, not the PID, tells the sweep it is alive, since the PID of a
 * killed server is soon another live process's (a container's PID 1 restarted is PID 1 again; pid_max
 * is 32768 on many hosts). A sweep that found the file between its creation and its lock has removed
 * it (or is about to): another name is tried.
 */
export function createOwnedTemp(dir: string, perm: number): { temp: string; fd: number } {
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  for (let attempt = 0; ; attempt++) {
    const temp = `${dir}/${os.hostname()}.${process.pid}.${crypto.randomUUID()}`;
    const fd = fs.openSync(temp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, perm);
    if (tryLockExclusive(fd) && pathNamesOpenFile(temp, fd)) return { temp, fd };
    closeQuietly(fd);
    if (attempt === 2) throw new StorageError("transient", "temp file taken by a sweep");
  }
}

/**
 * Another host's temp file is removed only once its lock is free and nothing has been written to it
 * for this long: a root shared between hosts (NFS) may sit on a filesystem whose locks one host does
 * not see of another, and no live upload is silent this long (one is aborted after --stall-timeout).
 * A server on a host that is gone for good (a node that crashed, a container recreated under a new
 * host name) left its temp files for ever before.
 */
export const OTHER_HOST_TEMP_AGE_MS = 24 * 3_600_000;

/**
 * Remove temp files that no live upload owns: a server killed mid-overwrite leaves its temp file,
 * the next sweep clears it, and the new-name lock files nobody holds. A live upload's temp file
 * (this process's, another worker's) is locked and left alone; another host's waits a day too.
 */
export function sweepTempDir(tempDir: OpenTempDir): void {
  let dirFd: number;
  try {
    dirFd = tempDir(false); // no home gains the directory by being swept
  } catch {
    return;
  }
  try {
    const dir = fdPath(dirFd);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    const host = os.hostname();
    for (const name of names) {
      if (name.startsWith(NAME_LOCK_PREFIX)) {
        sweepNameLock(nodePath.join(dir, name));
        continue;
      }
      // HOST.PID.UUID: a host name may hold dots itself (a fully qualified one), the PID and the UUID none.
      const owner = /^(.+)\.(\d+)\.[^.]+$/.exec(name);
      if (!owner) continue;
      sweepTempFile(nodePath.join(dir, name), owner[1] === host ? 0 : OTHER_HOST_TEMP_AGE_MS);
    }
  } finally {
    closeQuietly(dirFd);
  }
}

/**
 * Remove a temp file whose lock no upload holds and that was last written `minAgeMs` ago or more;
 * unlinked while locked, so a creator that raced the sweep sees its name gone.
 */
function sweepTempFile(path: string, minAgeMs: number): void {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return;
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isFile() && Date.now() - st.mtimeMs >= minAgeMs && tryLockExclusive(fd) && pathNamesOpenFile(path, fd)) unlinkQuietly(path);
  } finally {
    closeQuietly(fd);
  }
}

export function unlinkQuietly(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {}
}

/** A storage sweeps its temp directory again at most this often, unless a sibling died (sweepAgain). */
const SWEEP_EVERY_MS = 3_600_000;

let sweepRound = 1;

/** The roots a login had swept, with the sweep round it was in (TempSweeps.atLogin: once per root per round). */
const sweptAtLogin = new Map<string, number>();

/**
 * Another process serving these roots died (a `--workers` sibling, killed mid-upload): every local
 * storage sweeps its temp directory again at its next upload or usage walk. A surviving worker had
 * swept before, and left the dead one's temp files until its own restart.
 */
export function sweepAgain(): void {
  sweepRound++;
}

/**
 * When one storage clears the temp files a killed process left: at the first upload or usage walk,
 * again at one an hour later or more (a server on another host may die while this one runs), and at
 * the next one after a sibling process died.
 */
export class TempSweeps {
  private sweptAt = -Infinity;
  private sweptRound = 0;

  /** Sweep `tempDir` if it is due. */
  due(tempDir: OpenTempDir): void {
    const now = performance.now();
    if (this.sweptRound === sweepRound && now - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = now;
    this.sweptRound = sweepRound;
    sweepTempDir(tempDir);
  }

  /**
   * A server killed mid-overwrite left its temp file in the home, and only that user's next upload
   * (or usage walk) cleared it: a restart and a login kept the space taken. So the first login to
   * each root in this process (and again after a sibling died) runs `sweep` too, after the 230 is
   * sent. A live upload's temp file, ours or another process's, is locked and stays.
   */
  static atLogin(root: string, sweep: () => Promise<void>): void {
    if (sweptAtLogin.get(root) === sweepRound) return;
    sweptAtLogin.set(root, sweepRound);
    // A home that does not open: the login already said so, or its next use will.
    setImmediate(() => void sweep().catch(() => {}));
  }
}
