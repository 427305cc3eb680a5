// A listing's lines as its bytes arrive: a listing of millions of entries is parsed line by line,
// never held whole (kept whole, then decoded and split, 2,000,000 MLSD lines took 2.3 GB).

/**
 * Bytes of LF-ended lines held back, before any CRLF came, while it is not known whether the listing
 * ends its lines in CRLF (a bare LF is then part of a name) or in LF alone (a few servers).
 */
export const LINE_END_LOOKAHEAD = 64 * 1024;

// A U+FEFF starting a later line is part of it: only the listing's first may be a byte order mark.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a listing into lines, fed in chunks cut anywhere (in a line, between CR and LF, inside a
 * UTF-8 sequence), and gives each line to `onLine` as soon as it is whole. Lines end in CRLF (RFC
 * 959): once a CRLF is seen, lines are split there only, so a name with a bare LF stays on its line
 * (and is refused whole) instead of being read as two; a listing with no CRLF in its first
 * LINE_END_LOOKAHEAD bytes of lines (or at all) is split at each LF. Each line is decoded as UTF-8;
 * one that is not has its bad bytes read as U+FFFD, and `lossy` is set.
 */
export class ListingLines {
  /** Some line was not valid UTF-8 (a name in another encoding: Latin-1 on an old vsftpd host). */
  lossy = false;
  private ends: "unknown" | "crlf" | "lf" = "unknown";
  /** The line begun and not yet ended: its pieces (a bare LF between two pieces, in CRLF mode). */
  private open: Uint8Array[] = [];
  private openBytes = 0;
  /** Undecided line ends: the LF-ended lines held back, with their LF. */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private first = true;

  constructor(private readonly onLine: (line: string) => void) {}

  /** Bytes of the line begun and not yet ended (a caller caps it: one line without end is no listing). */
  get unended(): number {
    return this.openBytes;
  }

  /** The next bytes of the listing. */
  push(chunk: Uint8Array): void {
    let from = 0;
    for (let lf = chunk.indexOf(LF); lf >= 0; lf = chunk.indexOf(LF, from)) {
      this.lineEnd(chunk.subarray(from, lf + 1));
      from = lf + 1;
    }
    if (from < chunk.length) this.keep(chunk.subarray(from));
  }

  /** The listing ended: what is left is its last line (as for a listing whose last line has no line end). */
  end(): void {
    if (this.ends === "unknown") this.release();
    if (this.openBytes > 0) this.emit(this.take());
  }

  /** `piece` ends in LF: the end of a line, or (CRLF mode) a bare LF within one. */
  private lineEnd(piece: Uint8Array): void {
    const crlf = piece.length >= 2 ? piece[piece.length - 2] === CR : this.lastOpenByte() === CR;
    if (this.ends === "lf") return this.emitPiece(piece, 1);
    if (crlf) {
      if (this.ends === "unknown") {
        // Every LF before this first CRLF was inside a line: it all is one line.
        this.ends = "crlf";
        this.open = [...this.held, ...this.open];
        this.openBytes += this.heldBytes;
        this.held = [];
        this.heldBytes = 0;
      }
      return this.emitPiece(piece, 2);
    }
    this.keep(piece);
    if (this.ends === "crlf") return;
    const line = this.take();
    this.held.push(line);
    this.heldBytes += line.length;
    if (this.heldBytes > LINE_END_LOOKAHEAD) {
      this.ends = "lf";
      this.release();
    }
  }

  /** Undecided held lines, once they are known to be lines of their own (LF alone ends lines). */
  private release(): void {
    for (const line of this.held) this.emit(line.subarray(0, line.length - 1));
    this.held = [];
    this.heldBytes = 0;
  }

  /** Ends the open line with `piece`, less its last `cut` bytes (its CRLF or LF; a CR may be the open part's last byte). */
  private emitPiece(piece: Uint8Array, cut: number): void {
    if (this.openBytes === 0) return this.emit(piece.subarray(0, piece.length - cut));
    this.keep(piece);
    const line = this.take();
    this.emit(line.subarray(0, line.length - cut));
  }

  private lastOpenByte(): number | undefined {
    const last = this.open[this.open.length - 1];
    return last?.[last.length - 1];
  }

  private keep(bytes: Uint8Array): void {
    // A piece of a chunk: copied, so the chunk it is cut from is not held for a line's sake.
    this.open.push(Uint8Array.from(bytes));
    this.openBytes += bytes.length;
  }

  private take(): Uint8Array {
    const whole = this.open.length === 1 ? this.open[0]! : Buffer.concat(this.open, this.openBytes);
    this.open = [];
    this.openBytes = 0;
    return whole;
  }

  private emit(bytes: Uint8Array): void {
    let line: string;
    try {
      line = strictUtf8.decode(bytes);
      // As decoding the listing whole did: a byte order mark before it is no part of its first name.
      if (this.first && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    } catch {
      line = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
      this.lossy = true;
    }
    this.first = false;
    this.onLine(line);
  }
}
