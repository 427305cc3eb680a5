// MODE B (RFC 959 §3.4.2) on a data connection: what a transfer writes goes out as data blocks and
// ends with an EOF block instead of a close; what an upload sends is read through a BlockDecoder,
// and its EOF block, not the FIN, completes it. A Proxy over the real connection, as TYPE A's
// (ascii.ts), so the stream-mode pumps drive it unchanged and MODE S never passes through here.
import { BlockDecoder, BlockError, EOF_BLOCK, encodeBlocks, framedLength } from "../../protocol/block-mode.ts";
import { BufferPool } from "../../protocol/buffer-pool.ts";
import type { DataConnection, DataEnd } from "./connection.ts";

/**
 * Framed copies of the pump's chunks (1 MiB at most, transfer.ts's CHUNK), reused from transfer to
 * transfer: a fresh buffer per file cost its page faults on every copy (1,000 × 100 KiB RETR in MODE
 * B: 58 ms of the server's CPU per run in encodeBlocks, most of it faulting the new pages in).
 */
const FRAMED_MAX = framedLength(1024 * 1024) + EOF_BLOCK.length;
const framedBuffers = new BufferPool(FRAMED_MAX, 8);

/**
 * `conn` as one MODE B transfer sees it. Sending: `writeAll` frames each chunk into one buffer reused
 * for the whole transfer; `finish` writes the EOF block and leaves the connection open (the
 * transfer's end hands it back to the session: data/kept.ts). Receiving: `onData` gets the file's
 * bytes only; `untilEof` is "eof" once the EOF block is read whole, "reset" when the connection ends
 * (FIN, RST, TLS end) before it, "malformed" on a header no sender writes (the connection is cut).
 * Bytes after the EOF block are held back for the next transfer. Direct reads of the socket's
 * descriptor (direct-read.ts) are not used: the pump would read the framing.
 */
export function blockModeConnection(conn: DataConnection): BlockModeConnection {
  let out: Uint8Array | null = null;
  /** A write from `out` has not settled: the buffer may not go back to the pool yet. */
  let writing = false;
  /** The EOF block went out with the last chunk (writeAll's `last`): finish has nothing to send. */
  let eofSent = false;
  const writeAll = async (chunk: Uint8Array, last = false): Promise<void> => {
    const framed = framedLength(chunk.length);
    const need = framed + (last ? EOF_BLOCK.length : 0);
    if (!out || out.length < need) out = need <= FRAMED_MAX ? framedBuffers.take() : new Uint8Array(need);
    encodeBlocks(chunk, out);
    // The file's last chunk carries the EOF block in the same write: a separate 3-byte send cost
    // both ends a system call and the client a wake-up per file.
    if (last) out.set(EOF_BLOCK, framed);
    writing = true;
    try {
      await conn.writeAll(out.subarray(0, need));
      if (last) eofSent = true;
    } finally {
      writing = false;
    }
  };
  const finish = (): Promise<void> => (eofSent ? Promise.resolve() : conn.writeAll(EOF_BLOCK));
  /** The transfer is over: its framing buffer goes back to the pool (unless a cut write still holds it). */
  const dispose = (): void => {
    if (out && !writing) framedBuffers.give(out);
    out = null;
  };

  const decoder = new BlockDecoder();
  let malformed = false;
  const waiters: Array<(how: DataEnd) => void> = [];
  const settle = (how: DataEnd) => {
    for (const w of waiters.splice(0)) w(how);
  };
  const onData = (sink: (chunk: Buffer) => void): void => {
    conn.onData((chunk) => {
      // After the EOF block (a replay of early chunks goes on): the next transfer's bytes.
      if (decoder.ended || malformed) return conn.holdBack(chunk);
      let rest: Uint8Array | null;
      try {
        // A run of short blocks comes as one copy, a plain Uint8Array: the sink takes Buffers.
        rest = decoder.push(chunk, (piece) => sink(Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length)));
      } catch (err) {
        if (!(err instanceof BlockError)) throw err;
        malformed = true;
        conn.abort();
        return settle("malformed");
      }
      if (rest === null) return;
      conn.detachSink();
      if (rest.length) conn.holdBack(rest as Buffer);
      settle("eof");
    });
  };
  const untilEof = (): Promise<DataEnd> => {
    if (decoder.ended) return Promise.resolve("eof");
    if (malformed) return Promise.resolve("malformed");
    return new Promise((resolve) => {
      waiters.push(resolve);
      // The connection's own end: only the EOF block completes an upload, so a FIN (or a TLS end,
      // with or without close_notify) before it is a broken one.
      void conn.untilEof().then(() => resolve(decoder.ended ? "eof" : malformed ? "malformed" : "reset"));
    });
  };
  // Once the EOF block is read the transfer's end decides (kept or cut): a verb's close after its
  // commit (STOR) leaves the connection as it is.
  const close = (): void => {
    if (!decoder.ended) conn.close();
  };

  const own: Record<PropertyKey, unknown> = { writeAll, finish, onData, untilEof, close, rawBytes: false, [Symbol.dispose]: dispose };
  return new Proxy(conn as BlockModeConnection, {
    get(target, prop) {
      if (Object.hasOwn(own, prop)) return own[prop];
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
    set(target, prop, value) {
      return Reflect.set(target, prop, value, target);
    },
  });
}

/** A DataConnection in MODE B; disposing of it (once the transfer ends) gives its framing buffer back. */
export type BlockModeConnection = DataConnection & Disposable;
