// A digest of a local file computed on the hashing thread (local-hash-thread.ts) while a transfer
// runs: SHA-256 costs about as much CPU as the transfer itself, and inline it ran on the session's
// one thread (a 1 GiB RETR went from 0.5 to 1.1 s of server wall time). The descriptor stays the
// caller's: it must stay open until `finish` has settled or `release` has resolved, which is when
// the thread is done with it.
import type { HashAlgorithm } from "../../protocol/hash.ts";
import { workerUrl } from "../../protocol/worker-url.ts";
import type { HashThreadReply, HashThreadRequest } from "./local-hash-thread.ts";

/** Tell the thread about new bytes every this many (a message per socket chunk costs more than it gains). */
const NOTIFY_BYTES = 4 << 20;

let thread: Worker | null = null;
let nextId = 1;
/** Jobs the thread may still answer. */
const jobs = new Map<number, BackgroundDigest>();

function post(m: HashThreadRequest): void {
  hashThread().postMessage(m);
}

function hashThread(): Worker {
  if (thread) return thread;
  const w = new Worker(workerUrl(import.meta.url, "./local-hash-thread.ts", "server/storage/local-hash-thread.ts"));
  w.onmessage = (e: MessageEvent<HashThreadReply>) => jobs.get(e.data.id)?.onReply(e.data);
  w.onerror = (e) => {
    // Ended for good (terminate), so it holds no descriptor: every job settles, the next job
    // starts a new thread.
    thread = null;
    w.terminate();
    for (const job of [...jobs.values()]) job.onReply({ t: "error", id: 0, message: `the hashing thread failed: ${e.message}` });
  };
  thread = w;
  return w;
}

/** The thread keeps the process alive only while a job waits on it (an idle one never holds a process open). */
function refThread(): void {
  if (!thread) return;
  if (jobs.size > 0) thread.ref();
  else thread.unref();
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(err: Error): void;
}

export class BackgroundDigest {
  private readonly id = nextId++;
  private told: number;
  private finishing: Waiter<string> | null = null;
  private releasing: Promise<void> | null = null;
  private released: (() => void) | null = null;
  /** The thread will not touch the descriptor again (it answered the digest, an error, or the drop). */
  private done = false;

  /** Hash `fd` from byte `start` as `upto`/`finish` say how far it is valid. */
  constructor(fd: number, algorithm: HashAlgorithm, start = 0) {
    this.told = start;
    jobs.set(this.id, this);
    post({ t: "open", id: this.id, algorithm, fd, start });
    refThread();
  }

  /** Bytes before `end` are in the file (batched: the thread hears of them every few MiB). */
  upto(end: number): void {
    if (this.done || this.finishing || this.releasing || end - this.told < NOTIFY_BYTES) return;
    this.told = end;
    post({ t: "upto", id: this.id, end });
  }

  /** The digest of bytes [start, end). */
  finish(end: number): Promise<string> {
    if (this.done || this.finishing || this.releasing) return Promise.reject(new Error("digest already ended"));
    return new Promise((resolve, reject) => {
      this.finishing = { resolve, reject };
      post({ t: "finish", id: this.id, end });
    });
  }

  /** The thread may still read the descriptor (it has not answered this job yet). */
  get holdsDescriptor(): boolean {
    return !this.done;
  }

  /**
   * Stop hashing (a digest still being computed fails); resolves once the thread has let go of the
   * descriptor — at once if it already has.
   */
  release(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.releasing ??= new Promise<void>((resolve) => {
      this.released = resolve;
      post({ t: "drop", id: this.id });
    });
    return this.releasing;
  }

  /** The thread's one answer to this job (a digest, an error, or the drop's), or its death: the job ends. */
  onReply(m: HashThreadReply): void {
    if (m.t === "done") this.finishing?.resolve(m.hex);
    else this.finishing?.reject(new Error(m.t === "error" ? m.message : "digest abandoned"));
    this.finishing = null;
    this.done = true;
    jobs.delete(this.id);
    refThread();
    this.released?.();
  }
}
