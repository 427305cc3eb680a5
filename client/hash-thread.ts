// The hashing thread: digests the bytes of big transfers off the main thread, so hashing overlaps
// with receiving and sending. Messages arrive in order; each job is one running hash.
import { readSync } from "node:fs";

declare const self: Worker;

type Msg =
  | { t: "open"; id: number; algo: "md5" | "sha256" }
  | { t: "data"; id: number; bufs: ArrayBuffer[]; lens: number[] }
  | { t: "prefix"; id: number; fd: number; length: number }
  | { t: "digest"; id: number }
  | { t: "drop"; id: number };

const jobs = new Map<number, InstanceType<typeof Bun.CryptoHasher>>();

self.onmessage = (e: MessageEvent<Msg>) => {
  const m = e.data;
  switch (m.t) {
    case "open":
      jobs.set(m.id, new Bun.CryptoHasher(m.algo));
      return;
    case "data": {
      const h = jobs.get(m.id);
      if (h) for (let i = 0; i < m.bufs.length; i++) h.update(new Uint8Array(m.bufs[i]!, 0, m.lens[i]!));
      return;
    }
    case "prefix": {
      const h = jobs.get(m.id);
      try {
        if (!h) throw new Error("no such hash job");
        const buf = Buffer.allocUnsafe(1 << 20);
        let pos = 0;
        while (pos < m.length) {
          const n = readSync(m.fd, buf, 0, Math.min(buf.length, m.length - pos), pos);
          if (n <= 0) throw new Error("the local file is shorter than expected");
          h.update(buf.subarray(0, n));
          pos += n;
        }
        self.postMessage({ t: "prefix", id: m.id, hex: h.copy().digest("hex") });
      } catch (err) {
        self.postMessage({ t: "error", id: m.id, message: (err as Error).message });
      }
      return;
    }
    case "digest": {
      const h = jobs.get(m.id);
      jobs.delete(m.id);
      self.postMessage(h ? { t: "digest", id: m.id, hex: h.digest("hex") } : { t: "error", id: m.id, message: "no such hash job" });
      return;
    }
    case "drop":
      jobs.delete(m.id);
      return;
  }
};
