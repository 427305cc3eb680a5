// The hashing thread: digests a file's bytes off the main thread, reading them back from the file
// (the page cache) with pread into one reused buffer. The main thread only says how far the file is
// valid ("upto"): no chunk memory crosses threads, so the pump keeps curl's shape (receive, pwrite)
// and SHA-256 overlaps with the network. Messages arrive in order; each job is one file.
import { readSync } from "node:fs";
import { createHasher, type StreamHasher } from "../protocol/digest.ts";
import type { HashAlgorithm } from "../protocol/hash.ts";

declare const self: Worker;

type Msg =
  | { t: "open"; id: number; algorithm: HashAlgorithm; fd: number }
  | { t: "upto"; id: number; end: number }
  | { t: "prefix"; id: number; end: number }
  | { t: "digest"; id: number; end: number }
  | { t: "drop"; id: number };

interface Job {
  hasher: StreamHasher;
  fd: number;
  /** Bytes [0, pos) are in the digest. */
  pos: number;
  error: string | null;
}

const jobs = new Map<number, Job>();
const buf = Buffer.allocUnsafe(1 << 20);

/** Hash the job's file from where it stopped up to `end` (the main thread wrote these bytes already). */
function advance(job: Job, end: number): void {
  if (job.error) return;
  try {
    while (job.pos < end) {
      const n = readSync(job.fd, buf, 0, Math.min(buf.length, end - job.pos), job.pos);
      if (n <= 0) throw new Error("the local file is shorter than expected");
      job.hasher.update(buf.subarray(0, n));
      job.pos += n;
    }
  } catch (err) {
    job.error = (err as Error).message;
  }
}

self.onmessage = (e: MessageEvent<Msg>) => {
  const m = e.data;
  if (m.t === "open") {
    jobs.set(m.id, { hasher: createHasher(m.algorithm), fd: m.fd, pos: 0, error: null });
    return;
  }
  const job = jobs.get(m.id);
  if (m.t === "drop" || !job) {
    jobs.delete(m.id);
    if (m.t === "prefix" || m.t === "digest") self.postMessage({ t: "error", id: m.id, message: "no such hash job" });
    return;
  }
  advance(job, m.end);
  if (m.t === "upto") return;
  if (m.t === "digest") jobs.delete(m.id);
  if (job.error) self.postMessage({ t: "error", id: m.id, message: job.error });
  else self.postMessage({ t: "done", id: m.id, hex: m.t === "prefix" ? job.hasher.snapshot() : job.hasher.hex() });
};
