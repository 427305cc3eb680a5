// The transfer thread: writes received chunks to the partial file and digests them (or only digests
// sent chunks) off the main thread, so disk writes and SHA-256 overlap with the network. Messages
// arrive in order; each job is one file. Every batch is acknowledged (the main thread's flow control).
import { readSync, writeSync } from "node:fs";

declare const self: Worker;

type Msg =
  | { t: "open"; id: number; algo: "md5" | "sha256" | null; fd: number | null }
  | { t: "data"; id: number; bufs: ArrayBuffer[]; lens: number[]; pos: number | null; giveBack?: boolean }
  | { t: "prefix"; id: number; fd: number; length: number }
  | { t: "sync"; id: number }
  | { t: "digest"; id: number }
  | { t: "drop"; id: number };

interface Job {
  hasher: InstanceType<typeof Bun.CryptoHasher> | null;
  fd: number | null;
  failed: boolean;
}

const jobs = new Map<number, Job>();

function fail(id: number, job: Job, err: unknown): void {
  job.failed = true;
  self.postMessage({ t: "error", id, message: (err as Error).message });
}

self.onmessage = (e: MessageEvent<Msg>) => {
  const m = e.data;
  const job = jobs.get(m.id);
  switch (m.t) {
    case "open":
      jobs.set(m.id, { hasher: m.algo ? new Bun.CryptoHasher(m.algo) : null, fd: m.fd, failed: false });
      return;
    case "data": {
      let bytes = 0;
      for (const l of m.lens) bytes += l;
      if (job && !job.failed) {
        try {
          let pos = m.pos;
          for (let i = 0; i < m.bufs.length; i++) {
            const view = new Uint8Array(m.bufs[i]!, 0, m.lens[i]!);
            if (pos !== null && job.fd !== null) {
              let off = 0;
              while (off < view.length) off += writeSync(job.fd, view, off, view.length - off, pos + off);
              pos += view.length;
            }
            job.hasher?.update(view);
          }
        } catch (err) {
          fail(m.id, job, err);
        }
      }
      // Uploads read into pooled buffers: hand them back for the next chunks (no allocation per chunk).
      if (m.giveBack) self.postMessage({ t: "ack", id: m.id, bytes, bufs: m.bufs }, m.bufs);
      else self.postMessage({ t: "ack", id: m.id, bytes });
      return;
    }
    case "prefix": {
      try {
        if (!job?.hasher) throw new Error("no such hash job");
        const buf = Buffer.allocUnsafe(1 << 20);
        let pos = 0;
        while (pos < m.length) {
          const n = readSync(m.fd, buf, 0, Math.min(buf.length, m.length - pos), pos);
          if (n <= 0) throw new Error("the local file is shorter than expected");
          job.hasher.update(buf.subarray(0, n));
          pos += n;
        }
        self.postMessage({ t: "done", id: m.id, hex: job.hasher.copy().digest("hex") });
      } catch (err) {
        self.postMessage({ t: "error", id: m.id, message: (err as Error).message });
      }
      return;
    }
    case "sync":
      self.postMessage(job?.failed ? { t: "error", id: m.id, message: "write failed" } : { t: "done", id: m.id, hex: "" });
      return;
    case "digest":
      jobs.delete(m.id);
      self.postMessage(job && !job.failed ? { t: "done", id: m.id, hex: job.hasher?.digest("hex") ?? "" } : { t: "error", id: m.id, message: "write failed" });
      return;
    case "drop":
      jobs.delete(m.id);
      return;
  }
};
