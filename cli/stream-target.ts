// `get URL LOCAL` where LOCAL is a FIFO, a device or a socket: opened without blocking the event loop.
// Opening a FIFO for writing waits in the kernel until a reader opens it; done synchronously (openSync)
// that wait held the event loop, so Ctrl-C and SIGTERM, which ftpkit handles itself, never ran and
// only kill -9 ended the process. The open runs on the thread pool instead, where the signal handlers
// can still end the process (130, 143) while it waits.
import { closeSync, constants, openSync, statSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";

/**
 * Open `path` for writing ("w", as before: O_WRONLY|O_CREAT|O_TRUNC). For a FIFO nobody reads yet
 * (a non-blocking open fails with ENXIO), `waiting()` is called once before the wait begins.
 */
export async function openStreamTarget(path: string, waiting: () => void): Promise<FileHandle> {
  let probe: number | null = null;
  if (isFifo(path)) {
    try {
      probe = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as { code?: string }).code === "ENXIO") waiting();
      // Any other failure is the real open's to report.
    }
  }
  try {
    // The probe stays open until the real one is: closed before, it was the FIFO's only writer
    // going away, and a reader such as cat took that for the end of the data and left.
    // node:fs/promises is loaded here, for the rare stream target: at start-up it cost every get ~3 ms.
    const { open } = await import("node:fs/promises");
    return await open(path, "w");
  } finally {
    if (probe !== null) closeSync(probe);
  }
}

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}
