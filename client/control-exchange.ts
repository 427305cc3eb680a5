// One control connection's exchange of commands and replies (RFC 959 §4.2): the lines of one turn
// of the event loop leave in one write, each request's reply is reserved in command order
// (reply-queue.ts matches them) so commands can be pipelined, 1yz replies are read past, and a
// reply that cannot answer its command is the server out of step. FtpClient (client.ts) is built
// on it: what the commands mean (login, FEAT, SIZE, transfers) is there, how they are said is here.
import { CLI_WORDS, type OptionWords } from "./option-words.ts";
import { formatCommand } from "../protocol/command.ts";
import { canAnswer } from "../protocol/reply-sequences.ts";
import { formatEndpoint } from "../protocol/address.ts";
import type { FtpReply } from "../protocol/reply.ts";
import type { Connection } from "./connection.ts";
import { ClientError, outOfStep, replyError } from "./errors.ts";
import { ReplyQueue } from "./reply-queue.ts";
import { MAX_PRELIMINARY_REPLIES, waitBound, type ClientOptions } from "./client-options.ts";

/** Commands and their replies over one control connection; FtpClient extends it. */
export class ControlExchange {
  /** Replies matched to requests in order (reply-queue.ts). */
  protected readonly replies: ReplyQueue;

  /**
   * How long the server may stay silent while a reply (or a handshake, a connect) is waited for:
   * timeoutMs, else --stall-timeout (stallMs), else 60 s; 0 = as long as it takes.
   */
  readonly waitMs: number;
  /** What a timed-out wait names as its bound: the flag, when it came from --stall-timeout. */
  private readonly waitFlag: string;
  /** How messages name the options (the CLI's flags, or the package API's options). */
  get words(): OptionWords {
    return this.opts.words ?? CLI_WORDS;
  }

  /** Bytes received that no command has read (see ReplyQueue.holdsUnread). */
  get holdsUnreadReplies(): boolean {
    return this.replies.holdsUnread;
  }

  /** "host:port" (IPv6 in brackets), as errors name the server. */
  endpoint(): string {
    return formatEndpoint(this.opts.host, this.opts.port);
  }

  protected constructor(
    readonly control: Connection,
    readonly opts: ClientOptions,
  ) {
    this.waitMs = waitBound(opts);
    this.waitFlag = opts.timeoutMs === undefined && opts.stallMs !== undefined ? ` (${this.words.stall})` : "";
    this.replies = new ReplyQueue(() => control.destroy(), opts.trace);
    control.onData((chunk) => {
      if (!this.replies.push(chunk)) control.destroy();
    });
    void control.closed.then(() => this.replies.fail(new ClientError("the server closed the control connection", { retryable: true })));
  }

  /**
   * The next reply from the server (preliminary or final), given up once the server has been silent
   * `timeoutMs` (default: waitMs; 0: never). `awaited` names it ("greeting", "reply to RETR") in the
   * error, with the server and the bound: a frozen server's one line says which server stopped
   * answering, at which step, and which flag gives it longer.
   */
  read(timeoutMs = this.waitMs, awaited = "reply"): Promise<FtpReply> {
    const flag = timeoutMs === this.waitMs ? this.waitFlag : "";
    return this.replies.read(timeoutMs, `timed out waiting for the server's ${awaited} (${this.endpoint()}): no reply in ${timeoutMs / 1000} s${flag}`, (ms) => `the server's ${awaited} (${this.endpoint()}) did not end in ${ms / 1000} s${flag ? ` (ten times ${this.words.stall})` : ""}: its lines kept coming`);
  }

  /**
   * Send one command line (no waiting); the caller reads its reply, wherever it comes (`ftpkit test`
   * sends STAT and ABOR while a transfer is open): from then on replies are not checked against the
   * commands they answer (inStep).
   */
  async send(verb: string, arg?: string): Promise<void> {
    if (this.replies.failure) throw this.replies.failure;
    this.unmatched = true;
    this.opts.trace?.(`> ${verb === "PASS" ? "PASS ****" : formatCommand(verb, arg).trimEnd()}`);
    await this.writeLine(formatCommand(verb, arg));
  }

  private outbox = "";
  private outboxSent: Promise<void> | null = null;

  /** Lines queued in one turn of the event loop leave in one write: one syscall, one packet (EPSV+RETR). */
  private writeLine(line: string): Promise<void> {
    this.outbox += line;
    this.outboxSent ??= new Promise<void>((resolve, reject) =>
      queueMicrotask(() => {
        const text = this.outbox;
        this.outbox = "";
        this.outboxSent = null;
        this.control.write(text).then(resolve, reject);
      }),
    );
    return this.outboxSent;
  }

  /**
   * Send a command and reserve the next reply for it, both at once (before returning): requests made
   * one after another get their replies in that order, so commands can be pipelined (RFC 959 §4.2
   * replies come in command order). A failed write closes the connection, which fails the reply.
   */
  request(verb: string, arg?: string, timeoutMs?: number): Promise<FtpReply> {
    const held = this.replies.held;
    if (held) return held.then(() => this.request(verb, arg, timeoutMs));
    if (this.replies.failure) return Promise.reject(this.replies.failure);
    this.opts.trace?.(`> ${verb === "PASS" ? "PASS ****" : formatCommand(verb, arg).trimEnd()}`);
    this.writeLine(formatCommand(verb, arg)).catch(() => {});
    return this.read(timeoutMs, `reply to ${verb}`);
  }

  /** Resolves once no transfer command holds new requests back (its hold is released a few ticks after it settled). */
  async requestsFree(): Promise<void> {
    for (let held = this.replies.held; held; held = this.replies.held) await held;
  }

  /** Make new requests wait until `until` settles (ReplyQueue.hold: a transfer command's replies). */
  holdRequests(until: Promise<unknown>): void {
    this.replies.hold(until);
  }

  /** A command went out by send(), its reply read by the caller: replies no longer match commands one to one. */
  private unmatched = false;

  /** Send a command and return its final reply (1yz replies are skipped); a reply it cannot get is a protocol error (inStep). */
  async command(verb: string, arg?: string): Promise<FtpReply> {
    const first = this.inStep(verb, await this.request(verb, arg));
    return first.code < 200 ? this.inStep(verb, await this.untilFinal(first)) : first;
  }

  /**
   * `r`, when it can answer `verb` (protocol/reply-sequences.ts); else the server's replies are out of
   * step with our commands (one sent unasked, a 226 twice): every later reply would be taken for the
   * next command's (a 226 for HASH's "no digest": a download passed as size-checked only). The
   * connection goes, and the error is its protocol error (exit 7), the same for every request on it.
   */
  inStep(verb: string, r: FtpReply): FtpReply {
    if (this.unmatched || canAnswer(verb, r.code)) return r;
    const err = outOfStep(verb, r);
    this.replies.fail(err);
    this.control.destroy();
    throw err;
  }

  /**
   * Read past 1yz replies, starting with `r` (already read), to the final one. A server that sends
   * them without end would keep the client spinning: past MAX_PRELIMINARY_REPLIES the connection is dropped.
   */
  async untilFinal(r: FtpReply, timeoutMs?: number): Promise<FtpReply> {
    for (let n = 0; r.code < 200; n++) {
      if (n === MAX_PRELIMINARY_REPLIES) {
        const err = new ClientError(`protocol error from server: more than ${MAX_PRELIMINARY_REPLIES} preliminary (1yz) replies without a final one`, { kind: "protocol" });
        this.replies.fail(err);
        this.control.destroy();
        throw err;
      }
      r = await this.read(timeoutMs);
    }
    return r;
  }

  /** Send a command and throw a ClientError unless the reply code is one of `ok`. */
  async expect(verb: string, arg: string | undefined, ok: number[], what?: string): Promise<FtpReply> {
    const r = await this.command(verb, arg);
    if (!ok.includes(r.code)) throw replyError(what ?? `${verb}${arg ? ` ${arg}` : ""}`, r);
    return r;
  }
}
