// FtpClient: one control connection (RFC 959): greeting, FTPS (RFC 4217), requests whose replies
// come in command order (so commands can be pipelined; the matching is reply-queue.ts), login (login.ts), FEAT
// (RFC 2389), SIZE/MDTM/REST (RFC 3659). Data connections are data-channel.ts, HASH and the legacy
// X-verbs remote-hash.ts.
import { CLI_WORDS, type OptionWords } from "./option-words.ts";
import { formatCommand } from "../protocol/command.ts";
import { canAnswer } from "../protocol/reply-sequences.ts";
import { formatEndpoint } from "../protocol/address.ts";
import type { FtpReply } from "../protocol/reply.ts";
import { formatTimeVal, parseTimeVal, type FileInfo } from "../protocol/listing.ts";
import { remotePath, unquotePath } from "../protocol/path.ts";
import { parseSizeReply } from "../protocol/size.ts";
import { connect, DEFAULT_CONNECT_TIMEOUT_MS, type Connection } from "./connection.ts";
import { DataChannel, type TransferOpts } from "./data-channel.ts";
import { ClientError, describe, fromServer, NoClearGreeting, outOfStep, replyError, REST_UNSUPPORTED_CODES, RestUnsupported, tooManyClients } from "./errors.ts";
import { loginAs } from "./login.ts";
import { RemoteHash, type DigestAlgorithm } from "./remote-hash.ts";
import { ReplyQueue } from "./reply-queue.ts";
import { MAX_HANDSHAKE_MS, MAX_PRELIMINARY_REPLIES, shorter, waitBound, type ClientOptions, type DataTransfer, type Features } from "./client-options.ts";
// listing.ts uses this module's exports only inside functions, so the import cycle is harmless.
import { listPath } from "./listing.ts";

export { ClientError, describe, replyError } from "./errors.ts";
export type { DigestAlgorithm } from "./remote-hash.ts";
export type { ClientOptions, DataMode, DataTransfer, Features } from "./client-options.ts";

export class FtpClient {
  /** Replies matched to requests in order (reply-queue.ts). */
  private readonly replies: ReplyQueue;
  features: Features = new Map();
  /**
   * Offer the control connection's TLS session on data connections (default; vsftpd's
   * require_ssl_reuse needs it). The probe turns it off to tell a server that fails resumed
   * handshakes from one whose data TLS fails altogether.
   */
  offerTlsSession = true;
  /** The server's 220 greeting. */
  greeting: FtpReply | null = null;
  /** Data connections (data-channel.ts) and HASH (remote-hash.ts) of this control connection. */
  private readonly data = new DataChannel(this);
  private readonly hashes = new RemoteHash(this);
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

  /** The address the last PASV reply named; the data connection went to the control peer instead. */
  get pasvHost(): string | null {
    return this.data.pasvHost;
  }

  /** The bound of a TLS handshake (control or data). */
  get handshakeMs(): number {
    return shorter(this.waitMs, MAX_HANDSHAKE_MS);
  }

  /** The bound of a connect (control or data). */
  get connectMs(): number {
    return shorter(this.waitMs, DEFAULT_CONNECT_TIMEOUT_MS);
  }

  /** Bytes received that no command has read (see ReplyQueue.holdsUnread). */
  get holdsUnreadReplies(): boolean {
    return this.replies.holdsUnread;
  }

  /** "host:port" (IPv6 in brackets), as errors name the server. */
  endpoint(): string {
    return formatEndpoint(this.opts.host, this.opts.port);
  }

  private constructor(
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

  /** Connect and read the greeting (220). */
  static async connect(opts: ClientOptions): Promise<FtpClient> {
    const implicit = opts.tls?.mode === "implicit" ? opts.tls.settings : undefined;
    const connectMs = shorter(waitBound(opts), DEFAULT_CONNECT_TIMEOUT_MS);
    const control = await connect({ host: opts.host, port: opts.port, timeoutMs: connectMs, purpose: "control connection", tls: implicit });
    const client = new FtpClient(control, opts);
    opts.trace?.(`* connected to ${client.endpoint()}${implicit ? " (implicit TLS)" : ""}`);
    try {
      // control-tls.ts is loaded only for a TLS connection (implicit or --tls).
      if (implicit) await (await import("./control-tls.ts")).controlHandshake(client.control, client.endpoint(), client.handshakeMs);
      let greeting = await client.read(undefined, "greeting").catch((err: Error) => {
        // A server silent under --tls (until our timeout, or until its own handshake timeout closes
        // the connection, as ftpkit's does after 10 s) is most often an implicit-TLS port waiting for our ClientHello.
        const silent = /timed out/.test(err.message) ? "it stayed silent" : /closed the control connection/.test(err.message) ? "it closed the connection without one" : null;
        if (opts.tls?.mode === "explicit" && silent) {
          throw new NoClearGreeting(`no greeting from ${opts.host}:${opts.port} in clear text (${silent}): if it is an implicit TLS port, use an ftps:// URL instead of ${client.words.tls}`);
        }
        throw err;
      });
      greeting = await client.untilFinal(greeting); // 120: ready in nnn minutes
      if (greeting.code !== 220) {
        control.close();
        const full = tooManyClients(greeting);
        throw new ClientError(`server refused the connection: ${describe(greeting)}`, { code: greeting.code, retryable: full, ...(full ? { kind: "server" as const } : {}) });
      }
      client.greeting = greeting;
      if (opts.tls) {
        await (await import("./control-tls.ts")).secureControl(client, opts.tls.mode, client.handshakeMs);
        opts.trace?.(`* TLS ${client.control.negotiated ?? ""} on the control connection${opts.tls.settings.insecure ? ", certificate not checked" : ", certificate verified"}`);
      }
    } catch (err) {
      control.destroy();
      throw err;
    }
    return client;
  }

  /** Is the control connection (and with it every data connection) encrypted? */
  get secured(): boolean {
    return this.control.tlsActive;
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

  /** USER/PASS. `password` is only asked for when the server wants one (331); a refusal is classified in login.ts. */
  login(user: string, password: () => Promise<string> | string): Promise<void> {
    return loginAs(this, user, password);
  }

  /** The login directory, from PWD right after login (null when the server names none). */
  home: string | null = null;

  /** Does `LIST -a` list hidden files here (undefined: not known yet; listing.ts probes it)? */
  listsHidden: boolean | undefined;

  /** MLSD was refused as a command this server lacks (500, 502) though it offers MLST: listings go by LIST (listing.ts). */
  lacksMlsd = false;

  /** PWD (RFC 959 §4.1.3): the current directory from a 257 reply, or null. */
  async pwd(): Promise<string | null> {
    const r = await this.command("PWD");
    if (r.code !== 257) return null;
    const dir = unquotePath(r.lines[0]!.trim());
    return dir && dir.startsWith("/") ? dir : null;
  }

  /** Where a URL path points on this server: relative URL paths start at the login directory (RFC 1738 §3.2.2). */
  resolve(urlPath: string): string {
    return remotePath(this.home, urlPath);
  }

  /** Entries of a directory (or the one file named): MLSD/MLST when offered, else LIST. */
  async list(path: string): Promise<FileInfo[]> {
    return listPath(this, path);
  }

  /** MKD (callers create only directories a listing showed missing). */
  async mkdir(path: string): Promise<void> {
    await this.expect("MKD", path, [257, 250], `MKD ${path}`);
  }

  async deleteFile(path: string): Promise<void> {
    await this.expect("DELE", path, [250, 200], `DELE ${path}`);
  }

  async removeDir(path: string): Promise<void> {
    await this.expect("RMD", path, [250, 200], `RMD ${path}`);
  }

  /** MFMT (draft-somers-ftp-mfxx): set a remote file's modification time; false when unsupported. */
  async setMtime(path: string, when: Date): Promise<boolean> {
    if (!this.features.has("MFMT")) return false;
    const r = await this.command("MFMT", `${formatTimeVal(when)} ${path}`);
    return r.code === 213;
  }

  /** A SITE CHMOD the server did not know (500/502/504): not sent again on this connection. */
  private chmodUnknown = false;

  /** SITE CHMOD (vsftpd, ProFTPD, pyftpdlib; not in FEAT): set a remote file's permission bits; false when not done. */
  async setMode(path: string, mode: number): Promise<boolean> {
    if (this.chmodUnknown) return false;
    const r = await this.command("SITE", `CHMOD ${(mode & 0o777).toString(8).padStart(3, "0")} ${path}`);
    if (r.code === 500 || r.code === 502 || r.code === 504) this.chmodUnknown = true;
    return r.code === 200;
  }

  /** FEAT: returns and remembers the server's extensions (empty when FEAT is not supported). */
  async feat(): Promise<Features> {
    const r = await this.command("FEAT");
    const features: Features = new Map();
    if (r.code === 211) {
      for (const line of r.lines.slice(1, -1)) {
        const t = line.trim();
        if (!t) continue;
        const sp = t.indexOf(" ");
        features.set((sp < 0 ? t : t.slice(0, sp)).toUpperCase(), sp < 0 ? "" : t.slice(sp + 1).trim());
      }
    }
    this.features = features;
    return features;
  }

  /** TYPE I: bytes on the wire equal bytes on disk, so sizes, offsets and digests agree. */
  async binary(): Promise<void> {
    await this.expect("TYPE", "I", [200], "TYPE I");
  }

  /** SIZE: the remote size, `null` when unsupported; throws (code 550) when the file is missing, and a protocol error when the reply is no size. */
  async size(path: string): Promise<number | null> {
    const r = await this.command("SIZE", path);
    if (r.code === 213) return fromServer("SIZE reply", () => parseSizeReply(r.lines[0]!));
    // Another command's 226 or 250 (replies out of step) was taken for "no size": unverified, in silence.
    if (r.code < 400) throw outOfStep("SIZE", r);
    if (r.code === 550) throw new ClientError(`${path}: ${r.lines.join(" ")}`, { code: 550 });
    // 4yz: not "no SIZE" but "not now" (a server whose store is away): retried, never taken for a
    // server without sizes (a resumed upload started over and ended unverified).
    if (r.code >= 400 && r.code < 500) throw replyError(`SIZE ${path}`, r);
    return null;
  }

  /** MDTM: the remote modification time as the server reports it (UTC time-val), `null` if unsupported. */
  async mdtm(path: string): Promise<string | null> {
    const r = await this.command("MDTM", path);
    if (r.code !== 213) return null;
    const text = r.lines[0]!.trim();
    try {
      parseTimeVal(text);
      return text;
    } catch {
      return null;
    }
  }

  /**
   * Open a data connection and send the transfer command (data-channel.ts: EPSV/PASV or EPRT/PORT,
   * TLS under PROT P). Resolves once the server accepted the command.
   */
  transfer(verb: string, arg?: string, opts: TransferOpts = {}): Promise<DataTransfer> {
    return this.data.transfer(verb, arg, opts);
  }

  /**
   * Ask for MODE B (block mode, RFC 959 §3.4.2; a tree job's connections): with the server's 200,
   * transfers keep one data connection (block-transfer.ts); any other answer leaves stream mode.
   * The command goes out at once, so it can share a packet with others.
   */
  offerBlockMode(): Promise<void> {
    return this.data.offerBlockMode();
  }

  /** Transfers on this connection use block mode (MODE B), where they can. */
  get blockMode(): boolean {
    return this.data.blockOffered;
  }

  /** REST: the next transfer starts at `offset`. */
  async restart(offset: number): Promise<void> {
    const r = await this.command("REST", String(offset));
    if (REST_UNSUPPORTED_CODES.includes(r.code)) throw new RestUnsupported(r);
    if (r.code !== 350) throw replyError(`REST ${offset}`, r, "REST");
  }

  /** OPTS HASH before any byte moves, so the server can hash while streaming (remote-hash.ts). */
  announceHash(algo: DigestAlgorithm): Promise<void> {
    return this.hashes.announce(algo);
  }

  /** Does the server offer HASH (FEAT)? */
  hasHash(): boolean {
    return this.features.has("HASH");
  }

  /** False once this server is known to give no `algo` digest (see RemoteHash.announce). */
  mayGiveDigest(algo: DigestAlgorithm): boolean {
    return this.hashes.mayGive(algo);
  }

  /** The server's digest of `path` (or of a byte range), by HASH or the legacy verbs; null when it has none. */
  remoteDigest(path: string, algo: DigestAlgorithm, range?: { start: number; end: number }): Promise<{ hex: string; via: string } | null> {
    return this.hashes.digest(path, algo, range);
  }

  /** How this server refused a HASH it lists (null: it did not), to say why a file was not verified by digest. */
  hashRefusal(): string | null {
    return this.hashes.refusal;
  }

  /** Can the server hash a byte range (for checking a partial file before resuming)? */
  canHashRange(): boolean {
    return this.features.has("HASH");
  }

  /** QUIT politely, then close (never throws). */
  async quit(): Promise<void> {
    this.data.dropLink(true);
    try {
      if (!this.control.isClosed && !this.replies.failure) {
        await this.send("QUIT");
        await this.read(2000);
      }
    } catch {
      /* closing anyway */
    }
    this.control.close();
  }

  /**
   * Whether the server still answers on the control connection (a NOOP). After a refusal it tells a
   * server that said no from one whose session ended: the close may arrive just after the reply.
   */
  async alive(): Promise<boolean> {
    if (this.control.isClosed || this.replies.failure) return false;
    try {
      const r = await this.request("NOOP");
      return r.code !== 421 && !this.control.isClosed;
    } catch {
      return false;
    }
  }

  /** Drop the control connection without QUIT. */
  destroy(): void {
    this.data.dropLink(false);
    this.control.destroy();
  }
}
