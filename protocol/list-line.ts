// LIST lines as servers without MLSD send them: the Unix `ls -l` shape and its variants, and the
// MS-DOS shape of IIS and of some NAS and Windows servers. A line read only partly is an error:
// a name or size guessed wrong is worse than none (a wrong size fails a verified download, and a
// sync --delete acts on what the listing says).
import { ParseError } from "./errors.ts";
import type { FileInfo } from "./listing.ts";

/** LIST's nine permission columns ("rwxr-sr-T") as bits; s and t stand for an x that is set, S and T for one that is not. */
export function modeFromColumns(cols: string): number {
  let mode = 0;
  for (let i = 0; i < 9; i++) {
    const c = cols[i]!;
    const set = i % 3 === 2 ? c === "x" || c === "s" || c === "t" : c !== "-";
    if (set) mode |= 1 << (8 - i);
  }
  return mode;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** Parse one LIST line (Unix `ls -l` or MS-DOS shape). Returns null for "total N". */
export function parseListLine(line: string, now: Date = new Date()): FileInfo | null {
  if (/^total\s+\d+/.test(line)) return null;
  // The two shapes cannot be confused: a Unix line opens with its type letter, a DOS line with its date.
  return /^\d/.test(line) ? parseDosLine(line) : parseUnixLine(line, now);
}

function unrecognized(line: string, why?: string): ParseError {
  return new ParseError(`unrecognized LIST line${why ? ` (${why})` : ""}: ${line.slice(0, 80)}`);
}

/** A UTC date from its parts, or null when they name no day ("02-30") or no time ("25:00"). */
function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): Date | null {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, Math.min(s, 59)));
  return t.getUTCDate() === d ? t : null;
}

/** A size column: decimal digits; past 2^53 it is no size (a 25-digit column taken as 1e25 failed the download as a changed file). */
function sizeOf(digits: string): Pick<FileInfo, "size" | "sizeUnknown"> {
  const bytes = Number(digits);
  return Number.isSafeInteger(bytes) ? { size: bytes } : { size: 0, sizeUnknown: true };
}

// ---- MS-DOS (IIS's default "MS-DOS" directory listing style) ----

/**
 * "12-05-26  11:19AM       <DIR>          name" or "01-31-2024  03:04PM            123456 name";
 * also 24-hour times and ISO dates ("2024-01-31  14:05"). Dates are in the server's time,
 * taken as UTC as LIST's Unix dates are.
 */
const DOS_HEAD = /^(?:(\d{2})-(\d{2})-(\d{2}|\d{4})|(\d{4})-(\d{2})-(\d{2})) +(\d{1,2}):(\d{2})(?: ?([AaPp])[Mm])?(?= )/;
/** DOS pads "<DIR>" to the width of the size column: 9 spaces, then the one separator. */
const DOS_DIR_PAD = 10;

function parseDosLine(line: string): FileInfo {
  const m = DOS_HEAD.exec(line);
  if (!m) throw unrecognized(line);
  const [, mm, dd, yy, isoY, isoM, isoD, hh, mi, half] = m;
  let year = Number(yy ?? isoY);
  // Two-digit years as lftp reads them: 70-99 are 19xx, the rest 20xx.
  if ((yy ?? isoY)!.length === 2) year += year >= 70 ? 1900 : 2000;
  let hour = Number(hh);
  if (half) {
    if (hour < 1 || hour > 12) throw unrecognized(line, `no such time: ${hh}:${mi}${half}M`);
    hour = (hour % 12) + (/p/i.test(half) ? 12 : 0);
  }
  const mtime = utc(year, Number(mm ?? isoM), Number(dd ?? isoD), hour, Number(mi));
  if (!mtime) throw unrecognized(line, "no such date");
  const rest = line.slice(m[0].length);
  const dir = /^ +<DIR>( +)/.exec(rest);
  if (dir) {
    // IIS puts every name in one column: after "<DIR>", its padding and the separator (10 spaces),
    // and a name may begin with spaces of its own. A server that pads less, pads less.
    const pad = Math.min(dir[1]!.length, DOS_DIR_PAD);
    const name = rest.slice(dir[0].length - dir[1]!.length + pad);
    if (!name.trim()) throw unrecognized(line, "no name");
    return { name, type: "dir", size: 0, mtime, mtimePrecisionMs: MINUTE_MS };
  }
  // The size is right-aligned: the one space after it is the separator, the rest is the name, its
  // own leading, inner and trailing spaces kept.
  const file = /^ +(\d+) /.exec(rest);
  if (!file) throw unrecognized(line);
  const name = rest.slice(file[0].length);
  if (!name) throw unrecognized(line, "no name");
  return { name, type: "file", ...sizeOf(file[1]!), mtime, mtimePrecisionMs: MINUTE_MS };
}

// ---- Unix `ls -l` ----

interface Token {
  text: string;
  start: number;
  end: number;
}

/** The first `max` whitespace-separated tokens of `line` (a scan that never backtracks: a hostile line of spaces costs its length once). */
function tokens(line: string, max: number): Token[] {
  const out: Token[] = [];
  const re = /\S+/g;
  for (let m = re.exec(line); m && out.length < max; m = re.exec(line)) out.push({ text: m[0], start: m.index, end: m.index + m[0].length });
  return out;
}

/** Type letter, nine columns, and the ACL / SELinux / extended-attribute mark some `ls` add (+ . @). */
const UNIX_MODE = /^([-dlcbpsD])([rwxsStTlL-]{9})[+.@]?$/;
/**
 * How far the size column may be from the mode: link count, owner and group (or owner only, as
 * some servers list), each possibly a name with spaces ("Domain Users").
 */
const MAX_OWNER_TOKENS = 8;

interface DateCols {
  mtime: Date;
  mtimePrecisionMs: number;
  /** Where the date's last column ends in the line. */
  end: number;
  /** The year was right after the day, one space apart: some `ls` pad the year on its right instead. */
  yearPaddedRight?: boolean;
}

/**
 * The date columns starting at token `i`: "Mon DD HH:MM" (within the past year), "Mon DD YYYY",
 * "YYYY-MM-DD HH:MM" (ls --time-style=long-iso) or "YYYY-MM-DD HH:MM:SS.nnn +hhmm" (--full-time).
 */
function dateAt(t: Token[], i: number, now: Date): DateCols | null {
  const a = t[i];
  const b = t[i + 1];
  const c = t[i + 2];
  if (!a || !b) return null;
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(a.text);
  if (iso) {
    const tm = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(b.text);
    if (!tm) return null;
    const date = utc(Number(iso[1]), Number(iso[2]), Number(iso[3]), Number(tm[1]), Number(tm[2]), Number(tm[3] ?? 0));
    if (!date) return null;
    if (tm[3] === undefined) return { mtime: date, mtimePrecisionMs: MINUTE_MS, end: b.end };
    // --full-time always gives the zone after the seconds; long-iso never does (a name may start with "+0100").
    const zone = c && /^([+-])(\d{2})(\d{2})$/.exec(c.text);
    if (!zone) return { mtime: date, mtimePrecisionMs: 1000, end: b.end };
    const offsetMs = (zone[1] === "-" ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3])) * MINUTE_MS;
    return { mtime: new Date(date.getTime() - offsetMs), mtimePrecisionMs: 1000, end: c.end };
  }
  const month = /^[A-Za-z]{3}$/.test(a.text) ? MONTHS.indexOf(a.text.toLowerCase()) : -1;
  if (month < 0 || !c || !/^\d{1,2}$/.test(b.text)) return null;
  const day = Number(b.text);
  const hm = /^(\d{1,2}):(\d{2})$/.exec(c.text);
  if (hm) {
    const year = now.getUTCFullYear();
    let mtime = utc(year, month + 1, day, Number(hm[1]), Number(hm[2]));
    // "Mon DD HH:MM" means within the last six months: a future date belongs to last year, as does
    // a Feb 29 this year lacks.
    if (!mtime || mtime.getTime() - now.getTime() > DAY_MS) mtime = utc(year - 1, month + 1, day, Number(hm[1]), Number(hm[2]));
    return mtime ? { mtime, mtimePrecisionMs: MINUTE_MS, end: c.end } : null;
  }
  if (!/^\d{4}$/.test(c.text)) return null;
  const mtime = utc(Number(c.text), month + 1, day);
  return mtime ? { mtime, mtimePrecisionMs: DAY_MS, end: c.end, yearPaddedRight: c.start === b.end + 1 } : null;
}

interface SizeCols {
  /** The bytes, or null for a device's "major, minor". */
  digits: string | null;
  /** The token after the size column. */
  next: number;
}

/** The size column at token `i`: bytes, or a device's "major, minor" (c and b entries: no size at all). */
function sizeAt(t: Token[], i: number, device: boolean): SizeCols | null {
  const a = t[i];
  if (!a) return null;
  if (/^\d+$/.test(a.text)) return { digits: a.text, next: i + 1 };
  if (!device) return null;
  if (/^\d+,\d+$/.test(a.text)) return { digits: null, next: i + 1 };
  if (/^\d+,$/.test(a.text) && t[i + 1] && /^\d+$/.test(t[i + 1]!.text)) return { digits: null, next: i + 2 };
  return null;
}

/**
 * "-rw-r--r--   1 owner group   1234 Jan  1  2020 name" (ours, vsftpd's, pyftpdlib's, ProFTPD's,
 * busybox's), with or without the group column, with numeric or spaced owners, ISO dates, device
 * numbers in place of a size. The size and date columns are found as the first place after the
 * mode where a size is followed by a whole date; the name is what follows the date's one separator.
 */
function parseUnixLine(line: string, now: Date): FileInfo {
  const t = tokens(line, MAX_OWNER_TOKENS + 7);
  const mode = t[0] && UNIX_MODE.exec(t[0].text);
  if (!mode) throw unrecognized(line);
  const kind = mode[1]!;
  const device = kind === "c" || kind === "b";
  let found: { size: SizeCols; date: DateCols } | null = null;
  for (let i = 2; i <= 1 + MAX_OWNER_TOKENS && !found; i++) {
    // A device's "5," is no owner: on a file's line, its minor number would be taken for the size.
    if (/^\d+,\d*$/.test(t[i - 1]?.text ?? "")) break;
    const size = sizeAt(t, i, device);
    const date = size && dateAt(t, size.next, now);
    if (size && date) found = { size, date };
  }
  if (!found) {
    const month = t.slice(2).find((x) => /^[A-Za-z]{3}$/.test(x.text) && !MONTHS.includes(x.text.toLowerCase()));
    throw unrecognized(line, month ? `unrecognized month: ${month.text}` : undefined);
  }
  const { size, date } = found;
  if (line[date.end] !== " " && line[date.end] !== "\t") throw unrecognized(line, "no name");
  let name = line.slice(date.end + 1);
  // As lftp: an `ls` that pads the year on its right ("Jan  1 2020  name") puts a second space before the name.
  if (date.yearPaddedRight && name.startsWith(" ")) name = name.slice(1);
  // A link's target is no part of its name (the first " -> ", as lftp and curl read it).
  const arrow = kind === "l" ? name.indexOf(" -> ") : -1;
  const target = arrow >= 0 ? name.slice(arrow + 4) : undefined;
  if (arrow >= 0) name = name.slice(0, arrow);
  const info: FileInfo = {
    name,
    type: kind === "d" ? "dir" : "file",
    ...(size.digits === null ? { size: 0, sizeUnknown: true as const } : sizeOf(size.digits)),
    mtime: date.mtime,
    mtimePrecisionMs: date.mtimePrecisionMs,
  };
  // A link's own columns (always rwxrwxrwx on Linux) say nothing of what it points to: no mode.
  if (kind === "l") info.link = true;
  if (target) info.target = target;
  else info.mode = modeFromColumns(mode[2]!);
  // Devices, pipes, sockets and doors: listed, never copied (RETR of a pipe waits forever).
  if (kind !== "-" && kind !== "d" && kind !== "l") info.special = kind as NonNullable<FileInfo["special"]>;
  return info;
}
