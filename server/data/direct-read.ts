// Upload bytes read straight from a plain data socket into one reused buffer. Bun hands every `data`
// event over as a fresh copy of its own receive buffer: a third copy of each uploaded byte (after the
// kernel's into Bun, before the kernel's into the page cache), ~14% of a --workers 2 stor-100 worker's
// CPU samples (__memmove in libc). After such an event the socket usually holds more: read here,
// the bytes go from the kernel into this buffer and from it to the file while still in cache.
import { readSync } from "node:fs";
import type { DataConnection } from "./connection.ts";

/** One read's most; Bun's own reads are up to 512 KiB. */
const READ_BYTES = 512 * 1024;
/** Reads after one `data` event at most, so one fast upload does not keep the loop from the others. */
const MAX_READS = 8;

/** Shared by every upload of this process: each chunk is written before the next read. */
let shared: Buffer | null = null;

/** Bytes this process read from data sockets itself (tests: the path is taken). */
export const directReadBytes = { total: 0 };

/** How a round of reads ended: "again" (nothing more now), "eof" (the peer's FIN is next), "reset" (a socket error). */
export type DirectEnd = "again" | "eof" | "reset" | "stopped";

/**
 * A plain data connection's descriptor, or null: a TLS connection (its bytes are ciphertext, read by
 * Bun's TLS layer) or a socket whose descriptor Bun does not show.
 */
export function plainDescriptor(conn: DataConnection): number | null {
  if (!conn.rawBytes || conn.closed) return null;
  const fd = (conn.socket as unknown as { fd?: unknown }).fd;
  return typeof fd === "number" && fd >= 0 ? fd : null;
}

/**
 * Read what the socket holds now (up to MAX_READS reads) and give each chunk to `take`, which
 * returns true when it keeps the chunk beyond the call (a write still in flight): the buffer is then
 * its, and the next read gets a new one. `go` is asked before each read (paused, failed, aborted).
 * A socket error is "reset" (the error is read here, so Bun would see only an end after it); an end
 * of stream is left for Bun's `end` event, which still comes.
 */
export function readMore(fd: number, go: () => boolean, take: (chunk: Buffer) => boolean): DirectEnd {
  for (let i = 0; i < MAX_READS; i++) {
    if (!go()) return "stopped";
    const buf = (shared ??= Buffer.allocUnsafe(READ_BYTES));
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EAGAIN" ? "again" : "reset";
    }
    if (n === 0) return "eof";
    directReadBytes.total += n;
    if (take(buf.subarray(0, n))) shared = null;
  }
  return "again";
}
