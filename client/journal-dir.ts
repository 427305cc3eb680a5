// Where a job's journal lives, and the checks that keep it out of another account's reach: a
// working directory's ./.ftpkit/transfers only when it is the user's own and no one else may write it,
// else the state directory's; and how journal files are created and read (never through a link).
import { accessSync, constants, lstatSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { jobWarning } from "./messages.ts";
import { openAbove, ownDir, stateDir } from "./state.ts";

/**
 * The journal directory for a working directory: ./.ftpkit/transfers, or, where that cannot be made
 * (cron from /, a read-only checkout, or one that is not a directory), one in the user's state
 * directory for it: every get and put failed there, with a stack trace, and later with "EACCES:
 * permission denied, mkdir '…/.ftpkit/transfers'". The first of transfers/, .ftpkit/ and the working
 * directory that exists decides whether it can be written. Nor where another account could reach
 * into it (said once): a .ftpkit or transfers/ that is a link, another account's, or writable by
 * group or others, or a working directory another account may rename .ftpkit in. A .ftpkit another
 * account made writable in a shared directory was used as it was, and its symlinks had `ftpkit get`
 * write into the user's own files (~/.bashrc).
 */
export function journalDir(cwd: string = process.cwd()): string {
  const here = join(cwd, ".ftpkit", "transfers");
  const problem = localJournalProblem(cwd);
  if (problem === null) return here;
  const fallback = join(stateDir(), "journals", new Bun.CryptoHasher("sha256").update(cwd).digest("hex").slice(0, 16), "transfers");
  if (problem && !noted.has(cwd)) {
    noted.add(cwd);
    jobWarning(`not keeping resume records in ${join(cwd, ".ftpkit")}: ${problem}; keeping them in ${fallback}`);
  }
  return fallback;
}

/** Working directories whose journal was moved to the state directory with a note: said once. */
const noted = new Set<string>();

/**
 * Why ./.ftpkit/transfers will not do: a reason when another account could reach into it, "" when it
 * merely cannot be written (cron from /: nothing to say), null when it will do.
 */
function localJournalProblem(cwd: string): string | null {
  const dot = join(cwd, ".ftpkit");
  let writable: boolean | undefined;
  for (const d of [join(dot, "transfers"), dot]) {
    try {
      lstatSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      return "";
    }
    // Both levels: a transfers/ of ours inside another account's .ftpkit can be renamed away.
    if (!ownDir(d, undefined, JOURNAL_DENY)) return `${d} is a link, another account's, or may be written by group or others`;
    writable ??= writableDir(d);
  }
  if (!(writable ?? writableDir(cwd))) return "";
  return openAbove(dot);
}

/** What no journal directory may allow: writes by group or others (they could plant links in it). */
const JOURNAL_DENY = 0o022;

/** Journal directories this process created or checked before writing in them (see readyDir). */
const ready = new Set<string>();

/** `dir` was removed (or may have been): checked again before the next write in it. */
export function forgetReady(dir: string): void {
  ready.delete(dir);
}

/**
 * Make `dir` (mode 0700) before the first write in it, and check a working directory's journal: another
 * account that may write there (a sticky shared directory) could make .ftpkit after journalDir looked.
 * Each of its levels must be ours, as journalDir requires. Other journal directories are the state
 * directory's (checked by stateDir), the API's (cli/api.ts) or a caller's own.
 */
export function readyDir(dir: string): void {
  if (ready.has(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (dir.endsWith("/.ftpkit/transfers")) {
    for (const d of [dir, dirname(dir)]) if (!ownDir(d, undefined, JOURNAL_DENY)) throw new Error(`${d} is a link, another account's, or may be written by group or others`);
  }
  ready.add(dir);
}

/** Every file the journal makes: created here, never an existing one or through a planted link. */
export const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Read a journal file, never through a symbolic link planted as its name (ELOOP), nor from a FIFO (no wait). */
export function readJournalFile(path: string): string {
  return readFileSync(path, { encoding: "utf8", flag: constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK });
}

/** Whether `dir` is a directory this process may create entries in; undefined when nothing is there. */
function writableDir(dir: string): boolean | undefined {
  try {
    if (!statSync(dir).isDirectory()) return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? undefined : false;
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

