// The replies of one control connection, matched to requests in the order they were made: RFC 959
// §4.2 has replies come in command order, so commands can be pipelined. A reader is reserved per
// reply; replies nobody has asked for yet wait in order. A failure (the connection closed, a
// protocol error) rejects every reader, now and later.
import { ReplyParser, type FtpReply } from "../protocol/reply.ts";
import { ClientError } from "./errors.ts";

/**
 * Replies nobody has asked for yet. The client pipelines a few commands at most; a server that sends
 * more unasked replies than this is flooding, not answering.
 */
const MAX_UNREAD_REPLIES = 1000;

/**
 * How many times a reply's silence bound (--stall-timeout) one reply may take from its first byte to
 * its end while its lines keep coming: a server sending progress lines ("213-Computing…" while
 * ProFTPD hashes a big file) is waited for, one sending a line every few seconds for ever is not.
 */
export const REPLY_SPAN_FACTOR = 10;

export class ReplyQueue {
  private readonly parser = new ReplyParser();
  private readonly decoder = new TextDecoder("utf-8");
  private unread: FtpReply[] = [];
  private readers: { resolve: (r: FtpReply) => void; reject: (e: Error) => void }[] = [];
  private failed: Error | null = null;
  /** Waiting for the next reply to arrive (nextArrival): told whether it came (true) or the queue failed. */
  private arrivals: ((came: boolean) => void)[] = [];
  private heldBy: Promise<void> | null = null;
  /** performance.now() of the last byte from the server: a reply's wait is a stall bound, not a deadline. */
  private lastInput = performance.now();
  /** performance.now() of the first byte of the reply under way (a line, or lines, not ended yet), or null. */
  private replyBegan: number | null = null;

  /** `onTimeout`: a reply did not come in time (the caller drops the connection). */
  constructor(
    private readonly onTimeout: () => void,
    private readonly trace?: (line: string) => void,
  ) {}

  /** Why the queue failed, or null while it works. */
  get failure(): Error | null {
    return this.failed;
  }

  /**
   * Bytes from the control connection. Returns false when the connection must go (the caller drops
   * it): the bytes broke the protocol, or a 421 said the server closes it (RFC 959), its close maybe
   * still on the way; a tree job then reconnected only after sending the next file down it.
   */
  push(chunk: Uint8Array): boolean {
    this.lastInput = performance.now();
    let replies: FtpReply[];
    try {
      replies = this.parser.push(this.decoder.decode(chunk, { stream: true }));
    } catch (err) {
      this.fail(new ClientError(`protocol error from server: ${(err as Error).message}`, { kind: "protocol" }));
      return false;
    }
    // A reply under way began in this chunk unless one was already under way and none ended here.
    if (!this.parser.holdsPartial) this.replyBegan = null;
    else if (this.replyBegan === null || replies.length > 0) this.replyBegan = this.lastInput;
    let closing = false;
    for (const r of replies) {
      this.trace?.(`< ${r.code} ${r.lines.join("\n    ")}`);
      if (r.code === 421) closing = true;
      const reader = this.readers.shift();
      if (reader) reader.resolve(r);
      else this.unread.push(r);
    }
    if (replies.length > 0) for (const tell of this.arrivals.splice(0)) tell(!closing);
    if (this.unread.length > MAX_UNREAD_REPLIES) {
      this.unread = [];
      this.fail(new ClientError(`protocol error from server: more than ${MAX_UNREAD_REPLIES} replies to commands never sent`, { kind: "protocol" }));
      return false;
    }
    return !closing;
  }

  /**
   * Anything received that no reader has taken: replies, or part of one. Right after "234" to AUTH
   * TLS there must be none, or bytes sent in clear would be read as answers given inside TLS.
   */
  get holdsUnread(): boolean {
    return this.unread.length > 0 || this.parser.holdsPartial;
  }

  /** Fail every reader, now and later, with `err` (the first failure wins). */
  fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const r of this.readers.splice(0)) r.reject(err);
    for (const tell of this.arrivals.splice(0)) tell(false);
  }

  /** Requests whose replies have not come yet. */
  get awaited(): number {
    return this.readers.length;
  }

  /**
   * Whether the server answers again after the replies read so far: true at once when one is in
   * already (unread), else at the next that arrives (false for a 421), false once the queue fails.
   */
  nextArrival(): Promise<boolean> {
    if (this.unread.length > 0) return Promise.resolve(!this.failed);
    if (this.failed) return Promise.resolve(false);
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  /**
   * The next reply (preliminary or final), reserved now. It is given up (`timedOut` is the error's
   * message) once the control connection has been silent for `timeoutMs` while it waited; 0 waits as
   * long as it takes. Silent, not slow: a server that sends a long reply line by line (ProFTPD's
   * "213-Computing…" while it hashes a big file) is still answering, for REPLY_SPAN_FACTOR times
   * `timeoutMs` from the reply's first byte (`endless` then gives the error's message): a server
   * that trickled a reply a line (or a byte) every few seconds held the client for ever.
   */
  read(timeoutMs: number, timedOut = "timed out waiting for the server's reply", endless = (ms: number) => `the server's reply did not end in ${ms / 1000} s, its lines still coming`): Promise<FtpReply> {
    const queued = this.unread.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const since = performance.now();
      const spanMs = timeoutMs * REPLY_SPAN_FACTOR;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const check = () => {
        const now = performance.now();
        const quiet = now - Math.max(since, this.lastInput);
        // Its own reply's span only: one begun before this read (another reader's) is not this reply.
        const span = this.replyBegan === null ? 0 : now - Math.max(since, this.replyBegan);
        if (quiet < timeoutMs && span < spanMs) return void (timer = setTimeout(check, Math.min(timeoutMs - quiet, spanMs - span)));
        const i = this.readers.indexOf(entry);
        if (i >= 0) this.readers.splice(i, 1);
        reject(new ClientError(quiet < timeoutMs ? endless(spanMs) : timedOut, { retryable: true }));
        this.onTimeout();
      };
      if (timeoutMs > 0) timer = setTimeout(check, timeoutMs);
      const entry = {
        resolve: (r: FtpReply) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.readers.push(entry);
    });
  }

  /** What new requests must wait for (see hold), or null. */
  get held(): Promise<void> | null {
    return this.heldBy;
  }

  /**
   * Make new requests wait until `until` settles. A transfer command is answered by a 1yz and then a
   * final reply, and its read of the final one is reserved only once the 1yz is in: a request
   * reserved in between (a file's late SIZE, while the next file's STOR goes out behind it) would
   * take the transfer's final reply, and the transfer that request's.
   */
  hold(until: Promise<unknown>): void {
    const held = until.then(
      () => {},
      () => {},
    );
    this.heldBy = held;
    void held.then(() => {
      if (this.heldBy === held) this.heldBy = null;
    });
  }
}
