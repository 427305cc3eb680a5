// Downloads from S3: ranged GETs of fixed-size chunks with read-ahead. Memory per open file is at most
// READ_AHEAD + 1 chunks; every GET carries If-Match, so a download never mixes two versions of an
// object (an overwrite during RETR fails it instead).
import { StorageError, type ReadHandle } from "./backend.ts";
import type { ObjectHead } from "./s3-object.ts";
import type { S3Api } from "./s3-request.ts";

export const READ_CHUNK = 8 * 1024 * 1024;
/** Chunks requested beyond the one being read. */
export const READ_AHEAD = 2;

interface Chunk {
  promise: Promise<Uint8Array>;
  data?: Uint8Array;
  error?: unknown;
}

export function openS3Read(api: S3Api, key: string, head: ObjectHead): ReadHandle {
  const chunks = new Map<number, Chunk>();
  let closed = false;

  const fetchChunk = (index: number): Chunk => {
    const from = index * READ_CHUNK;
    const to = Math.min(head.size, from + READ_CHUNK);
    const chunk: Chunk = {
      promise: (async () => {
        const res = await api.send({ method: "GET", key, headers: { range: `bytes=${from}-${to - 1}`, "if-match": head.etag } });
        const data = new Uint8Array(await res.arrayBuffer());
        if (data.length !== to - from) throw new StorageError("transient", "the object changed meanwhile");
        return data;
      })(),
    };
    chunk.promise.then(
      (d) => (chunk.data = d),
      (e) => (chunk.error = e),
    );
    return chunk;
  };

  /** Keep chunks [index, index + READ_AHEAD] requested; drop the ones before. */
  const window = (index: number): Chunk => {
    for (const i of chunks.keys()) if (i < index || i > index + READ_AHEAD) chunks.delete(i);
    const last = Math.ceil(head.size / READ_CHUNK) - 1;
    for (let i = index; i <= Math.min(last, index + READ_AHEAD); i++) if (!chunks.has(i)) chunks.set(i, fetchChunk(i));
    return chunks.get(index)!;
  };

  const copy = (data: Uint8Array, buf: Uint8Array, offset: number): number => {
    const n = Math.min(buf.length, data.length - offset);
    buf.set(data.subarray(offset, offset + n), 0);
    return n;
  };

  return {
    size: head.size,
    read(buf: Uint8Array, position: number): number | Promise<number> {
      if (closed) throw new StorageError("transient", "file closed");
      if (position >= head.size || buf.length === 0) return 0;
      const index = Math.floor(position / READ_CHUNK);
      const offset = position - index * READ_CHUNK;
      const chunk = window(index);
      if (chunk.data) return copy(chunk.data, buf, offset);
      return chunk.promise.then((data) => copy(data, buf, offset));
    },
    close() {
      closed = true;
      // Requests in flight finish on their own; their chunks are simply dropped.
      for (const c of chunks.values()) c.promise.catch(() => {});
      chunks.clear();
    },
  };
}
