// Passwords typed on the command line (a URL's user:PASSWORD@, `serve --user NAME:PASS`, `test
// --password PASS`) are overwritten in the process's own argument memory as soon as it starts, so `ps`
// and /proc/PID/cmdline show MASK instead, whatever the password's length, which nothing there
// gives away (curl's blanks and MySQL's x's keep it). They are visible for the few
// milliseconds before that; on a machine shared with people who must not see them, ~/.netrc,
// $FTPKIT_PASSWORD or a users file keep them off the command line altogether.

/** Options whose whole value is a secret, and those whose value after the first ":" is (NAME:PASS). */
const SECRET_VALUE = new Set(["--password"]);
const SECRET_AFTER_COLON = new Set(["--user"]);
/** Options whose value is EVENT=URL of a webhook, which may carry its secret in the path or the query too. */
const WEBHOOK = new Set(["--hook"]);
/** A URL anywhere in an argument: alone, as an option's value, or inside one (`--hook upload=https://u:PASS@host/`). */
const URL_IN = /[a-z][a-z0-9+.-]*:\/\//i;

/** What `ps` shows in a secret's place: the same for every secret, so its length is not shown either. */
export const MASK = "***";

/** How many secrets starred has replaced (read by secretCount). */
let secretsStarred = 0;

/** `text` with the characters from `from` to `to` replaced by MASK. */
function starred(text: string, from: number, to: number): string {
  if (to <= from) return text;
  secretsStarred++;
  return text.slice(0, from) + MASK + text.slice(to);
}

/** The password of the URL in `text` (user:PASSWORD@host, up to the last "@" as the URL parser takes it) starred. */
function urlStarred(text: string): string {
  const found = URL_IN.exec(text);
  if (!found) return text;
  const url = text.slice(found.index);
  return text.slice(0, found.index) + passwordStarred(url);
}

function passwordStarred(url: string): string {
  const at = url.lastIndexOf("@");
  const colon = url.indexOf(":", url.indexOf("//") + 2);
  return at < 0 || colon < 0 || colon > at ? url : starred(url, colon + 1, at);
}

/**
 * A webhook's URL with its password, and what follows its first path segment (the rest of the path,
 * the query), starred: as the logs show it (urlForLogs), since webhooks carry their secret there too
 * (Slack's /services/T…/B…/SECRET, ?token=…).
 */
function webhookStarred(text: string): string {
  const out = urlStarred(text);
  const found = URL_IN.exec(out);
  if (!found || !/^https?:/i.test(found[0])) return out;
  const start = found.index + found[0].length;
  const authority = out.slice(start).search(/[/?#]/);
  if (authority < 0) return out;
  let at = start + authority;
  if (out[at] === "/") {
    const next = out.slice(at + 1).search(/[/?#]/);
    if (next < 0) return out;
    at += 1 + next;
  }
  return starred(out, at + 1, out.length);
}

function valueStarred(option: string, value: string): string {
  if (SECRET_VALUE.has(option)) return starred(value, 0, value.length);
  if (WEBHOOK.has(option)) return webhookStarred(value);
  if (SECRET_AFTER_COLON.has(option)) {
    const colon = value.indexOf(":");
    return colon < 0 ? value : starred(value, colon + 1, value.length);
  }
  return urlStarred(value);
}

/**
 * The arguments as `ps` should show them: every secret replaced by MASK. Works on any string, one
 * character per byte (the caller decodes the raw arguments as latin1).
 */
export function argsWithoutSecrets(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    const previous = args[i - 1] ?? "";
    if (SECRET_VALUE.has(previous) || SECRET_AFTER_COLON.has(previous) || WEBHOOK.has(previous)) return valueStarred(previous, arg);
    const eq = /^(--[a-z0-9-]+)=/i.exec(arg);
    if (eq) return eq[0] + valueStarred(eq[1]!, arg.slice(eq[0].length));
    return urlStarred(arg);
  });
}

/** How many secrets argsWithoutSecrets masks in `args` (a secret that is itself "***" too). */
function secretCount(args: readonly string[]): number {
  const before = secretsStarred;
  argsWithoutSecrets(args);
  return secretsStarred - before;
}

/**
 * The one line `ps` shows for `raw` (the whole argument area: the program's words, then `userArgs`
 * of them, the command's own), its secrets masked, and no longer than `room` characters.
 *
 * MASK (3 characters) is longer than a secret of 1 or 2, and a line longer than the argument area
 * lost its end (`--names` showed as `--na`, which also told the secret's length). So the program's
 * words (bun, the script; a compiled ftpkit) are shortened, the first first, to their base names, then
 * left out, until the line is 1 + 2 per secret shorter than with them whole: what a line of 1-character
 * secrets needs to fit. How far that goes depends on the number of secrets, never on their length.
 * The command's own arguments are always whole; `ps -o comm` and /proc/PID/exe still name the program.
 */
export function psLine(raw: readonly string[], userArgs: number, room: number): string {
  const programWords = Math.max(0, raw.length - userArgs);
  const words: (string | null)[] = [...raw.slice(0, programWords), ...argsWithoutSecrets(raw.slice(programWords))];
  const need = 1 + 2 * secretCount(raw.slice(programWords));
  const line = () => words.filter((w) => w !== null).join(" ");
  const full = line().length;
  const short = () => full - line().length >= need;
  // Bun's own flags (--smol) are kept; a path is cut to its last component.
  for (let i = 0; i < programWords && !short(); i++) if (!words[i]!.startsWith("-")) words[i] = words[i]!.slice(words[i]!.lastIndexOf("/") + 1) || words[i]!;
  for (let i = 0; i < programWords && !short(); i++) words[i] = null;
  return line().slice(0, room);
}

/**
 * The process's argument memory (what /proc/PID/cmdline and `ps` read), on Linux; null elsewhere or
 * when it does not hold what this process was started with (then nothing is written).
 */
async function argumentMemory(): Promise<Uint8Array | null> {
  if (process.platform !== "linux") return null;
  // Read with Bun.file, not node:fs: this runs in the tuning re-execution's first image too, before
  // anything else is loaded, and node:fs costs it ~1.5 ms to load.
  const stat = await readLatin1("/proc/self/stat");
  // Fields 48 and 49 (arg_start, arg_end), counted after the command name's closing parenthesis (field 2).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = Number(fields[48 - 3]);
  const end = Number(fields[49 - 3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start <= 0 || end <= start || end - start > 1 << 22) return null;
  const { toArrayBuffer } = require("bun:ffi") as typeof import("bun:ffi");
  const memory = new Uint8Array(toArrayBuffer(start, 0, end - start));
  // The same bytes as /proc says, ending with this process's last argument: the right memory. Compared
  // by their ASCII characters: an argument that is not UTF-8 (a Latin-1 name) reaches process.argv
  // with U+FFFD in place of its bytes, and compared whole it left every password on show.
  const text = Buffer.from(memory).toString("latin1");
  const raw = text.split("\0");
  const last = raw.length > 1 ? raw[raw.length - 2]! : "";
  return text === (await readLatin1("/proc/self/cmdline")) && text.endsWith("\0") && asciiOf(last) === asciiOf(process.argv.at(-1) ?? "") ? memory : null;
}

async function readLatin1(path: string): Promise<string> {
  return Buffer.from(await Bun.file(path).arrayBuffer()).toString("latin1");
}

function asciiOf(text: string): string {
  return text.replace(/[^\x00-\x7f]/g, "");
}

/**
 * Mask the secrets in this process's arguments as `ps` shows them. True when something was hidden.
 *
 * The arguments are rewritten as setproctitle(3) does: one line (the arguments joined by spaces, as
 * `ps` prints them) ended by a NUL, and the area's last byte not NUL, so Linux shows /proc/PID/cmdline
 * up to that NUL only. Kept as NUL-separated arguments, the area keeps its size, and its padding
 * would tell how many characters the mask replaced. Short secrets, shorter than their mask, make
 * room by shortening the program's words (psLine).
 */
export async function hideSecretsFromPs(): Promise<boolean> {
  const args = process.argv.slice(2);
  if (argsWithoutSecrets(args).every((a, i) => a === args[i])) return false; // nothing to hide: no FFI loaded
  try {
    const memory = await argumentMemory();
    if (!memory || memory.length < 2) return false;
    const raw = Buffer.from(memory).toString("latin1").split("\0").slice(0, -1);
    const line = Buffer.from(psLine(raw, args.length, memory.length - 2), "latin1");
    memory.fill(0);
    memory.set(line);
    memory[memory.length - 1] = 0x20; // not NUL: what follows the first NUL is not shown
    return true;
  } catch {
    return false; // not fatal: the command runs, its arguments as they were
  }
}
