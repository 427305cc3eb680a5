// The users file: one INI section per user, read through this module and written through ini-save.ts.
//
//   ; Managed by `ftpkit user` …
//   [alice]
//   password = "$argon2id$v=19$m=19456,t=2,p=1$…"
//   home = home/alice                      ; relative to this file's directory
//   quota = 10GiB                          ; 0 / none / unlimited = no limit
//   perm = read,write,modify
//   require_tls = false
//   mount./pub = /srv/pub|read|0           ; mount.<vpath> = <dir>|<perms>|<quota>
//   mount./archive = s3://archive/2026|read|0 ; homes and mounts may be s3://BUCKET[/PREFIX]
//
// Sections are split by our own line scan and each line is decoded with the `ini` package
// (ini-lines.ts), so a dotted user name like `[j.doe]` stays one user (ini.parse would nest it) and
// every error can name its line. Config files are not served storage, so node:fs is used here
// directly. A save edits the admin's text in place (ini-edit.ts), so comments and blank lines like
// these are kept.
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import ini from "ini";
import { ParseError } from "../../protocol/errors.ts";
import { normalizeVirtualPath } from "../../protocol/path.ts";
import { isS3Url, normalizeS3Url } from "../../protocol/s3-url.ts";
import { formatSizeExact, parseSize } from "../../protocol/size.ts";
import { decodeLine, isBlankLine, isCommentLine, splitLines } from "./ini-lines.ts";
import { ALL_PERMS, type MountRecord, type Perm, type UserRecord } from "./types.ts";
import { nonUtf8Lines } from "./utf8-lines.ts";
import { localCause } from "../../protocol/local-cause.ts";

/** The name that accepts any password when it has no hash; `ftp` is an alias of it at login. */
export const ANONYMOUS = "anonymous";
/** Login alias of `anonymous`, so no real user may be called this. */
export const ANONYMOUS_ALIAS = "ftp";
export const MAX_USER_NAME = 32;
/** Perms a new user or hand-written section without `perm` gets. */
export const DEFAULT_PERMS: readonly Perm[] = ALL_PERMS;
/** Perms of a mount written without them: a mount exposes another tree, so read-only is the safe default. */
export const DEFAULT_MOUNT_PERMS: readonly Perm[] = ["read"];

/** The first lines of a users file `ftpkit user` creates (a file that exists keeps its own top). */
export const USERS_FILE_HEADER =
  "; Managed by `ftpkit user` (add, passwd, quota, mount, tls, del). Hand edits are fine while no `ftpkit user` command runs;\n" +
  "; `ftpkit user` changes only the lines of what it changes: comments, blank lines and the order of sections are kept.\n";

/** The users file is missing, unreadable or invalid; the message names the file and the problem. */
export class UsersFileError extends Error {
  readonly file: string;
  constructor(file: string, problem: string) {
    super(`users file ${file}: ${problem}`);
    this.name = "UsersFileError";
    this.file = file;
  }
}

/** Letters, digits, `._-`, 1–32 characters, not starting with `.` or `-`; throws ParseError otherwise. */
export function validateUserName(name: string): string {
  if (name === "") throw new ParseError("user name is empty");
  if (name.length > MAX_USER_NAME) {
    throw new ParseError(`user name ${JSON.stringify(name)} is longer than ${MAX_USER_NAME} characters`);
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name)) {
    throw new ParseError(
      `invalid user name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-", not starting with "." or "-"`,
    );
  }
  return name;
}

/** "read,write" → ["read", "write"] in canonical order; "" or "none" → []; unknown names → ParseError. */
export function parsePerms(text: string): Perm[] {
  const t = text.trim();
  if (t === "" || t.toLowerCase() === "none") return [];
  const wanted = new Set<string>();
  for (const part of t.split(",")) {
    const p = part.trim().toLowerCase();
    if (p === "") continue;
    if (!(ALL_PERMS as readonly string[]).includes(p)) {
      throw new ParseError(`unknown permission ${JSON.stringify(part.trim())} (use ${ALL_PERMS.join(", ")})`);
    }
    wanted.add(p);
  }
  return ALL_PERMS.filter((p) => wanted.has(p));
}

/** Perms as written in the file and shown by `user list`. */
export function formatPerms(perms: readonly Perm[]): string {
  return perms.length ? perms.join(",") : "none";
}

/** OWASP-minimum argon2id (~27 ms): strong enough, and logins stay cheap. */
export function hashPassword(plain: string): Promise<string> {
  return Bun.password.hash(plain, { algorithm: "argon2id", memoryCost: 19456, timeCost: 2 });
}

/**
 * Read the users file. A missing file is an empty store only with `allowMissing`; an empty (or
 * blank) file is refused with `allowEmpty: false` (the server's reload: a truncated file is a
 * mistake, not "no users"). Anything but a regular file (a FIFO would block the read) is refused.
 */
export async function loadUsers(file: string, opts: { allowMissing?: boolean; allowEmpty?: boolean } & ParseOptions = {}): Promise<Map<string, UserRecord>> {
  return (await readUsersFile(file, opts)).users;
}

/** loadUsers, with the text the users came from ("" for a missing file): an edit applies to that text. */
export async function readUsersFile(file: string, opts: { allowMissing?: boolean; allowEmpty?: boolean } & ParseOptions = {}): Promise<ParsedUsers & { text: string }> {
  const abs = resolve(file);
  let text: string;
  try {
    // O_NONBLOCK: opening a FIFO returns at once (and is refused below) instead of waiting for a writer.
    const fh = await open(abs, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw Object.assign(new Error("EISDIR"), { code: "EISDIR" });
      if (!st.isFile()) throw new UsersFileError(abs, "is not a regular file (a FIFO, socket or device?)");
      const bytes = await fh.readFile();
      text = bytes.toString("utf8");
      // A setting in another encoding would be read as some other path (its byte becomes U+FFFD);
      // a comment in one is left alone (but `ftpkit user` will not rewrite such a file: ini-save.ts).
      const badLines = nonUtf8Lines(bytes);
      const lines = badLines.length ? splitLines(text.replace(/^\uFEFF/, "")) : [];
      const bad = badLines.find((n) => !isBlankLine(lines[n - 1] ?? "") && !isCommentLine(lines[n - 1] ?? ""));
      if (bad !== undefined) throw new UsersFileError(abs, `line ${bad} is not valid UTF-8 (written in another encoding?): save the file as UTF-8, e.g. iconv -f latin1 -t utf-8`);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof UsersFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && opts.allowMissing) return { text: "", users: new Map(), sections: [] };
    if (code === "ENOENT") throw new UsersFileError(abs, "not found (create it with `ftpkit user add NAME`)");
    if (code === "EISDIR") throw new UsersFileError(abs, "is a directory");
    throw new UsersFileError(abs, `cannot read it (${localCause(err)})`);
  }
  if (opts.allowEmpty === false && text.trim() === "") throw new UsersFileError(abs, "is empty");
  return { text, ...parseUsersText(text, abs, opts) };
}

/** One `key = value` line of a section, decoded but not yet interpreted; `no` counts from 1. */
export interface ScannedLine {
  no: number;
  key: string;
  value: unknown;
}

/** A `[user]` section: its header's line number and its settings, in file order. */
export interface ScannedSection {
  name: string;
  no: number;
  lines: ScannedLine[];
}

/**
 * The layout pass of parseUsers: sections and their settings, blank and comment lines skipped.
 * Line numbers count `text.split(/\r\n|\r|\n/)` after a BOM, so ini-edit.ts finds the same lines.
 */
export function scanSections(text: string, file: string): ScannedSection[] {
  const fail = (problem: string): never => {
    throw new UsersFileError(file, problem);
  };
  if (text.includes("\0")) fail("contains NUL bytes (not a text file)");
  const sections: ScannedSection[] = [];
  const seen = new Set<string>();
  // Same line breaks as ini.parse, so our line numbers and its decoding agree.
  splitLines(text.replace(/^\uFEFF/, "")).forEach((raw, i) => {
    const no = i + 1;
    if (isBlankLine(raw) || isCommentLine(raw)) return;
    const header = /^\s*\[([^\]]*)\]\s*$/.exec(raw);
    if (header) {
      // A plain name (most of them) is what ini.unsafe would make of it, trimmed.
      const name = /^\s*[A-Za-z0-9._-]*\s*$/.test(header[1]!) ? header[1]!.trim() : ini.unsafe(header[1]!);
      try {
        validateUserName(name);
      } catch (err) {
        fail(`line ${no}: ${(err as Error).message}`);
      }
      if (name.toLowerCase() === ANONYMOUS_ALIAS) fail(`line ${no}: "${ANONYMOUS_ALIAS}" is reserved (it is an alias of ${ANONYMOUS})`);
      // Logins map every spelling of the name to "anonymous": [Anonymous] was an account no one could log in to.
      if (name.toLowerCase() === ANONYMOUS && name !== ANONYMOUS) fail(`line ${no}: "${name}" is reserved: the anonymous login is [${ANONYMOUS}]`);
      if (seen.has(name)) fail(`line ${no}: user "${name}" is defined twice`);
      seen.add(name);
      sections.push({ name, no, lines: [] });
      return;
    }
    const eq = raw.indexOf("=");
    if (eq <= 0) fail(`line ${no}: expected "key = value" or "[user]", got ${JSON.stringify(raw.trim().slice(0, 40))}`);
    const section = sections.at(-1) ?? fail(`line ${no}: setting outside a [user] section`);
    const entries = decodeLine(raw);
    if (entries.length === 0) {
      // `ini` reads nothing from a line holding U+2028/U+2029 (its pattern's "." stops there), nor
      // from a `__proto__` key (its guard against prototype pollution).
      if (/[\u2028\u2029]/.test(raw)) fail(`line ${no}: holds a line or paragraph separator (U+2028/U+2029), which a users file cannot hold`);
      fail(`line ${no}: user "${section.name}": unknown setting ${JSON.stringify(ini.unsafe(raw.slice(0, eq)))} (${KNOWN_SETTINGS})`);
    }
    if (entries.length !== 1) fail(`line ${no}: cannot read this line`);
    const [key, value] = entries[0]!;
    if (Array.isArray(value)) fail(`line ${no}: array keys ("${key}[]") are not supported`);
    if (section.lines.some((l) => l.key === key)) fail(`line ${no}: "${key}" is set twice for user "${section.name}"`);
    section.lines.push({ no, key, value });
  });
  return sections;
}

const KNOWN_SETTINGS = "known: password, home, quota, perm, require_tls, mount./PATH";

export interface ParseOptions {
  /**
   * `ftpkit user passwd NAME`: NAME's password line is being replaced, so a plaintext one there (the
   * mistake the parser otherwise refuses, naming that command as the fix) is read as no password.
   */
  replacingPasswordOf?: string;
}

/** Parse users-file text; `file` (absolute) names the file in errors and anchors relative paths. */
export function parseUsers(text: string, file: string, opts: ParseOptions = {}): Map<string, UserRecord> {
  return parseUsersText(text, file, opts).users;
}

/** A users file's text parsed: its users, and the sections they came from (where ini-edit.ts edits). */
export interface ParsedUsers {
  users: Map<string, UserRecord>;
  sections: ScannedSection[];
}

/** parseUsers, with the layout pass's sections: an edit needs both, and each is a pass over the whole file. */
export function parseUsersText(text: string, file: string, opts: ParseOptions = {}): ParsedUsers {
  const fail = (problem: string): never => {
    throw new UsersFileError(file, problem);
  };
  const sections = scanSections(text, file);
  const base = dirname(file);
  const users = new Map<string, UserRecord>();
  for (const s of sections) {
    const at = (l: ScannedLine, problem: string): never => fail(`line ${l.no}: user "${s.name}": ${problem}`);
    const str = (l: ScannedLine): string => (typeof l.value === "string" ? l.value : l.value === null ? "" : String(l.value));
    const user: UserRecord = {
      name: s.name,
      home: "", // home/NAME unless a line says otherwise (resolved below: once per user, not twice)
      quota: 0,
      perms: [...DEFAULT_PERMS],
      mounts: [],
      requireTls: false,
    };
    for (const l of s.lines) {
      try {
        if (l.key === "password") {
          const v = str(l);
          if (v === "") continue;
          // A plaintext password here is a mistake; refuse it loudly rather than lock the user silently.
          if (!v.startsWith("$") && s.name === opts.replacingPasswordOf) continue;
          if (!v.startsWith("$")) at(l, `password is not a hash (set it with \`ftpkit user passwd ${s.name}\`)`);
          user.hash = v;
        } else if (l.key === "home") {
          const v = str(l);
          if (v === "") at(l, "home is empty");
          user.home = placeOf(base, v);
        } else if (l.key === "quota") {
          user.quota = parseSize(str(l), { allowUnlimited: true });
        } else if (l.key === "perm") {
          // As --perm "": an edit that left it empty is not read as no rights at all (`none` says that).
          const v = str(l);
          if (v.trim() === "") at(l, "perm is empty: write read, write and/or modify (comma-separated), or none for no permissions");
          user.perms = parsePerms(v);
        } else if (l.key === "require_tls") {
          user.requireTls = parseBool(l.value) ?? at(l, `require_tls must be true or false, not ${JSON.stringify(l.value)}`);
        } else if (l.key.startsWith("mount.")) {
          const mount = parseMount(l.key.slice("mount.".length), str(l), base);
          if (user.mounts.some((m) => m.vpath === mount.vpath)) at(l, `mount ${mount.vpath} is defined twice`);
          user.mounts.push(mount);
        } else {
          at(l, `unknown setting "${l.key}" (${KNOWN_SETTINGS})`);
        }
      } catch (err) {
        if (err instanceof UsersFileError) throw err;
        at(l, (err as Error).message);
      }
    }
    if (user.home === "") user.home = resolve(base, "home", s.name);
    users.set(s.name, user);
  }
  return { users, sections };
}

function parseBool(v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  const t = String(v).trim().toLowerCase();
  // `ini` turns only a lowercase true/false into a boolean: True and FALSE arrive here as text.
  if (["true", "yes", "on", "1"].includes(t)) return true;
  if (["false", "no", "off", "0", ""].includes(t)) return false;
  return undefined;
}

/** `mount./pub = /srv/pub|read,write|10MB`; split from the right so a `|` in the directory survives. */
function parseMount(rawVpath: string, value: string, base: string): MountRecord {
  if (!rawVpath.startsWith("/")) throw new ParseError(`mount path "${rawVpath}" must start with "/"`);
  const vpath = cleanMountPath(rawVpath);
  const parts = value.split("|");
  let quota = 0;
  let perms: Perm[] = [...DEFAULT_MOUNT_PERMS];
  if (parts.length >= 3) quota = parseSize(parts.pop()!, { allowUnlimited: true });
  if (parts.length >= 2) {
    const given = parts.pop()!;
    if (given.trim() === "") throw new ParseError(`mount ${vpath} has empty permissions: write read, write and/or modify, or none`);
    perms = parsePerms(given);
  }
  const dir = parts.join("|").trim();
  if (dir === "") throw new ParseError(`mount ${vpath} has no directory`);
  return { vpath, dir: placeOf(base, dir), perms, quota };
}

/**
 * A home or mount place as stored: `s3://bucket/prefix` (normalised; an object store, see
 * server/storage/s3.ts) or a directory, relative to the users file's directory.
 */
export function placeOf(base: string, value: string): string {
  return isS3Url(value) ? normalizeS3Url(value) : resolve(base, value);
}

/** A clean absolute mount point other than "/"; throws ParseError. */
export function cleanMountPath(input: string): string {
  if (input.includes("\0")) throw new ParseError("mount path contains a NUL byte");
  // A line break or other control character in a listed name is refused by every listing (553).
  if (/[\x01-\x1f\x7f]/.test(input)) throw new ParseError("mount path contains a line break or another control character");
  const vpath = normalizeVirtualPath("/", input);
  if (vpath === "/") throw new ParseError(`cannot mount on "/" (that is the home directory)`);
  return vpath;
}

/** Serialize users to the text of a new users file: the header, then one section per user. */
export function formatUsers(users: Iterable<UserRecord>, file: string): string {
  let out = USERS_FILE_HEADER;
  for (const u of users) out += "\n" + formatSection(u, file);
  return out;
}

/** One user's section as a new file has it: `[name]`, then one `key = value` line per field. */
export function formatSection(u: UserRecord, file: string): string {
  return ini.stringify(userFields(u, dirname(resolve(file))), { section: u.name, whitespace: true });
}

/** A user's settings as stored (key → value text before INI quoting); no password key without a hash. */
export function userFields(u: UserRecord, base: string): Record<string, string> {
  const fields: Record<string, string> = {};
  if (u.hash) fields.password = u.hash;
  fields.home = storedPath(u.home, base);
  fields.quota = formatSizeExact(u.quota);
  fields.perm = formatPerms(u.perms);
  fields.require_tls = String(u.requireTls);
  for (const m of u.mounts) fields[`mount.${m.vpath}`] = `${placeOf(base, m.dir)}|${formatPerms(m.perms)}|${formatSizeExact(m.quota)}`;
  return fields;
}

/** Homes beside the users file are stored relative to it, so the file and its homes can move together. */
function storedPath(path: string, base: string): string {
  if (isS3Url(path)) return normalizeS3Url(path);
  const abs = resolve(base, path);
  const rel = relative(base, abs);
  if (rel !== "" && !rel.startsWith("..") && !isAbsolute(rel)) return rel.split(sep).join("/");
  return abs;
}
