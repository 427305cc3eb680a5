import { ParseError } from "./errors.ts";

// LIST lines are read in list-line.ts (the shapes servers send); written here (ours).
export { modeFromColumns, parseListLine } from "./list-line.ts";

/** What a listing says about one entry, independent of LIST or MLSD. */
export interface FileInfo {
  name: string;
  type: "file" | "dir";
  size: number;
  mtime: Date;
  /** RFC 3659 §7.5.5 perm fact letters (e.g. "rwadf" for a writable file, "elcmp" for a dir). */
  perm?: string;
  /** RFC 3659 §7.5.2: the same for every name of one object (a client sees a link back to a directory). */
  unique?: string;
  /** A symbolic link as LIST shows it ("l…", "name -> target"): file or directory, the line does not say. */
  link?: true;
  /** A link's target as the server shows it (ftpkit's listings: relative ones only), when it does. */
  target?: string;
  /** Permission bits (0o777) where the listing shows them: LIST's rwx columns, MLSD's UNIX.mode fact. */
  mode?: number;
  /** A file whose MLSD line has no size fact (optional in RFC 3659): `size` is then 0, not the size. */
  sizeUnknown?: true;
  /** LIST only: how finely the line gave the time ("Mon DD HH:MM" a minute, "Mon DD YYYY" a day). */
  mtimePrecisionMs?: number;
  /** MLSD/MLST without a time that can be read (no modify fact, or one out of range): `mtime` is then the epoch, not the time. */
  mtimeUnknown?: true;
  /** The modify fact as sent when it cannot be read ("20261301120000": month 13), for a warning. */
  unreadableTime?: string;
  /**
   * A device, pipe, socket or door (its type letter; from MLSD, "?" for a type it does not name): no
   * file to copy, and no size.
   */
  special?: "c" | "b" | "p" | "s" | "D" | "?";
}

/** Permission bits as LIST's nine columns (0o750 → "rwxr-x---"). */
export function modeColumns(mode: number): string {
  let cols = "";
  for (let i = 0; i < 9; i++) cols += mode & (1 << (8 - i)) ? "rwx"[i % 3] : "-";
  return cols;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/**
 * Small memo tables for the date columns: the files of one directory share few mtimes, and a
 * 10,000-entry listing otherwise formats the same date 10,000 times. Cleared when full, so a
 * listing of a huge directory with all-distinct mtimes costs one Map lookup per line more.
 */
const MEMO_MAX = 4096;
const timeValMemo = new Map<number, string>();
const listDateMemo = new Map<number, string>();

/** RFC 3659 time-val (UTC): 20261121095300, used by MDTM and the modify fact. */
export function formatTimeVal(d: Date): string {
  const ms = d.getTime();
  const key = Math.floor(ms / 1000);
  let text = timeValMemo.get(key);
  if (text === undefined) {
    text =
      `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
      `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
    if (timeValMemo.size >= MEMO_MAX) timeValMemo.clear();
    timeValMemo.set(key, text);
  }
  return text;
}

/**
 * A time-val's fields as one UTC time, or NaN when one is out of its range (month 13, February 30,
 * hour 24): Date.UTC would roll them into another date ("20261340256161" read as 2027-02-10) and
 * read years 0-99 as 1900-1999. A second of 60 (RFC 3659 allows a leap second) is the next one.
 */
function utcOf(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  if (!(y >= 1000 && mo >= 1 && mo <= 12 && d >= 1 && h <= 23 && mi <= 59 && s <= 60)) return NaN;
  // Without a Date to ask (a listing of millions of lines parses one per line).
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]!)) return NaN;
  return Date.UTC(y, mo - 1, d, h, mi, s, ms);
}
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function parseTimeVal(text: string): Date {
  // The common shape, 14 digits, without the regular expression: a listing of millions of lines spent
  // most of its parsing here.
  if (text.length === 14) {
    const d = (at: number, n: number) => {
      let v = 0;
      for (let i = at; i < at + n; i++) {
        const c = text.charCodeAt(i) - 48;
        if (c < 0 || c > 9) return NaN;
        v = v * 10 + c;
      }
      return v;
    };
    const t = utcOf(d(0, 4), d(4, 2), d(6, 2), d(8, 2), d(10, 2), d(12, 2), 0);
    if (!Number.isNaN(t)) return new Date(t);
  }
  // RFC 3659's time-val allows any number of fraction digits: milliseconds are kept, the rest cut.
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new ParseError(`invalid time-val "${text.slice(0, 40)}"`);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0;
  const t = utcOf(y, mo, d, h, mi, s, ms);
  if (Number.isNaN(t)) throw new ParseError(`invalid time-val "${text}": a field out of range`);
  return new Date(t);
}

const LIST_DIR_HEAD = "drwxr-xr-x   2 ftp      ftp      ";
const LIST_FILE_HEAD = "-rw-r--r--   1 ftp      ftp      ";
/** As ls and vsftpd show a link: its own mode is always rwxrwxrwx on Linux. */
const LIST_LINK_HEAD = "lrwxrwxrwx   1 ftp      ftp      ";
/** Heads for entries whose mode is known (at most 2 × 512 of them). */
const headMemo = new Map<number, string>();

/** The columns before the size: type and permissions (the real ones when known), links, owner, group. */
function listHead(info: FileInfo): string {
  if (info.link) return LIST_LINK_HEAD;
  if (info.mode === undefined) return info.type === "dir" ? LIST_DIR_HEAD : LIST_FILE_HEAD;
  const key = (info.type === "dir" ? 0o1000 : 0) | (info.mode & 0o777);
  let head = headMemo.get(key);
  if (head === undefined) {
    head = `${info.type === "dir" ? "d" : "-"}${modeColumns(info.mode)}   ${info.type === "dir" ? 2 : 1} ftp      ftp      `;
    headMemo.set(key, head);
  }
  return head;
}
const SIZE_PAD = " ".repeat(12);

/** One `ls -l` style line as vsftpd and most clients expect (dates in UTC). */
export function formatListLine(info: FileInfo, now: Date = new Date()): string {
  const t = info.mtime;
  const ms = t.getTime();
  // As ls and vsftpd: HH:MM only for the past six months. A future time shows its year: every client
  // reads "Mon DD HH:MM" as within the past year, so "Mar  4 05:06" for next March was taken for last March.
  const recent = Math.floor(ms / 1000) <= Math.floor(now.getTime() / 1000) && now.getTime() - ms < SIX_MONTHS_MS;
  // Minute resolution is all the column shows; the sign bit of the key carries "recent".
  const minute = Math.floor(ms / 60_000);
  const key = recent ? minute : -minute - 1e12;
  let date = listDateMemo.get(key);
  if (date === undefined) {
    const when = recent ? `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}` : ` ${t.getUTCFullYear()}`;
    date = `${MONTHS[t.getUTCMonth()]} ${String(t.getUTCDate()).padStart(2, " ")} ${when}`;
    if (listDateMemo.size >= MEMO_MAX) listDateMemo.clear();
    listDateMemo.set(key, date);
  }
  const size = String(info.size);
  const sizeCol = size.length < 12 ? SIZE_PAD.slice(size.length) + size : size;
  return `${listHead(info)}${sizeCol} ${date} ${info.name}${info.link && info.target !== undefined ? ` -> ${info.target}` : ""}`;
}

/** The facts ftpkit can send in MLSD/MLST lines, in the order they are sent (RFC 3659 §7.5). */
export const MLSX_FACTS = ["type", "size", "sizd", "modify", "perm", "unique", "UNIX.mode"] as const;
export type MlsxFact = (typeof MLSX_FACTS)[number];

/**
 * MLSD/MLST facts (RFC 3659 §7): "type=file;size=12;modify=…;perm=r; name". `facts` is the
 * client's OPTS MLST selection (§7.9): only those are sent; all when absent.
 */
export function formatMlsxLine(info: FileInfo, opts: { typeFact?: string; facts?: ReadonlySet<string> } = {}): string {
  const want = opts.facts;
  let facts = "";
  // A link as ProFTPD and RFC 3659 §7.7.4's example write it: "OS.unix=slink:TARGET"; a target that a
  // fact value cannot hold (a space ends the facts, ";" one fact) is left out, or the name was forged.
  const shown = info.target !== undefined && /^[\x21-\x3a\x3c-\x7e\u0080-\uffff]+$/.test(info.target) ? `:${info.target}` : "";
  const type = opts.typeFact ?? (info.link ? `OS.unix=slink${shown}` : info.type);
  if (!want || want.has("type")) facts += `type=${type};`;
  if (info.type === "file") {
    if (!want || want.has("size")) facts += `size=${info.size};`;
  } else if (!want || want.has("sizd")) facts += `sizd=${info.size};`;
  if (!want || want.has("modify")) facts += `modify=${formatTimeVal(info.mtime)};`;
  if (info.perm !== undefined && (!want || want.has("perm"))) facts += `perm=${info.perm};`;
  if (info.unique !== undefined && (!want || want.has("unique"))) facts += `unique=${info.unique};`;
  // As ProFTPD writes it: four octal digits.
  if (info.mode !== undefined && (!want || want.has("UNIX.mode"))) facts += `UNIX.mode=0${(info.mode & 0o777).toString(8).padStart(3, "0")};`;
  return `${facts} ${info.name}`;
}

/**
 * OPTS MLST's argument (RFC 3659 §7.9): the known facts among "type;size;…" (any case); unknown
 * ones are ignored, an empty argument selects none.
 */
export function parseMlstOpts(arg: string): Set<MlsxFact> {
  const out = new Set<MlsxFact>();
  for (const f of arg.split(";")) {
    // Fact names are case-insensitive (§7.1); the set holds them as MLSX_FACTS spells them.
    const name = f.trim().toLowerCase();
    const fact = MLSX_FACTS.find((known) => known.toLowerCase() === name);
    if (fact) out.add(fact);
  }
  return out;
}

/** The FEAT line: every fact `offered`, the selected ones marked with "*" (§7.8). */
export function formatMlstFeature(selected: ReadonlySet<string>, offered: readonly string[] = MLSX_FACTS): string {
  return `MLST ${offered.map((f) => (selected.has(f) ? `${f}*;` : `${f};`)).join("")}`;
}

/** RFC 3659's types (§7.5.1): any other is an OS-specific or unknown entry. */
const MLSX_TYPES = new Set(["file", "dir", "cdir", "pdir"]);

/** The `ls` letter of an MLSD type fact that is no file or directory ("?" when it names none). */
function specialOf(typeFact: string): NonNullable<FileInfo["special"]> {
  const m = /^os\.unix=(chr|char|blk|block|fifo|pipe|sock|socket)/.exec(typeFact);
  if (!m) return "?";
  return m[1]!.startsWith("c") ? "c" : m[1]!.startsWith("b") ? "b" : m[1]!.startsWith("s") ? "s" : "p";
}

/** Parse one MLSD line (or the fact line of MLST). Entries of type cdir/pdir are returned as-is. */
export function parseMlsxLine(line: string): FileInfo & { typeFact: string } {
  const sp = line.indexOf(" ");
  if (sp < 0) throw new ParseError(`malformed MLSD line: ${line.slice(0, 80)}`);
  const facts = new Map<string, string>();
  for (let at = 0; at < sp; ) {
    let end = line.indexOf(";", at);
    if (end < 0 || end > sp) end = sp;
    const eq = line.indexOf("=", at);
    if (eq > at && eq < end) facts.set(line.slice(at, eq).toLowerCase(), line.slice(eq + 1, end));
    at = end + 1;
  }
  const typeFact = (facts.get("type") ?? "file").toLowerCase();
  const modify = facts.get("modify");
  // RFC 3659 §7.5.7: decimal digits. Anything else ("size=12x", "size=-1", "size=") says no size:
  // read with Number(), "12x" became a NaN size, and a download of that file failed its size check.
  const sizeText = facts.get("size") ?? facts.get("sizd");
  const sizeFact = sizeText !== undefined && /^\d+$/.test(sizeText) && Number.isSafeInteger(Number(sizeText)) ? sizeText : undefined;
  // A modify fact out of range (month 13) or malformed is a time not known, as one not sent: thrown,
  // the whole line was unreadable, and the file vanished from ls, get -r and sync.
  let mtime: Date | null = null;
  if (modify) {
    try {
      mtime = parseTimeVal(modify);
    } catch {}
  }
  const info: FileInfo & { typeFact: string } = {
    name: line.slice(sp + 1),
    type: typeFact === "file" ? "file" : "dir",
    size: Number(sizeFact || 0),
    mtime: mtime ?? new Date(0),
    typeFact,
  };
  if (mtime === null) info.mtimeUnknown = true;
  if (mtime === null && modify) info.unreadableTime = modify;
  // ProFTPD's "OS.unix=symlink" / "OS.unix=slink:TARGET": a link, as LIST's "l" lines are (RETR
  // follows it; what it points to, the line does not say). Dropped, it vanished from ls and get -r.
  if (/^os\.unix=(symlink|slink)/.test(typeFact)) {
    info.type = "file";
    info.link = true;
    // "OS.unix=slink:TARGET": the target as sent (its case kept).
    const raw = facts.get("type")!;
    const colon = raw.indexOf(":");
    if (colon >= 0 && colon < raw.length - 1) info.target = raw.slice(colon + 1);
  } else if (!MLSX_TYPES.has(typeFact)) {
    // ProFTPD's "OS.unix=chr-5/1", "OS.unix=fifo", or a type no RFC names: listed, never copied, as
    // LIST's devices and pipes are. Dropped, its name was missing from the listing, and a sync
    // --delete removed the local file of that name.
    info.type = "file";
    info.special = specialOf(typeFact);
  }
  if (info.type === "file" && !sizeFact) info.sizeUnknown = true;
  const perm = facts.get("perm");
  if (perm !== undefined) info.perm = perm;
  const unique = facts.get("unique");
  if (unique) info.unique = unique;
  // "UNIX.mode=0755" (ProFTPD), "unix.mode=0o755" (pyftpdlib, when asked): the permission bits only,
  // never setuid and the like.
  const mode = /^(?:0o)?([0-7]{3,4})$/.exec(facts.get("unix.mode") ?? "");
  if (mode) info.mode = parseInt(mode[1]!, 8) & 0o777;
  return info;
}
