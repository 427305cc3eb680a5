// MODE B (RFC 959 §3.4.2): each block is a 3-byte header (a descriptor byte and a 16-bit big-endian
// byte count) and that many bytes. A transfer ends with a block whose descriptor has the EOF bit, not
// with the data connection's close: so one data connection carries transfer after transfer (a tree
// job saves a connect, an accept and, with FTPS, a TLS handshake per file), and an upload's end is
// said in the data itself, never guessed from a FIN. Pure: the server's and the client's data paths
// both frame and read blocks through this file.

/** Descriptor bits (RFC 959 §3.4.2). */
export const BLOCK_EOR = 0x80;
export const BLOCK_EOF = 0x40;
/** "Suspected errors in data block": the bytes are still the file's. */
export const BLOCK_ERRORS = 0x20;
/** The block holds a restart marker, not file data. */
export const BLOCK_RESTART = 0x10;
const KNOWN_BITS = BLOCK_EOR | BLOCK_EOF | BLOCK_ERRORS | BLOCK_RESTART;

/** Most bytes one block holds. */
export const BLOCK_MAX = 0xffff;
export const BLOCK_HEADER = 3;

/** The empty block that ends a transfer. */
export const EOF_BLOCK: Uint8Array = Uint8Array.of(BLOCK_EOF, 0, 0);

/** Bytes `n` data bytes take once framed (EOF block not included). */
export function framedLength(n: number): number {
  return n + BLOCK_HEADER * Math.ceil(n / BLOCK_MAX);
}

/**
 * `data` as data blocks, copied into `out` (at least framedLength bytes) or a new buffer; the
 * returned view is the framed bytes. The transfer's end is a separate EOF_BLOCK: a sender rarely
 * knows which chunk is its last.
 */
export function encodeBlocks(data: Uint8Array, out?: Uint8Array): Uint8Array {
  const length = framedLength(data.length);
  const target = out && out.length >= length ? out.subarray(0, length) : new Uint8Array(length);
  let at = 0;
  for (let from = 0; from < data.length; from += BLOCK_MAX) {
    const n = Math.min(BLOCK_MAX, data.length - from);
    target[at] = 0;
    target[at + 1] = n >>> 8;
    target[at + 2] = n & 0xff;
    target.set(data.subarray(from, from + n), at + BLOCK_HEADER);
    at += BLOCK_HEADER + n;
  }
  return target;
}

/** A block header no sender following RFC 959 writes. */
export class BlockError extends Error {
  override name = "BlockError";
}

/**
 * Data blocks shorter than this that follow one another in one chunk are handed on as one copy; a
 * longer one goes as a view of the input. A sender's block size is its own choice: 1-byte blocks
 * cost the server one storage write per block (1,000,000 of them: 1.6 s of CPU) until the pieces
 * of a chunk were gathered. Copying below 16 KiB bounds the copy to small pieces and the pieces
 * handed on to about two per 16 KiB read.
 */
const GATHER_BELOW = 16 * 1024;

/**
 * Reads one transfer's blocks from a byte stream cut anywhere (a header may span two chunks). File
 * bytes are handed on once per `push`, in order: a long block as a view of the input, runs of
 * short ones copied into one piece (GATHER_BELOW); restart-marker blocks are skipped. Holds at most
 * two header bytes between chunks, whatever the peer sends.
 */
export class BlockDecoder {
  private header = new Uint8Array(BLOCK_HEADER);
  private headerHave = 0;
  /** Bytes of the current block still to come, and whether they are file data. */
  private left = 0;
  private skipping = false;
  private eofAfterBlock = false;
  private done = false;

  /** The EOF block has been read whole. */
  get ended(): boolean {
    return this.done;
  }

  /** Whether the stream stopped at a block boundary (nothing of a header or block pending). */
  get atBoundary(): boolean {
    return this.headerHave === 0 && this.left === 0;
  }

  /**
   * Read `chunk`: its file data goes to `onData` in order, before push returns or throws (few calls:
   * see GATHER_BELOW). Returns null while the EOF block is still to come, else what followed it in
   * `chunk` (a next transfer's bytes; often empty). Throws BlockError on a descriptor with bits RFC
   * 959 does not define (after handing on the data before it), or on bytes after the end.
   */
  push(chunk: Uint8Array, onData: (piece: Uint8Array) => void): Uint8Array | null {
    const pieces: Uint8Array[] = [];
    try {
      return this.read(chunk, pieces);
    } finally {
      handOn(pieces, onData);
    }
  }

  private read(chunk: Uint8Array, pieces: Uint8Array[]): Uint8Array | null {
    if (this.done) {
      if (chunk.length === 0) return chunk;
      throw new BlockError("bytes after the end of the transfer");
    }
    let at = 0;
    while (at < chunk.length || (this.left === 0 && this.eofAfterBlock && this.headerHave === 0)) {
      if (this.left === 0 && this.eofAfterBlock) {
        this.done = true;
        return chunk.subarray(at);
      }
      if (this.left === 0) {
        const take = Math.min(BLOCK_HEADER - this.headerHave, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerHave);
        this.headerHave += take;
        at += take;
        if (this.headerHave < BLOCK_HEADER) return null;
        this.headerHave = 0;
        const descriptor = this.header[0]!;
        if ((descriptor & ~KNOWN_BITS) !== 0) throw new BlockError(`malformed block header (descriptor ${descriptor})`);
        this.left = (this.header[1]! << 8) | this.header[2]!;
        this.skipping = (descriptor & BLOCK_RESTART) !== 0;
        this.eofAfterBlock = (descriptor & BLOCK_EOF) !== 0;
        continue;
      }
      const n = Math.min(this.left, chunk.length - at);
      if (!this.skipping) pieces.push(chunk.subarray(at, at + n));
      this.left -= n;
      at += n;
    }
    return null;
  }
}

/** `pieces` to `onData` in order: each long one as it is, each run of short ones as one copy. */
function handOn(pieces: Uint8Array[], onData: (piece: Uint8Array) => void): void {
  let i = 0;
  while (i < pieces.length) {
    let j = i;
    let total = 0;
    while (j < pieces.length && pieces[j]!.length < GATHER_BELOW) total += pieces[j++]!.length;
    if (j - i === 1) onData(pieces[i]!);
    else if (j > i) {
      const run = new Uint8Array(total);
      let to = 0;
      for (let k = i; k < j; k++) {
        run.set(pieces[k]!, to);
        to += pieces[k]!.length;
      }
      onData(run);
    }
    if (j < pieces.length) onData(pieces[j++]!);
    i = j;
  }
}
