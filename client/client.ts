// FtpClient: one control connection (RFC 959): greeting, FTPS (RFC 4217), requests whose replies
// come in command order (so commands can be pipelined: control-exchange.ts, which it extends), login (login.ts), FEAT
// (RFC 2389), SIZE/MDTM/REST (RFC 3659). Data connections are data-channel.ts, HASH and the legacy
// X-verbs remote-hash.ts.
import type { FtpReply } from "../protocol/reply.ts";
import { formatTimeVal, parseTimeVal, type FileInfo } from "../protocol/listing.ts";
import { remotePath, unquotePath } from "../protocol/path.ts";
import { parseSizeReply } from "../protocol/size.ts";
import { connect, DEFAULT_CONNECT_TIMEOUT_MS, type Connection } from "./connection.ts";
import { DataChannel, type TransferOpts } from "./data-channel.ts";
import { ClientError, describe, fromServer, NoClearGreeting, outOfStep, replyError, REST_UNSUPPORTED_CODES, RestUnsupported, tooManyClients } from "./errors.ts";
import { loginAs } from "./login.ts";
import { RemoteHash, type DigestAlgorithm } from "./remote-hash.ts";
import { ControlExchange } from "./control-exchange.ts";
import { MAX_HANDSHAKE_MS, shorter, waitBound, type ClientOptions, type DataTransfer, type Features } from "./client-options.ts";
// listing.ts uses this module's exports only inside functions, so the import cycle is harmless.
import { listPath } from "./listing.ts";

export { ClientError, describe, replyError } from "./errors.ts";
export type { DigestAlgorithm } from "./remote-hash.ts";
export type { ClientOptions, DataMode, DataTransfer, Features } from "./client-options.ts";

/** A server that closes without a greeting after this long may be an implicit TLS port's handshake timeout. */
const IMPLICIT_TLS_HINT_MS = 1000;

export class FtpClient extends ControlExchange {
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

  private constructor(control: Connection, opts: ClientOptions) {
    super(control, opts);
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
      const greetingFrom = performance.now();
      let greeting = await client.read(undefined, "greeting").catch((err: Error) => {
        // A server silent under --tls (until our timeout, or until its own handshake timeout closes
        // the connection, as ftpkit's does after 10 s) is most often an implicit-TLS port waiting for our ClientHello.
        const silent = /timed out/.test(err.message) ? "it stayed silent" : /closed the control connection/.test(err.message) ? "it closed the connection without one" : null;
        if (opts.tls?.mode === "explicit" && silent) {
          throw new NoClearGreeting(`no greeting from ${opts.host}:${opts.port} in clear text (${silent}): if it is an implicit TLS port, use an ftps:// URL instead of ${client.words.tls}`);
        }
        // The same symptom without --tls stays retryable (a frozen server, a balancer without a
        // backend yet), but an ftp:// URL of an implicit TLS port (990) waited out every retry
        // unhinted. A close at once is no such port (it waits for a ClientHello): a full server.
        const waited = silent === "it stayed silent" || (silent !== null && performance.now() - greetingFrom >= IMPLICIT_TLS_HINT_MS);
        if (!opts.tls && waited) err.message += `${silent === "it stayed silent" ? "" : " before its greeting"} (if ${opts.port} is an implicit TLS port, use an ftps:// URL)`;
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

  /**
   * Whether the session goes on after a refusal just read: a reply after it says so, the close says
   * not. While replies to later commands are still to come (a tree's next file on this connection,
   * its transfer maybe), the next of them tells: a NOOP sent behind a transfer is answered at once by
   * servers that answer NOOP during one (ftpkit, ProFTPD, Pure-FTPd), and its 200 was taken for the
   * transfer's final reply. With none to come (nor any in), a NOOP asks (alive).
   */
  goesOn(): Promise<boolean> {
    if (this.control.isClosed || this.replies.failure) return Promise.resolve(false);
    return this.replies.awaited > 0 || this.replies.holdsUnread ? this.replies.nextArrival() : this.alive();
  }

  /** Drop the control connection without QUIT. */
  destroy(): void {
    this.data.dropLink(false);
    this.control.destroy();
  }
}
