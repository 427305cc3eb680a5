// The user's own state directory ($XDG_STATE_HOME/ftpkit, else ~/.local/state/ftpkit): saved
// passwords of unfinished transfers (so `ftpkit resume` needs nothing typed again); and, in a runtime
// directory, the locks that keep two runs from writing one file.
import { accessSync, constants, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ClientError } from "./errors.ts";
import { jobWarning } from "./messages.ts";
import { randomBytes, writeAtomic } from "./journal.ts";
import { readJournalFile } from "./journal-dir.ts";
import type { FtpUrl } from "../protocol/url.ts";

/** The state directory each wanted one stands for: itself, or the fallback it could not be created without. */
const stateDirs = new Map<string, string>();

/**
 * $XDG_STATE_HOME/ftpkit, else ~/.local/state/ftpkit. Where that cannot be created or written (a cron
 * job's system user with HOME=/nonexistent, `docker run --user` with HOME=/, a read-only home), or
 * is another account's, a private directory in the temp directory instead, so a transfer needs no
 * home, as with curl and wget: every get and put failed there with "EACCES: permission denied, mkdir '/nonexistent'".
 * What it keeps (the key sealing resume records, saved passwords) then lasts as long as the temp
 * directory does.
 */
export function stateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(process.env.HOME || homedir(), ".local", "state");
  const wanted = join(base, "ftpkit");
  const known = stateDirs.get(wanted);
  if (known) return known;
  let dir = wanted;
  try {
    mkdirSync(wanted, { recursive: true, mode: 0o700 });
    // One another account made (root's, after a `sudo ftpkit …` that kept HOME) is not ours to use;
    // nor one it lets us write: its owner could read what is saved there, or replace the key that
    // seals the resume records (and so choose what a `ftpkit resume` uploads, and where).
    accessSync(wanted, constants.W_OK | constants.X_OK);
    const uid = process.getuid?.();
    if (uid !== undefined && statSync(wanted).uid !== uid) throw new Error("another account's");
  } catch (err) {
    dir = privateTempDir(wanted, err as NodeJS.ErrnoException);
  }
  stateDirs.set(wanted, dir);
  return dir;
}

/**
 * TMPDIR/ftpkit-state-UID, once it is checked to be ours: /tmp is shared. Said once per job (a warning:
 * --quiet silences it), since what resume needs then lasts only as long as the temp directory.
 */
function privateTempDir(wanted: string, why: NodeJS.ErrnoException): string {
  const uid = process.getuid?.();
  const dir = join(tmpdir(), `ftpkit-state-${uid ?? "user"}`);
  const cannot = `cannot create ftpkit's state directory ${wanted} (${why.code ?? why.message})`;
  const open = openAbove(dir, uid);
  if (open) throw new ClientError(`${cannot}, and will not use ${dir}: ${open}; set $XDG_STATE_HOME to a directory you can write`, { kind: "local" });
  if (!ownPrivateDir(dir, uid)) throw new ClientError(`${cannot}, nor use ${dir}: set $XDG_STATE_HOME to a directory you can write`, { kind: "local" });
  jobWarning(`${cannot}: keeping what resume needs in ${dir}, which lasts as long as the temp directory; set $XDG_STATE_HOME to keep it elsewhere`);
  return dir;
}

/**
 * Why a directory above `dir` lets another account replace it (rename it away and put its own in
 * its place), or null: one any user may write without the sticky bit (/tmp has it: there only a
 * name's owner may rename it), or one another account owns (root aside).
 */
export function openAbove(dir: string, uid: number | undefined = process.getuid?.()): string | null {
  for (let d = dirname(dir); ; d = dirname(d)) {
    let st;
    try {
      st = statSync(d);
    } catch {
      return null; // not there: mkdir fails, and says so
    }
    if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) return `${d} may be written by any user and has no sticky bit (chmod +t, as /tmp has)`;
    if (uid !== undefined && st.uid !== 0 && st.uid !== uid) return `${d} belongs to another account (uid ${st.uid})`;
    if (dirname(d) === d) return null;
  }
}

const made = new Set<string>();

export function privateDir(name: string): string {
  const dir = join(stateDir(), name);
  if (!made.has(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    made.add(dir); // a tree job takes a lock per file: create the directory once
  }
  return dir;
}

/**
 * Keep the password a transfer logged in with until it completes: a 0600 file in a 0700 directory
 * the user owns (as careful as ~/.netrc), named by the transfer's id, deleted on completion.
 */
export function savePassword(id: string, password: string, url: FtpUrl, journal?: string): void {
  // The journal it belongs to: a password whose record was deleted by hand is found and removed.
  writeAtomic(privateDir("credentials"), `${id}.json`, JSON.stringify({ password, site: site(url), ...(journal ? { journal } : {}) }) + "\n");
}

/** The password kept for transfer `id`, only for the user and server it was given for. */
export function loadPassword(id: string, url: FtpUrl): string | undefined {
  try {
    const x = JSON.parse(readJournalFile(join(stateDir(), "credentials", `${id}.json`))) as { password?: unknown; site?: unknown };
    return typeof x.password === "string" && x.site === site(url) ? x.password : undefined;
  } catch {
    return undefined;
  }
}

/** Who a password belongs to: user@host:port (a record naming another server never gets it). */
function site(url: FtpUrl): string {
  return `${url.user ?? "anonymous"}@${url.host.toLowerCase()}:${url.port}`;
}

/**
 * Remove the saved passwords whose record is gone (its journal deleted by hand, `rm -rf .ftpkit`):
 * nothing would ever use or delete them. Passwords saved without their journal's place are kept.
 */
export function forgetOrphanedPasswords(): void {
  const dir = join(stateDir(), "credentials");
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json") && !n.startsWith("."));
  } catch {
    return;
  }
  for (const name of names) {
    try {
      const { journal } = JSON.parse(readJournalFile(join(dir, name))) as { journal?: unknown };
      if (typeof journal === "string" && !existsSync(join(journal, name))) rmSync(join(dir, name), { force: true });
    } catch {
      // unreadable: left for the user
    }
  }
}

export function forgetPassword(id: string): void {
  rmSync(join(stateDir(), "credentials", `${id}.json`), { force: true });
}

/** unlink, and nothing more: rmSync looks at the file first (one more system call per lock). */
function removeIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") throw err;
  }
}

/** Who holds a lock: its pid, and the start time of that process when the lock recorded one. */
interface Holder {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks after boot); null in an earlier ftpkit's lock, or without /proc. */
  start: string | null;
}

/** Fields 3 onwards of /proc/PID/stat (the name in field 2 may hold spaces); null without /proc or that process. */
function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

let me: string | null = null;

/**
 * What this process's locks say: "PID:START", so a lock names its holder even once the pid is reused
 * (locks in the state directory outlive a reboot); the pid alone where there is no /proc (macOS).
 * Read once: a tree job takes a lock per file.
 */
function lockTarget(): string {
  if (me !== null) return me;
  const start = procStat(process.pid)?.[19];
  return (me = start ? `${process.pid}:${start}` : String(process.pid));
}

function alive(h: Holder): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as { code?: string }).code !== "EPERM") return false;
  }
  const fields = procStat(h.pid);
  if (!fields) return true; // no /proc: a live pid is taken at its word
  // A killed run its parent has not reaped yet (a zombie) still answers signal 0, but holds nothing;
  // nor does a process that got the pid after the holder died (it started at another time).
  return fields[0] !== "Z" && (h.start === null || fields[19] === h.start);
}

let locks: string | null = null;

/**
 * Where locks live: a runtime directory on tmpfs when there is one — $XDG_RUNTIME_DIR/ftpkit, else
 * /dev/shm/ftpkit-UID once it is checked to be ours (a real directory, mode 0700) — else the state
 * directory. A tree job creates and removes a lock per file, and on ext4 each create cost 0.1–0.45 ms
 * of CPU here (the locks of 1,000 files were a third of a tree job's file creations), against
 * ~0.02 ms on tmpfs. Locks need not outlive a reboot: every holder is gone by then.
 */
export function lockDir(): string {
  if (locks) return locks;
  const uid = process.getuid?.();
  const candidates = [process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, "ftpkit") : null, uid !== undefined ? `/dev/shm/ftpkit-${uid}` : null];
  for (const dir of candidates) if (dir && ownPrivateDir(dir, uid)) return (locks = dir);
  return (locks = privateDir("locks"));
}

/**
 * Make `dir`, in a directory others may write (/tmp, /dev/shm), and say whether it is this user's
 * own private directory: another user could have made it first, or left a link there, so only a
 * real directory of ours with no access for others will do.
 */
export function ownPrivateDir(dir: string, uid: number | undefined = process.getuid?.()): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {}
  return ownDir(dir, uid, 0o077);
}

/**
 * Whether `dir` is a real directory (not a link to one) this user owns, with none of the `deny`
 * mode bits: 0o077 for a private one, 0o022 where only what others may write matters (a journal).
 */
export function ownDir(dir: string, uid: number | undefined = process.getuid?.(), deny = 0o077): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & deny) === 0;
  } catch {
    return false;
  }
}

/** An exclusive lock held by this process; release() is idempotent. */
export interface Lock {
  release(): void;
  [Symbol.dispose](): void;
}

/**
 * Take the lock on `what` (a local file being written, or a remote URL being uploaded): fails with
 * one clear line while another live ftpkit holds it; a lock left by a killed run is taken over.
 */
export function acquireLock(what: string, label: string = what): Lock {
  const dir = lockDir();
  const path = join(dir, `${new Bun.CryptoHasher("sha256").update(what).digest("hex").slice(0, 24)}.lock`);
  // The lock is a symbolic link whose target names its holder (lockTarget): it appears with the name
  // already in it, in one system call that fails if the lock exists (a lock created empty and filled
  // afterwards was taken by a rival that read it in between as a killed run's, and two runs wrote one file).
  // A tree job takes one per file: 2 calls (symlink, unlink) where a written file took 6.
  for (let tries = 0; tries < 3; tries++) {
    try {
      symlinkSync(lockTarget(), path);
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      const h = holder(path);
      if (h !== null && alive(h)) {
        if (h.pid === process.pid) throw new ClientError(`${label} is already being transferred by this job`);
        throw new ClientError(`another ftpkit (pid ${h.pid}) is already transferring ${label}`);
      }
      takeOver(path, h);
      continue;
    }
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      removeIfThere(path);
    };
    return { release, [Symbol.dispose]: release };
  }
  throw new ClientError(`cannot lock ${label}`);
}

/**
 * Who a lock names (null when it is gone or names none): "PID:START", or a bare pid as an earlier
 * ftpkit wrote it (and as written without /proc). Read as a link, or as a file: the lock of an even
 * earlier ftpkit was a file holding the pid.
 */
function holder(path: string): Holder | null {
  let text: string;
  try {
    text = readlinkSync(path);
  } catch (err) {
    if ((err as { code?: string }).code !== "EINVAL") return null;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      return null;
    }
  }
  const m = /^(\d+)(?::(\d+))?$/.exec(text.trim());
  const pid = m ? Number(m[1]) : 0;
  return pid > 0 && Number.isSafeInteger(pid) ? { pid, start: m![2] ?? null } : null;
}

const sameHolder = (a: Holder | null, b: Holder | null): boolean => a?.pid === b?.pid && a?.start === b?.start;

/**
 * Remove the lock a killed run (`dead`) left. Moved aside first, then checked: if a rival took it
 * over in the meantime and it is now theirs, it is put back, never deleted.
 */
function takeOver(path: string, dead: Holder | null): void {
  const aside = `${path}.stale.${randomBytes(6).toString("hex")}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return; // a rival removed it first
    throw err;
  }
  const now = holder(aside);
  if (!sameHolder(now, dead) && now !== null && alive(now)) {
    try {
      linkSync(aside, path);
    } catch {}
  }
  removeIfThere(aside);
}
