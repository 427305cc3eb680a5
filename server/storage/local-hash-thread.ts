// The server's hashing thread: digests local files for transfers whose client asked for a digest
// (OPTS HASH), reading the bytes back with pread from the page cache while the session's pump goes
// on. The pump only says how far a file is valid; no chunk memory crosses threads. Jobs advance in
// slices, round robin, so one big file cannot hold up the others and a "drop" is seen within one
// slice. A job answers "released" or its digest once it will not touch its descriptor again.
import { readSync } from "node:fs";
import type { HashAlgorithm } from "../../protocol/hash.ts";
import { createHasher, type StreamHasher } from "../../protocol/digest.ts";

declare const self: Worker;

export type HashThreadRequest =
  | { t: "open"; id: number; algorithm: HashAlgorithm; fd: number; start: number }
  | { t: "upto"; id: number; end: number }
  | { t: "finish"; id: number; end: number }
  | { t: "drop"; id: number };

export type HashThreadReply = { t: "done"; id: number; hex: string } | { t: "error"; id: number; message: string } | { t: "released"; id: number };

interface Job {
  hasher: StreamHasher;
  fd: number;
  /** Bytes [start, pos) are in the digest; [pos, end) are valid and still to hash. */
  pos: number;
  end: number;
  finishing: boolean;
  error: string | null;
}

const SLICE = 8 << 20;
const jobs = new Map<number, Job>();
const buf = Buffer.allocUnsafe(1 << 20);
let scheduled = false;

function reply(m: HashThreadReply): void {
  self.postMessage(m);
}

/** Hash up to one slice of the job; true when it has more to do now. */
function step(job: Job): boolean {
  if (job.error) return false;
  const stop = Math.min(job.end, job.pos + SLICE);
  try {
    while (job.pos < stop) {
      const n = readSync(job.fd, buf, 0, Math.min(buf.length, stop - job.pos), job.pos);
      if (n <= 0) throw new Error("the file is shorter than the bytes written to it");
      job.hasher.update(buf.subarray(0, n));
      job.pos += n;
    }
  } catch (err) {
    job.error = (err as Error).message;
    return false;
  }
  return job.pos < job.end;
}

function settle(id: number, job: Job): void {
  if (!job.finishing || (job.pos < job.end && !job.error)) return;
  jobs.delete(id);
  reply(job.error ? { t: "error", id, message: job.error } : { t: "done", id, hex: job.hasher.hex() });
}

function work(): void {
  scheduled = false;
  let more = false;
  for (const [id, job] of jobs) {
    if (step(job)) more = true;
    settle(id, job);
  }
  // Yield between rounds: new messages (more bytes, a drop, a new job) are read in between.
  if (more) schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(work);
}

self.onmessage = (e: MessageEvent<HashThreadRequest>) => {
  const m = e.data;
  if (m.t === "open") {
    jobs.set(m.id, { hasher: createHasher(m.algorithm), fd: m.fd, pos: m.start, end: m.start, finishing: false, error: null });
    return;
  }
  const job = jobs.get(m.id);
  if (m.t === "drop") {
    jobs.delete(m.id);
    reply({ t: "released", id: m.id });
    return;
  }
  if (!job) {
    // A thread restarted after a crash does not know the job: its owner must not wait forever.
    if (m.t === "finish") reply({ t: "error", id: m.id, message: "the hashing job was lost" });
    return;
  }
  job.end = Math.max(job.end, m.end);
  if (m.t === "finish") job.finishing = true;
  schedule();
};
