// TYPE A (RFC 959 §3.1.1.1): lines travel as CRLF and are stored in the local convention (LF).
// Pure, stateful transforms plus two thin adapters for the data path; TYPE I never touches them.
import type { DataConnection } from "./connection.ts";

const CR = 13;
const LF = 10;

/** Stored → wire: every LF not already preceded by CR becomes CRLF (an existing CRLF is left alone). */
export class LfToCrlf {
  /** `prevCr`: the byte before the first chunk was a CR (a transfer that starts mid-file). */
  constructor(private prevCr = false) {}

  push(chunk: Uint8Array): Uint8Array {
    let extra = 0;
    let prev = this.prevCr;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === LF && !prev) extra++;
      prev = b === CR;
    }
    if (extra === 0) {
      this.prevCr = prev;
      return chunk;
    }
    const out = new Uint8Array(chunk.length + extra);
    let o = 0;
    prev = this.prevCr;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === LF && !prev) out[o++] = CR;
      out[o++] = b;
      prev = b === CR;
    }
    this.prevCr = prev;
    return out;
  }
}

/**
 * Wire → stored: CRLF becomes LF; a CR not followed by LF is kept. A CR at the end of a chunk is
 * held until the next chunk (or `flush`) says whether an LF follows.
 */
export class CrlfToLf {
  private pendingCr = false;

  push(chunk: Uint8Array): Uint8Array {
    const out = new Uint8Array(chunk.length + 1);
    let o = 0;
    let i = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (chunk[0] !== LF) out[o++] = CR;
    }
    for (; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === CR) {
        if (i + 1 === chunk.length) this.pendingCr = true;
        else if (chunk[i + 1] !== LF) out[o++] = CR;
      } else out[o++] = b;
    }
    return out.subarray(0, o);
  }

  /** At the end of the upload: a last CR with nothing after it is data. */
  flush(): Uint8Array {
    const last = this.pendingCr ? Uint8Array.of(CR) : new Uint8Array(0);
    this.pendingCr = false;
    return last;
  }
}

/**
 * RETR in TYPE A: the same connection, whose `writeAll` converts first. A Proxy, so the unchanged
 * send pump (data/transfer.ts) drives it and every other member is the real connection's own.
 */
export function asciiSendConnection(conn: DataConnection, prevCr = false): DataConnection {
  const enc = new LfToCrlf(prevCr);
  const writeAll = (chunk: Uint8Array, last?: boolean) => conn.writeAll(enc.push(chunk), last);
  return new Proxy(conn, {
    get(target, prop) {
      if (prop === "writeAll") return writeAll;
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
    set(target, prop, value) {
      return Reflect.set(target, prop, value, target);
    },
  });
}

/** STOR/APPE in TYPE A: converts each chunk before the upload (and its quota) sees it. */
export class AsciiUpload {
  private readonly dec = new CrlfToLf();

  constructor(private readonly upload: { write(chunk: Uint8Array): void | Promise<void> }) {}

  write(chunk: Uint8Array): void | Promise<void> {
    const out = this.dec.push(chunk);
    return out.length ? this.upload.write(out) : undefined;
  }

  /** Before commit: a last CR with nothing after it is data. */
  async flush(): Promise<void> {
    const last = this.dec.flush();
    if (last.length) await this.upload.write(last);
  }
}
