// The users file's text edited in place: an `ftpkit user` command changes the lines of what it
// changes and nothing else, so an admin's comments, blank lines, order and spelling stay (vsftpd and
// ProFTPD admins annotate their files and expect tools to keep the notes).
//
//   - a changed setting rewrites its own line: the key as written, its inline comment kept;
//   - a new setting goes after its section's last setting (comments that follow it stay below);
//   - a removed setting (a mount) loses its line;
//   - a new user is appended to the file; a deleted user takes its section (header to last setting)
//     and the comment block directly above its header (no blank line between: it describes the user),
//     unless that block opens the file (the file's own note).
//
// Pure: old text and the users wanted in, new text out, and that text is checked to parse to exactly
// those users before it is returned.
import { dirname, resolve } from "node:path";
import ini from "ini";
import { decodeLine, isBlankLine as isBlank, isCommentLine as isComment } from "./ini-lines.ts";
import {
  cleanMountPath,
  formatPerms,
  formatSection,
  formatUsers,
  parseUsers,
  parseUsersText,
  type ParsedUsers,
  type ParseOptions,
  placeOf,
  userFields,
  USERS_FILE_HEADER,
  UsersFileError,
} from "./ini-store.ts";
import type { MountRecord, UserRecord } from "./types.ts";

/** The header `ftpkit user` wrote before it kept comments; it now says something false, so it is replaced. */
const OLD_HEADER = [
  "; Managed by `ftpkit user` (add, passwd, quota, mount, del). Hand edits are fine while no `ftpkit user` command runs;",
  "; each `ftpkit user` command writes the file anew, so comments other than these lines are not kept.",
];
const HEADER = USERS_FILE_HEADER.split("\n").slice(0, -1);


/** A line of the result: its text and the line break it had (new lines get the file's). */
interface OutLine {
  text: string;
  end: string;
}
/** Where a deleted user's lines were (blank lines around it are tidied). */
const GAP = Symbol("gap");

/**
 * The users file's new text: `oldText` with only what differs from `users` changed. Text that is
 * empty (a new file) gets formatUsers' layout, header included; any other keeps its own top. Throws
 * UsersFileError if `oldText` does not parse, or (never expected) if the edit would not parse back to
 * exactly `users`.
 */
export function editUsersText(oldText: string, users: Iterable<UserRecord>, file: string, opts: ParseOptions = {}, parsed?: ParsedUsers): string {
  const abs = resolve(file);
  const list = [...users];
  if (oldText.trim() === "") return checkUsersText(formatUsers(list, abs), list, abs);
  const base = dirname(abs);
  // `parsed`: the caller's parse of `oldText` (saveUsers'), so a big file is not read through twice more.
  const { users: before, sections } = parsed ?? parseUsersText(oldText, abs, opts);

  const bom = oldText.startsWith("\uFEFF") ? "\uFEFF" : "";
  const parts = oldText.slice(bom.length).split(/(\r\n|\r|\n)/); // text, break, text, break, …, text
  const lines = parts.filter((_, i) => i % 2 === 0);
  const ends = parts.filter((_, i) => i % 2 === 1);
  const finalBreak = lines.at(-1) === "";
  if (finalBreak) lines.pop();
  else ends.push("");
  const eol = ends.find((e) => e !== "") ?? "\n";

  const replace = new Map<number, string[]>(); // line index → the lines that stand in its place ([] = removed)
  const after = new Map<number, string[]>(); // line index → new lines that follow it
  const dropped = new Set<number>(); // lines of deleted users

  // Our own header is never taken as the first user's comment block; the old wording is updated.
  const oldHeader = OLD_HEADER.every((l, i) => lines[i] === l);
  const header = oldHeader || HEADER.every((l, i) => lines[i] === l) ? HEADER.length : 0;
  if (oldHeader) HEADER.forEach((l, i) => replace.set(i, [l]));

  const wanted = new Map(list.map((u) => [u.name, u]));
  for (const s of sections) {
    const head = s.no - 1;
    const last = (s.lines.at(-1)?.no ?? s.no) - 1;
    const user = wanted.get(s.name);
    if (!user) {
      let first = head;
      while (first - 1 >= header && isComment(lines[first - 1]!)) first--;
      // A block that opens the file is taken for the file's own note, never deleted with a user.
      if (first === 0 && first < head) first = head;
      for (let i = first; i <= last; i++) dropped.add(i);
      continue;
    }
    const old = before.get(s.name)!;
    // Most sections of a big file are not what the command changes: nothing to compute for them.
    if (sameUser(old, user, base)) continue;
    const fields = userFields(user, base);
    const lineOf = new Map(s.lines.map((l) => [l.key.startsWith("mount.") ? `mount.${cleanMountPath(l.key.slice("mount.".length))}` : l.key, l.no - 1]));
    const unchanged = new Set<string>();
    if ((old.hash || undefined) === (user.hash || undefined)) unchanged.add("password");
    if (placeOf(base, old.home) === placeOf(base, user.home)) unchanged.add("home");
    if (old.quota === user.quota) unchanged.add("quota");
    if (formatPerms(old.perms) === formatPerms(user.perms)) unchanged.add("perm");
    if (old.requireTls === user.requireTls) unchanged.add("require_tls");
    for (const m of old.mounts) if (user.mounts.some((n) => sameMount(m, n, base))) unchanged.add(`mount.${m.vpath}`);

    // A setting left at what the file already means (a default not written down) stays unwritten.
    const indent = s.lines.length ? /^\s*/.exec(lines[last]!)![0] : "";
    const added: string[] = [];
    for (const key of new Set([...Object.keys(fields), ...lineOf.keys()])) {
      if (unchanged.has(key)) continue;
      const at = lineOf.get(key);
      const value = fields[key];
      if (value === undefined) replace.set(at!, []);
      else if (at === undefined) added.push(indent + settingLine(key, value));
      else if (key === "password" && typedPassword(s.lines.find((l) => l.key === "password")?.value)) {
        // A password typed in clear (user passwd repairs it): nothing of the old line is kept, as
        // a ";" or "#" in that secret reads as the start of a comment the line would otherwise carry on.
        replace.set(at, [/^\s*/.exec(lines[at]!)![0] + settingLine(key, value)]);
      } else replace.set(at, rewriteValue(lines[at]!, value));
    }
    if (added.length) after.set(last, added);
  }

  const out: Array<OutLine | typeof GAP> = [];
  lines.forEach((text, i) => {
    if (dropped.has(i)) {
      if (!dropped.has(i - 1)) out.push(GAP);
      return;
    }
    const own = replace.get(i) ?? [text];
    own.forEach((t, k) => out.push({ text: t, end: k === own.length - 1 ? ends[i]! : eol }));
    for (const t of after.get(i) ?? []) out.push({ text: t, end: eol });
  });
  const kept = closeGaps(out);
  const fresh = list.filter((u) => !before.has(u.name));
  for (const u of fresh) {
    if (kept.length && !isBlank(kept.at(-1)!.text)) kept.push({ text: "", end: eol });
    for (const t of formatSection(u, abs).split(/\r?\n/).filter((t) => t !== "")) kept.push({ text: t, end: eol });
  }
  // Every line but the last ends with a break; the last one does if the old text's did.
  const text = kept.map((l, i) => l.text + (i < kept.length - 1 || finalBreak ? l.end || eol : "")).join("");
  // Nothing left (the last user of a file without comments deleted): the server refuses an empty
  // file as truncated and would keep the old users, so the header goes in.
  if (text.trim() === "") return checkUsersText(formatUsers(list, abs), list, abs);
  return checkUsersText(bom + text, list, abs);
}

/**
 * `text` if it parses to exactly `users` (names, settings; mounts by path, in any order), else
 * UsersFileError: nothing that says something else is ever written.
 */
export function checkUsersText(text: string, users: readonly UserRecord[], file: string): string {
  const abs = resolve(file);
  let back: Map<string, UserRecord>;
  try {
    back = parseUsers(text, abs);
  } catch (err) {
    throw new UsersFileError(abs, `the edited text would not parse (${(err as Error).message}); nothing written`);
  }
  const base = dirname(abs);
  const want = new Map(users.map((u) => [u.name, u]));
  // A name asked for twice, stored differently or not at all; or stored and not asked for.
  const wrong =
    users.find((u) => want.get(u.name) !== u || !back.has(u.name) || !sameUser(u, back.get(u.name)!, base))?.name ??
    [...back.keys()].find((n) => !want.has(n));
  if (wrong !== undefined) {
    throw new UsersFileError(abs, `editing it in place would not store user "${wrong}" as asked (please report this); nothing written`);
  }
  return text;
}

/** Same settings once paths are anchored at `base`; mounts are compared by path, whatever their order. */
export function sameUser(a: UserRecord, b: UserRecord, base: string): boolean {
  // Field by field, paths resolved only when their text differs: a deepEquals of normalised copies
  // cost 180 ms of every edit of a 50,000-user file (each user compared, each home resolved).
  if (a === b) return true;
  if (a.name !== b.name || (a.hash || undefined) !== (b.hash || undefined) || a.quota !== b.quota || a.requireTls !== b.requireTls) return false;
  if (!samePlace(a.home, b.home, base) || !samePerms(a.perms, b.perms) || a.mounts.length !== b.mounts.length) return false;
  const byPath = (x: MountRecord, y: MountRecord) => (x.vpath < y.vpath ? -1 : x.vpath > y.vpath ? 1 : 0);
  const am = [...a.mounts].sort(byPath);
  const bm = [...b.mounts].sort(byPath);
  return am.every((m, i) => sameMount(m, bm[i]!, base));
}

function samePlace(a: string, b: string, base: string): boolean {
  return a === b || placeOf(base, a) === placeOf(base, b);
}

/** Same perms in the same order (as a deepEquals of the arrays compared them). */
function samePerms(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

function sameMount(a: MountRecord, b: MountRecord, base: string): boolean {
  return a.vpath === b.vpath && samePlace(a.dir, b.dir, base) && formatPerms(a.perms) === formatPerms(b.perms) && a.quota === b.quota;
}

/** A new setting's line, as formatUsers writes it. */
function settingLine(key: string, value: string): string {
  return `${ini.safe(key)} = ${ini.safe(value)}`;
}

/** A password line's value that is not a hash: typed in clear by hand. */
function typedPassword(value: unknown): boolean {
  return typeof value === "string" && value !== "" && !value.startsWith("$");
}

/** What one line means to the parser ([key, value] pairs), for comparing two spellings. */
function meaning(line: string): string {
  return JSON.stringify(decodeLine(line));
}

/**
 * `raw` with its value replaced: the key, spacing, quoting and inline comment as written. A comment
 * that could not follow the new value would move onto its own line just above (a last resort: a
 * quoted value can always be followed by one, see decodeLine).
 */
function rewriteValue(raw: string, value: string): string[] {
  const eq = raw.indexOf("=");
  const rest = raw.slice(eq + 1);
  const space = isBlank(rest) ? (/\s$/.test(raw.slice(0, eq)) ? " " : "") : /^\s*/.exec(rest)![0];
  const head = raw.slice(0, eq + 1) + space;
  const plain = head + ini.safe(value);
  const note = inlineComment(raw);
  if (note === "") return [plain];
  const want = meaning(plain);
  // The line keeps the look it had: quoted if it was (and the new value reads the same bare or quoted).
  const bare = head + value + note;
  const order = /^\s*["']/.test(rest) ? [head + JSON.stringify(value) + note, plain + note, bare] : [bare, plain + note];
  for (const line of order) if (meaning(line) === want) return [line];
  return [/^\s*/.exec(raw)![0] + note.trimStart(), plain];
}

/** The comment after a setting's value, with the spaces before it ("" if none): what the parser cuts off. */
function inlineComment(raw: string): string {
  const whole = meaning(raw);
  for (let i = raw.indexOf("=") + 1; i < raw.length; i++) {
    if ((raw[i] === ";" || raw[i] === "#") && meaning(raw.slice(0, i)) === whole) return /\s*$/.exec(raw.slice(0, i))![0] + raw.slice(i);
  }
  return "";
}

/**
 * Drop the marks of deleted sections without leaving two blank lines where there was one, or blank
 * lines at the very top or bottom of the file.
 */
function closeGaps(lines: Array<OutLine | typeof GAP>): OutLine[] {
  const out: OutLine[] = [];
  let gap = false;
  for (const l of lines) {
    if (l === GAP) {
      gap = true;
      continue;
    }
    const doubled = gap && isBlank(l.text) && (out.length === 0 || isBlank(out.at(-1)!.text));
    gap = false;
    if (!doubled) out.push(l);
  }
  if (gap) while (out.length && isBlank(out.at(-1)!.text)) out.pop();
  return out;
}
