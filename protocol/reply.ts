import { ParseError } from "./errors.ts";

/** One complete reply: its code and its text lines (without the code prefixes). */
export interface FtpReply {
  code: number;
  lines: string[];
}

/** CR/LF inside reply text would let a peer-chosen name inject extra replies. */
function sanitizeLine(line: string): string {
  return line.replace(/[\r\n]+/g, " ");
}

/**
 * Format a reply per RFC 959 §4.2: single line "200 text", or a multi-line
 * "211-first … 211 last" where middle lines that start with a digit are indented.
 */
export function formatReply(code: number, text: string | readonly string[]): string {
  const lines = (typeof text === "string" ? text.split("\n") : [...text]).map(sanitizeLine);
  if (lines.length === 0) lines.push("");
  if (lines.length === 1) return `${code} ${lines[0]}\r\n`;
  return `${code}-${lines[0]}\r\n` + formatReplyMiddle(lines.slice(1, -1)) + `${code} ${lines[lines.length - 1]}\r\n`;
}

/**
 * The middle lines of a multi-line reply, for replies sent in pieces (STAT of a big directory):
 * `${code}-first`, then any number of these, then `${code} last`.
 */
export function formatReplyMiddle(lines: readonly string[]): string {
  let out = "";
  for (const raw of lines) {
    const line = sanitizeLine(raw);
    // RFC 959 §4.2: "If an intermediary line begins with a 3-digit number, the Server must pad the
    // front". Not only "213 …": Python's ftplib ends a reply at any line whose first three characters
    // are its code and whose fourth is not "-", so a banner line "220" or "2200 users" ended it early.
    out += (/^\d{3}/.test(line) ? " " : "") + line + "\r\n";
  }
  return out;
}

/**
 * Incremental parser of a server's reply stream; feed it text as it arrives. A peer cannot make it
 * hold more than MAX_BUFFER of an unfinished line, nor MAX_REPLY of one multi-line reply (a
 * "211-" followed by continuation lines without end).
 */
export class ReplyParser {
  /**
   * The unfinished line, as the chunks it came in. Kept as one string, each chunk rescanned the
   * whole of it for a line break (and flattened it): a 1 MiB line sent 50 bytes at a time cost the
   * client 10^10 character steps (0.8 s) before it was refused.
   */
  private partial: string[] = [];
  private partialLength = 0;
  /** What followed a malformed line in its chunk (whole lines, maybe): read first at the next push. */
  private backlog = "";
  private pending: { code: number; lines: string[]; chars: number } | null = null;
  static readonly MAX_BUFFER = 1 << 20;
  /** FEAT and HELP take a few KiB, STAT of a 10,000-entry directory under 1 MiB. */
  static readonly MAX_REPLY = 8 << 20;

  /** Bytes of a reply not complete yet (a partial line, or a multi-line reply still open). */
  get holdsPartial(): boolean {
    return this.partialLength > 0 || this.backlog !== "" || this.pending !== null;
  }

  /** Returns every reply completed by this chunk. */
  push(chunk: string): FtpReply[] {
    if (this.backlog !== "") {
      chunk = this.backlog + chunk;
      this.backlog = "";
    }
    const done: FtpReply[] = [];
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf("\n", start)) >= 0) {
      let raw = chunk.slice(start, nl);
      if (this.partialLength > 0) {
        raw = this.partial.join("") + raw;
        this.partial = [];
        this.partialLength = 0;
      }
      start = nl + 1;
      let reply: FtpReply | null;
      try {
        reply = this.line(raw.replace(/\r$/, ""));
      } catch (err) {
        // Kept whole, not as the unfinished line: lines after the malformed one must still be split.
        this.backlog = chunk.slice(start);
        throw err;
      }
      if (reply) done.push(reply);
    }
    // What is left is one unfinished line (a chunk of many short lines is fine, however big).
    this.keep(chunk.slice(start));
    if (this.partialLength > ReplyParser.MAX_BUFFER) throw new ParseError("reply line too long");
    return done;
  }

  private keep(rest: string): void {
    if (rest === "") return;
    this.partial.push(rest);
    this.partialLength += rest.length;
  }

  private line(raw: string): FtpReply | null {
    const m = /^(\d{3})([ -])(.*)$/.exec(raw);
    if (this.pending) {
      if (m && Number(m[1]) === this.pending.code && m[2] === " ") {
        this.pending.lines.push(m[3]!);
        const { code, lines } = this.pending;
        this.pending = null;
        return { code, lines };
      }
      this.pending.lines.push(raw);
      // Its line break too: an endless run of empty lines counted nothing and grew a client by GiBs.
      this.pending.chars += raw.length + 2;
      if (this.pending.chars > ReplyParser.MAX_REPLY) throw new ParseError(`a multi-line ${this.pending.code} reply longer than ${ReplyParser.MAX_REPLY >> 20} MiB`);
      return null;
    }
    if (!m) {
      if (raw.trim() === "") return null;
      throw new ParseError(`malformed reply: ${raw.slice(0, 80)}`);
    }
    const code = Number(m[1]);
    // RFC 959 §4.2: a reply code's first digit is 1 to 5. A "600" read as a reply was taken for an
    // answer (a 600 to USER ended as a refused login), a "099" for a preliminary one, waited past.
    if (code < 100 || code > 599) throw new ParseError(`reply code ${m[1]} is outside 100-599`);
    if (m[2] === "-") {
      this.pending = { code, lines: [m[3]!], chars: raw.length };
      return null;
    }
    return { code, lines: [m[3]!] };
  }
}

/** Parse one full reply text (possibly multi-line); for tests and one-shot use. */
export function parseReply(text: string): FtpReply {
  const parser = new ReplyParser();
  const replies = parser.push(text.endsWith("\n") ? text : text + "\r\n");
  if (replies.length !== 1) throw new ParseError(`expected one reply, got ${replies.length}`);
  return replies[0]!;
}
