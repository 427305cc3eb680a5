// The loopback ceiling: `bun bench/raw.ts <file> <port>` sends <file> to every connection, no FTP.
// It uses the best send loop measured in BUN-NOTES: readSync at an explicit position into one
// reused buffer, a guarded write loop that keeps the unsent tail, and shutdown() at the end.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Socket } from "bun";

const CHUNK = 1 << 20;

interface Conn {
  fd: number;
  size: number;
  pos: number; // file offset of the next read
  buf: Buffer;
  off: number; // unsent bytes are buf[off, len)
  len: number;
  busy: boolean;
  done: boolean;
}

function pump(s: Socket<Conn>): void {
  const c = s.data;
  if (c.busy || c.done) return;
  c.busy = true;
  try {
    for (;;) {
      if (c.off === c.len) {
        if (c.pos >= c.size) {
          c.done = true;
          closeSync(c.fd);
          s.shutdown();
          return;
        }
        c.len = readSync(c.fd, c.buf, 0, Math.min(CHUNK, c.size - c.pos), c.pos);
        c.pos += c.len;
        c.off = 0;
      }
      const n = s.write(c.buf, c.off, c.len - c.off);
      if (n < 0) {
        c.done = true;
        closeSync(c.fd);
        return;
      }
      c.off += n;
      if (c.off < c.len) return; // the kernel is full: continue on drain
    }
  } finally {
    c.busy = false;
  }
}

/** Starts the raw sender; returns the listener (used in-process by tests, or by the CLI below). */
export function serveRaw(file: string, port: number) {
  const buf = Buffer.allocUnsafe(CHUNK);
  return Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(s) {
        const fd = openSync(file, "r");
        // One connection at a time in the bench, so one shared buffer is enough.
        s.data = { fd, size: fstatSync(fd).size, pos: 0, buf, off: 0, len: 0, busy: false, done: false };
        pump(s);
      },
      drain: pump,
      data() {},
      end: (s) => s.close(),
      close(s) {
        if (!s.data.done) {
          s.data.done = true;
          closeSync(s.data.fd);
        }
      },
    },
  });
}

if (import.meta.main) {
  const [file, port] = process.argv.slice(2);
  if (!file || !port) {
    console.error("usage: bun bench/raw.ts <file> <port>");
    process.exit(2);
  }
  serveRaw(file, Number(port));
  console.log(`raw sender on 127.0.0.1:${port}`);
}
