/** vsftpd's fixed command buffer: anything longer is refused without being buffered. */
export const MAX_COMMAND_LINE = 4096;

/** A parsed command line: the upper-cased verb and the raw argument ("" when none). */
export interface FtpCommand {
  verb: string;
  arg: string;
}

/** A line refused before dispatch: `code` is the reply (500 when absent). */
export type ParsedLine = { ok: true; command: FtpCommand } | { ok: false; reason: string; code?: number };

/**
 * Parse one command line (CRLF already stripped). The argument is kept verbatim after the
 * first space — file names may contain spaces, quotes and leading blanks (RFC 959 §5.3.2).
 */
export function parseCommandLine(line: string): ParsedLine {
  if (line.includes("\0")) return { ok: false, reason: "NUL byte in command" };
  const sp = line.indexOf(" ");
  const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
  // Letters first, then letters or digits: the legacy digest verbs are XMD5, XSHA1, XSHA256, XSHA512.
  if (!/^[A-Z][A-Z0-9]{2,7}$/.test(verb)) return { ok: false, reason: "Syntax error, command unrecognized" };
  // Bytes that are not UTF-8 arrive as lone surrogates (see decodeLine): refused, never mapped
  // lossily, so two different names can never become one file.
  if (!line.isWellFormed()) {
    if (verb === "USER" || verb === "PASS" || verb === "ACCT") return { ok: false, code: 501, reason: "Argument is not valid UTF-8" };
    return { ok: false, code: 553, reason: "File name not allowed: not valid UTF-8" };
  }
  return { ok: true, command: { verb, arg: sp < 0 ? "" : line.slice(sp + 1) } };
}

/**
 * The longest password, in UTF-8 bytes, that `PASS <password>` carries within MAX_COMMAND_LINE (the
 * cap counts the line's bytes up to its LF, its CR included): a longer one no client can log in with.
 */
export const MAX_PASS_BYTES = MAX_COMMAND_LINE - "PASS ".length - "\r".length;

/**
 * Whether text would break a command line it went into: CR or LF end the line (the rest becomes a
 * command of its own), NUL cuts it for many servers. A user name, password or path holding one is
 * refused where it comes from (the URL, $FTPKIT_PASSWORD, ~/.netrc), before any connection.
 */
export function breaksCommandLine(text: string): boolean {
  return /[\r\n\0]/.test(text);
}

/** Format a command for the wire (client side). */
export function formatCommand(verb: string, arg?: string): string {
  if (arg !== undefined && /[\r\n]/.test(arg)) throw new Error("CR/LF in command argument");
  return arg === undefined || arg === "" ? `${verb}\r\n` : `${verb} ${arg}\r\n`;
}

/**
 * Splits a byte stream into command lines with a hard cap. TELNET IAC sequences that some clients
 * send before ABOR (RFC 959 §4.1.3) are removed. An over-long line is reported once and its bytes
 * are discarded up to the next newline, never accumulated.
 */
export class LineSplitter {
  private chunks: Buffer[] = [];
  private length = 0;
  private discarding = false;
  /** An ABOR was taken at its CR: the LF after it, should it come after all, ends no line. */
  private lfOwed = false;

  constructor(private readonly maxLine: number = MAX_COMMAND_LINE) {}

  /**
   * Feed bytes; returns the complete lines (decoded as UTF-8) in order, an over-long one as `null` in
   * its place: its 500 must answer it, not the command before it (replies are paired by order).
   */
  push(data: Uint8Array): { lines: (string | null)[] } {
    const lines: (string | null)[] = [];
    let start = 0;
    if (this.lfOwed && data.length > 0) {
      if (data[0] === 10) start = 1;
      this.lfOwed = false;
    }
    while (start < data.length) {
      const nl = data.indexOf(10, start);
      const end = nl < 0 ? data.length : nl;
      if (!this.discarding) {
        const piece = data.subarray(start, end);
        if (this.length + piece.length > this.maxLine) {
          this.discarding = true;
          this.chunks = [];
          this.length = 0;
          lines.push(null);
        } else if (piece.length) {
          this.chunks.push(Buffer.from(piece));
          this.length += piece.length;
        }
      }
      if (nl < 0) break;
      if (!this.discarding) lines.push(decodeLine(Buffer.concat(this.chunks, this.length)));
      this.chunks = [];
      this.length = 0;
      this.discarding = false;
      start = nl + 1;
    }
    // "ABOR\r" and nothing after it: the LF went as TCP urgent data, which the kernel takes out of
    // the stream (Python's ftplib sends the whole ABOR line with MSG_OOB; vsftpd and pyftpdlib read
    // urgent data inline, which Bun's sockets cannot ask for). Waiting for that LF, the ABOR never ran.
    if (!this.discarding && this.length > 0 && this.length <= 16 && this.chunks.at(-1)!.at(-1) === 13) {
      const line = decodeLine(Buffer.concat(this.chunks, this.length));
      if (line.toUpperCase() === "ABOR") {
        lines.push(line);
        this.chunks = [];
        this.length = 0;
        this.lfOwed = true;
      }
    }
    return { lines };
  }
}

// ignoreBOM: a U+FEFF is dropped in one place, decodeLine, for valid and invalid lines alike.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A line as text. Valid UTF-8 decodes as usual; otherwise each byte that is not part of a valid
 * sequence becomes the lone surrogate U+DC80–U+DCFF (Python's "surrogateescape"): nothing is lost
 * or merged, and parseCommandLine can tell (a lone surrogate never comes out of valid UTF-8).
 */
function decodeLine(buf: Buffer): string {
  let bytes = buf;
  if (bytes.includes(0xff)) bytes = stripTelnet(bytes);
  let s: string;
  try {
    s = strictUtf8.decode(bytes);
  } catch {
    s = decodeEscaped(bytes);
  }
  if (s.endsWith("\r")) s = s.slice(0, -1);
  // A byte order mark before the verb (some Windows clients send one at the start of a session) is
  // no part of it; one inside the argument (a name starting with U+FEFF) is kept. Dropped by the
  // decoder's default before, the mark stayed on a line that was not UTF-8, whose verb was then
  // unknown (500) instead of its name being refused (553).
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  return s;
}

function decodeEscaped(b: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    let cp = n === 1 ? c & 0x1f : n === 2 ? c & 0x0f : c & 0x07;
    let ok = n > 0 && i + n < b.length;
    for (let k = 1; ok && k <= n; k++) {
      const cc = b[i + k]!;
      if ((cc & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (cc & 0x3f);
    }
    const min = n === 1 ? 0x80 : n === 2 ? 0x800 : 0x10000;
    if (ok && cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff)) {
      out += String.fromCodePoint(cp);
      i += n + 1;
    } else {
      out += String.fromCharCode(0xdc00 + c);
      i++;
    }
  }
  return out;
}

/**
 * TELNET in a command line (RFC 854): IAC IAC is a literal 0xFF; IAC and a
 * command byte (240–250: SE, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, SB) is dropped, and so are
 * IAC WILL/WONT/DO/DONT and their option byte (clients send IAC IP, IAC DM before ABOR). IAC
 * followed by anything else past the verb is not TELNET: both bytes stay (as ProFTPD keeps them), so the line is
 * not valid UTF-8 and a name holding it is refused (553) instead of silently losing the byte after
 * the 0xFF (`MKD bad\xFFname` made "badame").
 */
function stripTelnet(buf: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    const next = buf[i + 1];
    // A DM before the verb whose IAC went as TCP urgent data: tnftp, inetutils-ftp and netkit ftp
    // send IAC IP IAC with MSG_OOB, then "DM ABOR" in band, and the kernel takes that last IAC out
    // of the stream. Kept, the ABOR read as "\xF2ABOR" (500) and the transfer it should stop went on.
    if (b === DM && out.length === 0) continue;
    if (b !== IAC || next === undefined) out.push(b);
    else if (next === IAC) {
      out.push(IAC);
      i++;
    } else if (next >= WILL) i += 2; // WILL/WONT/DO/DONT and the option (if the line holds it)
    else if (next >= SE) i++; // a two-byte command
    // A lone IAC before the verb: the Synch's IAC, whose DM went as TCP urgent data, which the kernel
    // takes out of the stream (a client sending IAC IP, IAC, then the DM alone as urgent data). Dropped,
    // or the ABOR would read as "\xFFABOR" and wait, unknown, behind the transfer it should stop.
    else if (out.length === 0) continue;
    else out.push(b); // not a TELNET sequence: kept; `next` is copied on the next turn
  }
  return Buffer.from(out);
}

const IAC = 0xff;
const DM = 0xf2;
const WILL = 251;
const SE = 240;
