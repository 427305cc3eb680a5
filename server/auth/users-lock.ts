// The users file's lock (`<file>.lock`): `ftpkit user` commands take it around each read-modify-write,
// so parallel commands apply one after another. The server never takes it: it only reads, and every
// save is an atomic rename. Config files are not served storage, so node:fs is used here directly.
import { open, readFile, readlink, realpath, stat, unlink, type FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { UsersFileError } from "./ini-store.ts";
import { localCause } from "../../protocol/local-cause.ts";

/** Symlinks followed before a users file that names itself through them is refused (the kernel's bound). */
const MAX_LINK_HOPS = 40;

/**
 * The file a save replaces and the lock guards: the users file with its symlinks followed, so a
 * symlinked users file (into a config repository, say) is updated where it lives instead of being
 * replaced by a copy, and commands naming the link and the target take the same lock. Relative
 * homes stay anchored at the path as given, as the server reads them. A file that does not exist yet
 * is its name in its folder's real path; a link to a file not created yet is the file it names (made
 * there, as `>` through the link would: renamed over, the link became a plain file, and what it
 * named was never made).
 */
export async function usersFileTarget(file: string): Promise<string> {
  let path = resolve(file);
  for (let hops = 0; ; hops++) {
    const real = await realpath(path).catch(() => null);
    if (real !== null) return real;
    const link = await readlink(path).catch(() => null);
    if (link === null) break;
    if (hops === MAX_LINK_HOPS) throw new UsersFileError(resolve(file), "is a loop of symlinks");
    // From the link's real folder, as the kernel reads it: "../x" in a folder reached through a symlink is beside that folder's target.
    path = resolve(await realpath(dirname(path)).catch(() => dirname(path)), link);
  }
  // Not there yet: its folder's real path, so the first command and the next take the same lock.
  return realpath(dirname(path)).then((d) => join(d, basename(path)), () => path);
}

/**
 * How long a `ftpkit user` command waits for a holder that shows no sign of work: the lock neither
 * changed hands nor was touched (a holder touches it while it works, see HOLD_TOUCH_MS).
 */
export const LOCK_WAIT_MS = 10_000;
/** Bound of one wait however busy the holders look (a holder stuck but still touching its lock). */
export const LOCK_WAIT_MAX_MS = 10 * 60_000;
/** How often a holder touches its lock (capped at a third of the waiters' patience). */
const HOLD_TOUCH_MS = 1000;

/**
 * Run a read-modify-write of the users file while holding `<file>.lock` (created with O_EXCL and
 * holding "pid host"), so concurrent `ftpkit user` commands apply one after another instead of
 * overwriting each other. A lock left by a process that no longer runs (same host) is taken over.
 * A live holder is waited for while it shows progress: it touches its lock as it works, and the
 * lock passing to the next command counts too; after `waitMs` without either (or LOCK_WAIT_MAX_MS
 * in all), UsersFileError says who holds it. A fixed 10 s failed the third of three parallel adds to
 * a 50,000-user file while both before it were alive and working. The server never takes the lock:
 * it only reads, and every save is an atomic rename.
 */
export async function withUsersFileLock<T>(file: string, fn: () => Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
  const abs = resolve(file);
  const target = await usersFileTarget(abs);
  const lock = `${target}.lock`;
  const mine = `${process.pid} ${hostname()}\n`;
  // A wait: the monotonic clock. Progress is what this process sees change, never the lock's
  // mtime against our clock (a users file on a network mount has another machine's times).
  const started = performance.now();
  let progress = started;
  let seen = "";
  let held: FileHandle;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      const fh = await open(lock, "wx", 0o600);
      try {
        await fh.writeFile(mine);
      } catch (err) {
        // Ours (O_EXCL), and empty or cut short: left, it held up every command for 5 s (staleLock).
        await fh.close().catch(() => {});
        await unlink(lock).catch(() => {});
        throw err;
      }
      held = fh;
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new UsersFileError(abs, target === abs ? "its directory does not exist" : `is a symlink to ${target}, whose directory does not exist`);
      // Write access to the file is not enough: the lock, and the new file that replaces it, are made in its folder.
      const hint = code === "EACCES" || code === "EPERM" ? `: ftpkit user needs to create files in ${dirname(lock)}, not only to write ${basename(target)}` : "";
      if (code !== "EEXIST") throw new UsersFileError(abs, `cannot create the lock ${lock} (${localCause(err)})${hint}`);
    }
    const holder = await readFile(lock, "utf8").catch(() => "");
    if (await staleLock(lock, holder)) {
      // Only a dead holder's lock is removed, and only if it is still the same lock we read.
      if ((await readFile(lock, "utf8").catch(() => "")) === holder) await unlink(lock).catch(() => {});
      continue;
    }
    // Another holder, or the same one's touch: the commands ahead are working, so keep waiting.
    const st = await stat(lock).catch(() => null);
    const now = performance.now();
    const look = `${holder}|${st?.ino}|${st?.mtimeMs}`;
    if (look !== seen) {
      if (seen !== "") progress = now;
      seen = look;
    }
    if (now - progress >= waitMs || now - started >= Math.max(LOCK_WAIT_MAX_MS, waitMs)) {
      const [pid, host] = holder.trim().split(" ");
      // Another machine's process (a users file on a shared mount) cannot be checked from here.
      const where = host && host !== hostname() ? ` on host ${host}, which this machine cannot check,` : "";
      const who = pid ? `process ${pid}${where}` : "another process";
      const long = now - progress >= waitMs ? `with no sign of work for ${Math.round(waitMs / 1000)} s` : `for over ${Math.round((now - started) / 60_000)} min`;
      throw new UsersFileError(abs, `locked by ${who} ${long} (another \`ftpkit user\` command, stuck?); if none is running, remove ${lock}`);
    }
    await Bun.sleep(delay + Math.random() * delay);
  }
  // Touched while fn runs, so waiters see a holder at work (the handle: never another's lock).
  const touch = setInterval(() => {
    const t = new Date();
    held.utimes(t, t).catch(() => {});
  }, Math.max(10, Math.min(HOLD_TOUCH_MS, waitMs / 3)));
  touch.unref();
  try {
    return await fn();
  } finally {
    clearInterval(touch);
    await held.close().catch(() => {});
    if ((await readFile(lock, "utf8").catch(() => "")) === mine) await unlink(lock).catch(() => {});
  }
}

/** A lock whose holder is dead or younger than the lock (same host), or empty and older than a few seconds (its writer died mid-write). */
async function staleLock(lock: string, holder: string): Promise<boolean> {
  const [pidText, host] = holder.trim().split(" ");
  const pid = Number(pidText);
  if (!holder.trim()) {
    const st = await stat(lock).catch(() => null);
    return st !== null && Date.now() - st.mtimeMs > 5000;
  }
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
  // A live process of that PID holds it only if it ran when the lock was written: after a reboot or a
  // wrap of the PIDs (a container's command is often PID 1), the number is some other process's.
  return startedAfterLock(lock, pid);
}

/** Margin for /proc's boot time (whole seconds) against the lock's mtime. */
const START_SLACK_MS = 2000;

/**
 * Whether process `pid` started after `lock` was last written, so cannot be the process that wrote
 * it (Linux: /proc/PID/stat's start in clock ticks since boot, 100 a second, against /proc/uptime;
 * false where that cannot be read, as on other systems: a lock not proven stale is waited for).
 */
async function startedAfterLock(lock: string, pid: number): Promise<boolean> {
  const [st, procStat, uptime] = await Promise.all([
    stat(lock).catch(() => null),
    readFile(`/proc/${pid}/stat`, "utf8").catch(() => ""),
    readFile("/proc/uptime", "utf8").catch(() => ""),
  ]);
  // Fields after the command's ")" start at field 3 (state); starttime is field 22.
  const startTicks = Number(procStat.slice(procStat.lastIndexOf(")") + 2).split(" ")[19]);
  const upMs = Number(uptime.split(" ")[0]) * 1000;
  if (st === null || !procStat || !Number.isFinite(startTicks) || !Number.isFinite(upMs) || upMs <= 0) return false;
  const processAgeMs = upMs - startTicks * 10;
  const lockAgeMs = Date.now() - st.mtimeMs; // an mtime: the wall clock
  return processAgeMs + START_SLACK_MS < lockAgeMs;
}
