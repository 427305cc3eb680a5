// Saving the users file: its current text edited in place (ini-edit.ts), written atomically, with
// its owner, group and mode kept. Config files are not served storage, so node:fs is used directly.
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { chmod, open, readFile, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { checkUsersText, editUsersText, sameUser } from "./ini-edit.ts";
import { formatUsers, parseUsers, parseUsersText, userFields, UsersFileError, validateUserName, type ParsedUsers, type ParseOptions } from "./ini-store.ts";
import { usersFileTarget } from "./users-lock.ts";
import { nonUtf8Lines } from "./utf8-lines.ts";
import { printableName } from "../../protocol/printable.ts";
import type { UserRecord } from "./types.ts";
import { localCause } from "../../protocol/local-cause.ts";

/**
 * Write the users file atomically (temp file in the same directory, fsync, rename); a new file is
 * mode 0600. An existing file's text is edited in place, so comments, blank lines and order stay; a
 * file that does not parse (a hand edit gone wrong) is written anew, as every save once was. The
 * text is parsed back first: a value the INI layout cannot hold, or a text that would say anything
 * but `users`, is refused before any write. `loaded`, the text `users` were read from (readUsersFile),
 * must still be the file's: else nothing is written (a hand edit saved meanwhile is not undone).
 * `before`, with `loaded`: that text's parse (parseUsersText) as it was, untouched by the change.
 */
export async function saveUsers(file: string, users: Map<string, UserRecord> | Iterable<UserRecord>, opts: ParseOptions & { loaded?: string; before?: ParsedUsers } = {}): Promise<void> {
  const abs = resolve(file);
  const list = [...(users instanceof Map ? users.values() : users)];
  for (const u of list) {
    try {
      validateUserName(u.name);
    } catch (err) {
      throw new UsersFileError(abs, (err as Error).message);
    }
  }
  // A Set, not findIndex per user: that was quadratic, 2.4 s of a 20,000-user file's every edit.
  const names = new Set<string>();
  for (const u of list) {
    if (names.has(u.name)) throw new UsersFileError(abs, `user "${u.name}" appears twice`);
    names.add(u.name);
  }
  // The new file keeps the old one's owner, group and mode: `sudo ftpkit user add` made it root's
  // and 0600, and a server running as a service account could no longer read it.
  // A symlinked users file is written where it points: renamed over, the link became a copy and
  // the real file (and a server reading it) silently stopped getting changes.
  const target = await usersFileTarget(abs);
  const was = await stat(target).catch(() => null);
  if (was) refuseReadOnlyStat(abs, was);
  // Only a regular file is read: a FIFO would block (loadUsers refuses one anyway).
  const bytes = was?.isFile() ? await readFile(target).catch(() => null) : null;
  const old = bytes ? bytes.toString("utf8") : "";
  // Text read as UTF-8 and written back has replaced each byte that was not UTF-8 with U+FFFD for good.
  const notUtf8 = bytes ? nonUtf8Lines(bytes)[0] : undefined;
  if (notUtf8 !== undefined) {
    throw new UsersFileError(abs, `line ${notUtf8} is not valid UTF-8, and rewriting the file would change its bytes: nothing was written; save it as UTF-8 first, e.g. iconv -f latin1 -t utf-8`);
  }
  // The users were read from `loaded`: applied to other text (a hand edit saved meanwhile) they
  // would undo that edit without a word.
  if (opts.loaded !== undefined && old !== opts.loaded) {
    throw new UsersFileError(abs, "changed while this command ran (edited by hand?): nothing was written; run the command again");
  }
  // `before`, the caller's parse of `loaded` (a copy taken before its change), stands for a parse of
  // `old`: each parse of a 50,000-user file is a few hundred ms of every `ftpkit user` command.
  const parsed = opts.loaded !== undefined && opts.before ? opts.before : tryParse(old, abs, opts);
  // Each new or changed user alone, so a refusal names the user rather than a line of text never
  // written. A user read from the file and left as it was reads back as itself: its lines stay.
  const base = dirname(abs);
  for (const u of list) {
    const was = parsed?.users.get(u.name);
    if (!was || !sameUser(u, was, base)) checkStorable(abs, u);
  }
  const text = parsed ? editUsersText(old, list, abs, opts, parsed) : checkUsersText(formatUsers(list, abs), list, abs);
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
      if (was) await keepOwner(fh, was, abs);
    } finally {
      await fh.close();
    }
    await chmod(tmp, was ? was.mode & 0o777 : 0o600); // open's mode is filtered by umask; be explicit
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    if (err instanceof UsersFileError) throw err;
    throw new UsersFileError(abs, `cannot write it (${localCause(err)})`);
  }
  // Make the rename itself durable; not every filesystem lets a directory be fsynced.
  try {
    const d = await open(dirname(target), "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {}
}

/**
 * Refuse to change a users file that no one may write (no write bit for anyone: 0444, 0400): the
 * admin who made it so meant it not to change, yet a save (a temp file renamed over it, which needs
 * only the folder's write bit) replaced it, mode kept. Root's open() ignores the bits, so they are
 * read here. `user add` and `user passwd` ask it before the password prompt; every save asks again.
 */
export async function refuseReadOnly(file: string): Promise<void> {
  const abs = resolve(file);
  const st = await stat(await usersFileTarget(abs)).catch(() => null);
  if (st) refuseReadOnlyStat(abs, st);
}

function refuseReadOnlyStat(abs: string, st: Stats): void {
  if (!st.isFile() || (st.mode & 0o222) !== 0) return;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
  throw new UsersFileError(abs, `is read-only (mode ${mode}): nothing was changed; make it writable (chmod u+w) to change it`);
}

/**
 * Give the new file the old one's owner and group, or refuse (nothing is written). An admin who may
 * write the folder but is not root got a file of their own, of their own group, and said nothing:
 * a server reading it as the old owner, or through the old group, could no longer (the change it
 * carried never applied, and the next start failed). The group alone is kept when that is allowed
 * (a member of it), which is enough if the owner is the admin already.
 */
async function keepOwner(fh: FileHandle, was: Stats, abs: string): Promise<void> {
  const st = await fh.stat();
  if (st.uid === was.uid && st.gid === was.gid) return;
  await fh.chown(was.uid, was.gid).catch(() => fh.chown(st.uid, was.gid)).catch(() => {});
  const now = await fh.stat();
  if (now.uid === was.uid && now.gid === was.gid) return;
  const lost = now.uid !== was.uid ? `owner (uid ${was.uid})` : `group (gid ${was.gid})`;
  throw new UsersFileError(abs, `cannot keep its ${lost}: the new file would be uid ${now.uid}, gid ${now.gid}, which a server reading it as that ${now.uid !== was.uid ? "owner" : "group"} may not read; nothing was written (run the command as the file's owner, or as root)`);
}

/** The parse of `text`, or null if it does not parse (a hand edit gone wrong: the file is written anew). */
function tryParse(text: string, file: string, opts: ParseOptions): ParsedUsers | null {
  try {
    return parseUsersText(text, file, opts);
  } catch {
    return null;
  }
}

/**
 * Throw UsersFileError, naming what cannot be stored, when `u` written alone into `file` would not
 * read back as itself (nothing is written): `user add` asks it before the password prompt too.
 */
export function checkStorable(file: string, u: UserRecord): void {
  const abs = resolve(file);
  let back: UserRecord | undefined;
  try {
    back = parseUsers(formatUsers([u], abs), abs).get(u.name);
  } catch {}
  if (!back || !sameUser(u, back, dirname(abs))) {
    throw new UsersFileError(abs, `cannot store user "${u.name}": ${unstorable(u, dirname(abs))}`);
  }
}

/**
 * What of `u` the users file cannot hold, as the `ini` format reads it back: it unescapes "\;",
 * "\#" and "\\" in any value and reads nothing from a line holding U+2028 or U+2029; a mount's value
 * loses its directory's trailing blanks, and its key an "=". (Quotes, "=", ";" or "#" in a path are
 * stored fine: the old hint named those.)
 */
function unstorable(u: UserRecord, base: string): string {
  // As written: a home beside the users file is stored relative to it.
  const fields = userFields(u, base);
  const places: Array<{ what: string; text: string; kind: "home" | "dir" | "vpath" }> = [{ what: `its home ${printableName(u.home)}`, text: fields.home!, kind: "home" }];
  for (const m of u.mounts) {
    places.push({ what: `its mount ${printableName(m.vpath)}'s directory ${printableName(m.dir)}`, text: fields[`mount.${m.vpath}`]!.replace(/\|[^|]*\|[^|]*$/, ""), kind: "dir" });
    places.push({ what: `its mount point ${printableName(m.vpath)}`, text: m.vpath, kind: "vpath" });
  }
  for (const { what, text, kind } of places) {
    let why: string | null = null;
    if (/\\[\\;#]/.test(text)) why = 'a backslash before ";", "#" or another backslash';
    else if (/[\u2028\u2029]/.test(text)) why = "a line or paragraph separator (U+2028, U+2029)";
    else if (kind === "dir" && /\s$/.test(text)) why = "white space at its end";
    else if (kind === "vpath" && text.includes("=")) why = 'an "="';
    if (why) return `${what} holds ${why}, which the users file's INI format cannot store: rename it, or choose another`;
  }
  return "a value holds characters the users file's INI format cannot store";
}
