// A digest of a local file computed on the hashing thread (local-hash-thread.ts) while a transfer
// runs: SHA-256 costs about as much CPU as the transfer itself, and inline it ran on the session's
// one thread (a 1 GiB RETR went from 0.5 to 1.1 s of server wall time). The descriptor stays the
// caller's: it must stay open until `finish` or `release` has settled, which is when the thread is
// done with it.
import type { HashAlgorithm } from "../../protocol/hash.ts";
import { workerUrl } from "../../protocol/worker-url.ts";
import type { HashThreadReply, HashThreadRequest } from "./local-hash-thread.ts";

/** Tell the thread about new bytes every this many (a message per socket chunk costs more than it gains). */
const NOTIFY_BYTES = 4 << 20;

let thread: Worker | null = null;
let nextId = 1;
const waiting = new Map<number, { resolve(hex: string): void; reject(err: Error): void }>();

function post(m: HashThreadRequest): void {
  hashThread().postMessage(m);
}

function hashThread(): Worker {
  if (thread) return thread;
  const w = new Worker(workerUrl(import.meta.url, "./local-hash-thread.ts", "server/storage/local-hash-thread.ts"));
  w.onmessage = (e: MessageEvent<HashThreadReply>) => {
    const m = e.data;
    const w8 = waiting.get(m.id);
    if (!w8) return;
    waiting.delete(m.id);
    if (m.t === "error") w8.reject(new Error(m.message));
    else w8.resolve(m.t === "done" ? m.hex : "");
  };
  w.onerror = (e) => {
    // Ended for good (terminate), so it holds no descriptor: every waiter settles, the next job
    // starts a new thread.
    thread = null;
    w.terminate();
    for (const [id, w8] of waiting) {
      waiting.delete(id);
      w8.reject(new Error(`the hashing thread failed: ${e.message}`));
    }
  };
  // The listener keeps a server alive; the thread alone must not keep a finished process running.
  w.unref();
  thread = w;
  return w;
}

function ask(id: number, m: HashThreadRequest): Promise<string> {
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    post(m);
  });
}

export class BackgroundDigest {
  private readonly id = nextId++;
  private told: number;
  private ended: Promise<unknown> | null = null;

  /** Hash `fd` from byte `start` as `upto`/`finish` say how far it is valid. */
  constructor(fd: number, algorithm: HashAlgorithm, start = 0) {
    this.told = start;
    post({ t: "open", id: this.id, algorithm, fd, start });
  }

  /** Bytes before `end` are in the file (batched: the thread hears of them every few MiB). */
  upto(end: number): void {
    if (this.ended || end - this.told < NOTIFY_BYTES) return;
    this.told = end;
    post({ t: "upto", id: this.id, end });
  }

  /** The digest of bytes [start, end). */
  finish(end: number): Promise<string> {
    if (this.ended) return Promise.reject(new Error("digest already ended"));
    const done = ask(this.id, { t: "finish", id: this.id, end });
    this.ended = done.catch(() => undefined);
    return done;
  }

  /** Stop hashing; resolves once the thread has let go of the descriptor (at once if it already has). */
  async release(): Promise<void> {
    if (this.ended) {
      await this.ended;
      return;
    }
    this.ended = ask(this.id, { t: "drop", id: this.id }).catch(() => undefined);
    await this.ended;
  }
}
