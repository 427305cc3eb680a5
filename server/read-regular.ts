// Reading a small configuration file the server names (a banner, a TLS certificate or key): only a
// regular file, opened without waiting and read up to a cap. A FIFO put in its place (or a link to
// /dev/zero) read with readFileSync froze the whole server on SIGHUP or the certificate's poll:
// the event loop waited for a writer, or filled gigabytes.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** Why a file was refused: a NodeJS-style code, as the callers already word ENOENT and EACCES. */
export class NotRegularFile extends Error {
  constructor(
    readonly code: "ENOTREG" | "EFBIG",
    message: string,
  ) {
    super(message);
  }
}

/** The text of `path`, a regular file of at most `maxBytes`; throws the system error, or NotRegularFile. */
export function readRegularFile(path: string, maxBytes: number): string {
  // O_NONBLOCK: a FIFO opens at once (and is refused below) instead of waiting for a writer.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NotRegularFile("ENOTREG", "not a regular file");
    if (st.size > maxBytes) throw new NotRegularFile("EFBIG", `larger than ${maxBytes} bytes`);
    const buf = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1);
    let got = 0;
    for (let n; got < buf.length && (n = readSync(fd, buf, got, buf.length - got, got)) > 0; ) got += n;
    // Grown since the fstat: still no more than the cap.
    if (got > maxBytes) throw new NotRegularFile("EFBIG", `larger than ${maxBytes} bytes`);
    return buf.subarray(0, got).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
