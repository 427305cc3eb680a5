// MODE B (RFC 959 §3.4.2) on a data connection: what a transfer writes goes out as data blocks and
// ends with an EOF block instead of a close; what an upload sends is read through a BlockDecoder,
// and its EOF block, not the FIN, completes it. A Proxy over the real connection, as TYPE A's
// (ascii.ts), so the stream-mode pumps drive it unchanged and MODE S never passes through here.
import { BlockDecoder, BlockError, EOF_BLOCK, encodeBlocks, framedLength } from "../../protocol/block-mode.ts";
import type { DataConnection, DataEnd } from "./connection.ts";

/**
 * `conn` as one MODE B transfer sees it. Sending: `writeAll` frames each chunk into one buffer reused
 * for the whole transfer; `finish` writes the EOF block and leaves the connection open (the
 * transfer's end hands it back to the session: data/kept.ts). Receiving: `onData` gets the file's
 * bytes only; `untilEof` is "eof" once the EOF block is read whole, "reset" when the connection ends
 * (FIN, RST, TLS end) before it, "malformed" on a header no sender writes (the connection is cut).
 * Bytes after the EOF block are held back for the next transfer. Direct reads of the socket's
 * descriptor (direct-read.ts) are not used: the pump would read the framing.
 */
export function blockModeConnection(conn: DataConnection): DataConnection {
  let out: Uint8Array | null = null;
  const writeAll = (chunk: Uint8Array): Promise<void> => {
    const need = framedLength(chunk.length);
    if (!out || out.length < need) out = new Uint8Array(need);
    return conn.writeAll(encodeBlocks(chunk, out));
  };
  const finish = (): Promise<void> => conn.writeAll(EOF_BLOCK);

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
        rest = decoder.push(chunk, sink as (piece: Uint8Array) => void);
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

  const own: Record<PropertyKey, unknown> = { writeAll, finish, onData, untilEof, close, rawBytes: false };
  return new Proxy(conn, {
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
