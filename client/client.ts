// FtpClient: one control connection (RFC 959), with FEAT (RFC 2389), EPSV/EPRT (RFC 2428),
// SIZE/MDTM/REST/MLSD (RFC 3659) and HASH (draft-bryan-ftp-hash) plus the legacy X-verbs.
import { formatCommand } from "../protocol/command.ts";
import { ReplyParser, type FtpReply } from "../protocol/reply.ts";
import { formatEprt, formatHostPort, isIPv4, parseEpsvReply, parseHostPort } from "../protocol/address.ts";
import { formatTimeVal, parseTimeVal, type FileInfo } from "../protocol/listing.ts";
import { formatRangeArg, parseHashReply, parseLegacyHashReply, type HashAlgorithm, type HashResult } from "../protocol/hash.ts";
import { remotePath, unquotePath } from "../protocol/path.ts";
import { connect, listenForData, type Connection, type DataListener, type TlsSettings } from "./connection.ts";
import { ClientError } from "./errors.ts";
// listing.ts uses this module's exports only inside functions, so the import cycle is harmless.
import { listPath } from "./listing.ts";

export { ClientError } from "./errors.ts";

export interface ClientOptions {
  host: string;
  port: number;
  /** Active mode: the server connects to us (EPRT, falling back to PORT). */
  active?: boolean;
  timeoutMs?: number;
  /** Called with every line sent and received (passwords masked), for --verbose style logs. */
  trace?: (line: string) => void;
  /**
   * FTPS (RFC 4217): `explicit` sends AUTH TLS after the greeting, `implicit` speaks TLS from the
   * first byte. Either way PBSZ 0 + PROT P follow, so data connections are encrypted too, before
   * any USER/PASS. Never falls back to clear text.
   */
  tls?: { mode: "explicit" | "implicit"; settings: TlsSettings };
}

/** How a data connection is opened: passive (EPSV, PASV) or active (EPRT, PORT); undefined = the usual fallbacks. */
export type DataMode = "epsv" | "pasv" | "eprt" | "port";

/** What the server offered in FEAT: upper-case keyword → its parameters (may be ""). */
export type Features = Map<string, string>;

/** An open data connection whose transfer command was accepted (1yz received or pending). */
export interface DataTransfer {
  conn: Connection;
  /** Resolves with the final reply of the transfer command (226/250 or an error reply). */
  done: Promise<FtpReply>;
}

const HASH_NAMES: Record<"md5" | "sha256", { hash: HashAlgorithm; legacy: string }> = {
  md5: { hash: "MD5", legacy: "XMD5" },
  sha256: { hash: "SHA-256", legacy: "XSHA256" },
};

export type DigestAlgorithm = keyof typeof HASH_NAMES;

export class FtpClient {
  private parser = new ReplyParser();
  private decoder = new TextDecoder("utf-8");
  private replies: FtpReply[] = [];
  private waiters: { resolve: (r: FtpReply) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;
  features: Features = new Map();
  /**
   * Offer the control connection's TLS session on data connections (default). Some servers
   * (pyftpdlib with pyOpenSSL) reset a data connection that offers one.
   */
  offerTlsSession = true;
  /** The server's 220 greeting. */
  greeting: FtpReply | null = null;
  private hashAlgo: HashAlgorithm | null = null;

  private constructor(
    readonly control: Connection,
    readonly opts: ClientOptions,
  ) {
    control.onData((chunk) => this.onControlData(chunk));
    void control.closed.then(() => this.fail(new ClientError("the server closed the control connection", { retryable: true })));
  }

  /** Connect and read the greeting (220). */
  static async connect(opts: ClientOptions): Promise<FtpClient> {
    const implicit = opts.tls?.mode === "implicit" ? opts.tls.settings : undefined;
    const control = await connect({ host: opts.host, port: opts.port, timeoutMs: opts.timeoutMs, purpose: "control connection", tls: implicit });
    const client = new FtpClient(control, opts);
    try {
      if (implicit) await client.handshake();
      let greeting = await client.read().catch((err: Error) => {
        // A silent server under --tls is most often an implicit-TLS port waiting for our ClientHello.
        if (opts.tls?.mode === "explicit" && /timed out/.test(err.message)) {
          throw new ClientError(`no greeting from ${opts.host}:${opts.port} in clear text: if it is an implicit TLS port, use an ftps:// URL instead of --tls`, { retryable: true });
        }
        throw err;
      });
      while (greeting.code >= 100 && greeting.code < 200) greeting = await client.read(); // 120: ready in nnn minutes
      if (greeting.code !== 220) {
        control.close();
        throw new ClientError(`server refused the connection: ${describe(greeting)}`, { code: greeting.code, retryable: greeting.code === 421 });
      }
      client.greeting = greeting;
      if (opts.tls) await client.secure(opts.tls.mode);
    } catch (err) {
      control.destroy();
      throw err;
    }
    return client;
  }

  /** Wait for the control connection's TLS handshake (bounded by the client's timeout). */
  private async handshake(): Promise<void> {
    const ms = this.opts.timeoutMs ?? 60_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.control.ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ClientError(`TLS handshake with ${this.opts.host} timed out`, { retryable: true })), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** AUTH TLS (explicit only) → handshake → PBSZ 0 → PROT P (RFC 4217 §§4, 8, 9). */
  private async secure(mode: "explicit" | "implicit"): Promise<void> {
    if (mode === "explicit") {
      const r = await this.command("AUTH", "TLS");
      if (r.code !== 234) {
        throw new ClientError(`server does not support AUTH TLS: ${describe(r)}; refusing to continue in clear text`, { code: r.code });
      }
      this.control.startTls(this.opts.tls!.settings);
      await this.handshake();
    }
    const pbsz = await this.command("PBSZ", "0");
    if (pbsz.code !== 200) throw new ClientError(`server refused PBSZ 0 after TLS: ${describe(pbsz)}`, { code: pbsz.code });
    const prot = await this.command("PROT", "P");
    if (prot.code !== 200) throw new ClientError(`server refused PROT P (encrypted data connections): ${describe(prot)}`, { code: prot.code });
  }

  /** Is the control connection (and with it every data connection) encrypted? */
  get secured(): boolean {
    return this.control.tlsActive;
  }

  private onControlData(chunk: Buffer): void {
    let replies: FtpReply[];
    try {
      replies = this.parser.push(this.decoder.decode(chunk, { stream: true }));
    } catch (err) {
      this.fail(new ClientError(`protocol error from server: ${(err as Error).message}`));
      this.control.destroy();
      return;
    }
    for (const r of replies) {
      this.opts.trace?.(`< ${r.code} ${r.lines.join("\n    ")}`);
      const w = this.waiters.shift();
      if (w) w.resolve(r);
      else this.replies.push(r);
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** The next reply from the server (preliminary or final). */
  read(timeoutMs = this.opts.timeoutMs ?? 60_000): Promise<FtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(entry);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new ClientError("timed out waiting for the server's reply", { retryable: true }));
        this.control.destroy();
      }, timeoutMs);
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
      this.waiters.push(entry);
    });
  }

  /** Send one command line (no waiting). */
  async send(verb: string, arg?: string): Promise<void> {
    if (this.failure) throw this.failure;
    this.opts.trace?.(`> ${verb === "PASS" ? "PASS ****" : formatCommand(verb, arg).trimEnd()}`);
    await this.control.write(formatCommand(verb, arg));
  }

  /**
   * Send a command and reserve the next reply for it, both at once (before returning): requests made
   * one after another get their replies in that order, so commands can be pipelined (RFC 959 §4.2
   * replies come in command order). A failed write closes the connection, which fails the reply.
   */
  request(verb: string, arg?: string): Promise<FtpReply> {
    if (this.failure) return Promise.reject(this.failure);
    this.opts.trace?.(`> ${verb === "PASS" ? "PASS ****" : formatCommand(verb, arg).trimEnd()}`);
    this.control.write(formatCommand(verb, arg)).catch(() => {});
    return this.read();
  }

  /** Send a command and return its final reply (1yz replies are skipped). */
  async command(verb: string, arg?: string): Promise<FtpReply> {
    let r = await this.request(verb, arg);
    while (r.code < 200) r = await this.read();
    return r;
  }

  /** Send a command and throw a ClientError unless the reply code is one of `ok`. */
  async expect(verb: string, arg: string | undefined, ok: number[], what?: string): Promise<FtpReply> {
    const r = await this.command(verb, arg);
    if (!ok.includes(r.code)) throw replyError(what ?? `${verb}${arg ? ` ${arg}` : ""}`, r);
    return r;
  }

  /** USER/PASS. `password` is only asked for when the server wants one (331). */
  async login(user: string, password: () => Promise<string> | string): Promise<void> {
    let r = await this.command("USER", user);
    if (r.code === 331) r = await this.command("PASS", await password());
    if (r.code === 332) throw new ClientError(`login failed: the server wants an account (ACCT), which ftpkit does not support`, { code: r.code });
    if (r.code !== 230 && r.code !== 202) {
      throw new ClientError(`login failed for user "${user}": ${describe(r)}`, { code: r.code, retryable: r.code === 421 });
    }
  }

  /** The login directory, from PWD right after login (null when the server names none). */
  home: string | null = null;

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

  /** MKD (callers create only directories a listing showed missing). */
  /** Entries of a directory (or the one file named): MLSD/MLST when offered, else LIST. */
  async list(path: string): Promise<FileInfo[]> {
    return listPath(this, path);
  }

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

  /** SIZE: the remote size, `null` when unsupported; throws (code 550) when the file is missing. */
  async size(path: string): Promise<number | null> {
    const r = await this.command("SIZE", path);
    if (r.code === 213) {
      const n = Number(r.lines[0]!.trim().split(/\s+/)[0]);
      return Number.isSafeInteger(n) && n >= 0 ? n : null;
    }
    if (r.code === 550) throw new ClientError(`${path}: ${r.lines.join(" ")}`, { code: 550 });
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
   * Open a data connection and send the transfer command. Passive: EPSV, falling back to PASV
   * (connecting to the control peer's address, never to the address a 227 names). Active: EPRT
   * on the control connection's local address, falling back to PORT.
   */
  async transfer(verb: string, arg?: string, opts: { rest?: number; mode?: DataMode } = {}): Promise<DataTransfer> {
    if (opts.mode === "eprt" || opts.mode === "port" || (opts.mode === undefined && this.opts.active)) return this.activeTransfer(verb, arg, opts);
    if (!opts.rest && this.epsvWorks && (opts.mode === undefined || opts.mode === "epsv")) return this.pipelinedTransfer(verb, arg);
    const conn = await this.passiveConnect(opts.mode);
    try {
      if (opts.rest) await this.restart(opts.rest);
      const { done } = await this.startTransfer(verb, arg);
      await this.dataReady(conn, done, verb, arg);
      return { conn, done };
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  async restart(offset: number): Promise<void> {
    const r = await this.command("REST", String(offset));
    if (r.code !== 350) throw replyError(`REST ${offset}`, r);
  }

  /**
   * EPSV and the transfer command in one write (once EPSV worked on this connection): the server
   * answers 229, waits for our data connection and then starts, so a small file costs one round trip
   * less (a tree job moves many). A 229 that does not come means the command failed too.
   */
  private async pipelinedTransfer(verb: string, arg?: string): Promise<DataTransfer> {
    const epsv = this.request("EPSV");
    const first = this.request(verb, arg);
    first.catch(() => {}); // read below, or abandoned with the connection
    const r = await epsv;
    if (r.code !== 229) {
      const refused = await first;
      this.epsvWorks = false;
      throw replyError(refused.code >= 300 ? `${verb}${arg ? ` ${arg}` : ""}` : "EPSV", refused.code >= 300 ? refused : r);
    }
    const host = this.control.remoteAddress || this.opts.host;
    let conn: Connection;
    try {
      conn = await connect({ host, port: parseEpsvReply(r.lines.join(" ")), timeoutMs: this.opts.timeoutMs, purpose: "data connection", ...this.dataTls() });
    } catch (err) {
      // A refused command (550: no such file) closes the server's listener: its reply is the real error.
      const refused = await first.catch(() => null);
      if (refused && refused.code >= 300) throw replyError(`${verb}${arg ? ` ${arg}` : ""}`, refused);
      throw err;
    }
    try {
      const { done } = await this.transferStarted(first, verb, arg);
      await this.dataReady(conn, done, verb, arg);
      return { conn, done };
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  /** EPSV answered 229 on this connection: later transfers may pipeline it with their command. */
  private epsvWorks = false;

  private async passiveConnect(mode?: DataMode): Promise<Connection> {
    const host = this.control.remoteAddress || this.opts.host;
    let port: number | null = null;
    if (mode === "epsv" || (mode === undefined && !this.noEpsv)) {
      const r = await this.command("EPSV");
      if (r.code === 229) {
        port = parseEpsvReply(r.lines.join(" "));
        this.epsvWorks = true;
      } else if (mode === "epsv") throw replyError("EPSV", r);
      else this.noEpsv = true;
    }
    if (port === null) {
      const r = await this.command("PASV");
      if (r.code !== 227) throw replyError("PASV", r);
      port = parseHostPort(r.lines.join(" ")).port;
    }
    return connect({ host, port, timeoutMs: this.opts.timeoutMs, purpose: "data connection", ...this.dataTls() });
  }

  /** PROT P: data connections are TLS too, offering the control connection's session (servers may require it). */
  private dataTls(): { tls?: TlsSettings; session?: Buffer | null } {
    if (!this.opts.tls) return {};
    return { tls: this.opts.tls.settings, session: this.offerTlsSession ? this.control.tlsSession() : null };
  }

  /**
   * A TLS data connection is usable after its handshake, which servers run once they accepted it or
   * (vsftpd) once the transfer command arrived: so the command goes first, then we wait here.
   */
  private async dataReady(conn: Connection, done: Promise<FtpReply>, verb: string, arg?: string): Promise<void> {
    if (!this.opts.tls) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        conn.ready,
        done.then((r) => {
          if (r.code >= 300) throw replyError(`${verb}${arg ? ` ${arg}` : ""}`, r);
          return conn.ready;
        }),
        new Promise<never>((_, reject) => {
          const ms = Math.min(this.opts.timeoutMs ?? 30_000, 30_000);
          timer = setTimeout(() => reject(new ClientError("the server did not start TLS on the data connection", { retryable: true })), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private noEpsv = false;
  private noEprt = false;

  private async activeTransfer(verb: string, arg: string | undefined, opts: { rest?: number; mode?: DataMode }): Promise<DataTransfer> {
    const host = this.control.localAddress;
    const tls = this.opts.tls ? { settings: this.opts.tls.settings, session: () => (this.offerTlsSession ? this.control.tlsSession() : null) } : undefined;
    const listener: DataListener = listenForData(host, tls);
    try {
      let ok = false;
      if (opts.mode === "eprt" || (opts.mode === undefined && !this.noEprt)) {
        const r = await this.command("EPRT", formatEprt({ host, port: listener.port }));
        if (r.code === 200) ok = true;
        else if (opts.mode === "eprt") throw replyError("EPRT", r);
        else this.noEprt = true;
      }
      if (!ok) {
        if (!isIPv4(host)) throw new ClientError("active mode over IPv6 needs EPRT, which the server refused");
        await this.expect("PORT", formatHostPort({ host, port: listener.port }), [200], "PORT");
      }
      if (opts.rest) await this.restart(opts.rest);
      const { done } = await this.startTransfer(verb, arg);
      const accepted = listener.accept();
      const conn = await Promise.race([
        accepted,
        // A refusal ends the wait; a quick 226 (small file, already sent) must not: keep waiting.
        done.then((r) => {
          if (r.code >= 300) throw replyError(`${verb} ${arg ?? ""}`.trim(), r);
          return accepted;
        }),
      ]);
      try {
        await this.dataReady(conn, done, verb, arg);
      } catch (err) {
        conn.destroy();
        throw err;
      }
      return { conn, done };
    } finally {
      listener.close();
    }
  }

  /** Send the transfer command, wait for its 1yz, and return the promise of the final reply. */
  private startTransfer(verb: string, arg?: string): Promise<{ done: Promise<FtpReply> }> {
    return this.transferStarted(this.request(verb, arg), verb, arg);
  }

  /** The transfer command's first reply is 1yz (its final reply follows) or final (at once, or refused). */
  private async transferStarted(reply: Promise<FtpReply>, verb: string, arg?: string): Promise<{ done: Promise<FtpReply> }> {
    const first = await reply;
    if (first.code >= 200) {
      if (first.code < 300) return { done: Promise.resolve(first) }; // some servers answer 226 at once for empty files
      throw replyError(`${verb}${arg ? ` ${arg}` : ""}`, first);
    }
    const done = (async () => {
      let r = await this.read(24 * 3600 * 1000);
      while (r.code < 200) r = await this.read(24 * 3600 * 1000);
      return r;
    })();
    done.catch(() => {}); // observed by the caller; avoid an unhandled rejection while it streams
    return { done };
  }

  /**
   * Say which digest we will ask for, before any byte moves: a server that sees OPTS HASH can hash
   * while the data streams (ftpkit does) and answer the HASH afterwards without reading the file again.
   */
  async announceHash(algo: DigestAlgorithm): Promise<void> {
    if (!this.features.has("HASH")) return;
    const name = HASH_NAMES[algo].hash;
    const r = await this.command("OPTS", `HASH ${name}`);
    if (r.code === 200) this.hashAlgo = name;
  }

  /** Choose the HASH algorithm (OPTS HASH); false when the server refuses it. */
  private async selectHash(algo: HashAlgorithm): Promise<boolean> {
    if (this.hashAlgo === algo) return true;
    const current = this.features.get("HASH") ?? "";
    // FEAT marks the current algorithm with "*": "HASH SHA-256*;MD5".
    const offered = current.split(";").map((s) => s.trim().replace(/\*$/, "").toUpperCase());
    if (offered.length && offered[0] !== "" && !offered.includes(algo)) return false;
    if (current.split(";").some((s) => s.trim().toUpperCase() === `${algo}*`)) {
      this.hashAlgo = algo;
      return true;
    }
    const r = await this.command("OPTS", `HASH ${algo}`);
    if (r.code !== 200) return false;
    this.hashAlgo = algo;
    return true;
  }

  /** Does the server offer HASH (FEAT) with this algorithm? */
  hasHash(): boolean {
    return this.features.has("HASH");
  }

  /**
   * The server's digest of `path` (or of bytes [start, end) with a range, sent as RANG START END-1) using `algo`: HASH when
   * FEAT lists it, else the legacy XSHA256/XMD5 (tried once, unless FEAT lists it). `null` when
   * the server offers neither.
   */
  async remoteDigest(path: string, algo: DigestAlgorithm, range?: { start: number; end: number }): Promise<{ hex: string; via: string } | null> {
    const names = HASH_NAMES[algo];
    // Already selected: HASH goes out before the first await, so a caller can pipeline after it.
    if (this.features.has("HASH") && (this.hashAlgo === names.hash || (await this.selectHash(names.hash)))) {
      if (range) {
        if (range.end <= range.start) return null;
        const rr = await this.command("RANG", formatRangeArg(range)); // END inclusive on the wire
        if (rr.code !== 350) return null;
      }
      const r = await this.command("HASH", path);
      if (r.code === 213) {
        // Only the last line carries the result: ProFTPD's mod_digest sends "213-Computing…" first.
        const res: HashResult = parseHashReply(r.lines[r.lines.length - 1]!);
        if (res.algorithm !== names.hash) return null;
        if (range && (res.start !== range.start || res.end !== range.end)) return null;
        return { hex: res.hex, via: "HASH" };
      }
      if (r.code === 550 || r.code === 450) throw replyError(`HASH ${path}`, r);
      return null;
    }
    if (range) return null; // legacy verbs have no portable range form
    if (this.legacyRefused.has(names.legacy)) return null;
    const listed = this.features.has(names.legacy);
    const r = await this.command(names.legacy, path);
    if (r.code === 213 || r.code === 250) return { hex: parseLegacyHashReply(r.lines[r.lines.length - 1]!), via: names.legacy };
    if (listed && (r.code === 550 || r.code === 450)) throw replyError(`${names.legacy} ${path}`, r);
    this.legacyRefused.add(names.legacy);
    return null;
  }

  private legacyRefused = new Set<string>();

  /** Can the server hash a byte range (for checking a partial file before resuming)? */
  canHashRange(): boolean {
    return this.features.has("HASH");
  }

  /** QUIT politely, then close (never throws). */
  async quit(): Promise<void> {
    try {
      if (!this.control.isClosed && !this.failure) {
        await this.send("QUIT");
        await this.read(2000);
      }
    } catch {
      /* closing anyway */
    }
    this.control.close();
  }

  /** Drop the control connection without QUIT. */
  destroy(): void {
    this.control.destroy();
  }
}

/** "550 No such file" → "No such file (550)". */
export function describe(r: FtpReply): string {
  return `${r.lines.map((l) => l.trim()).filter(Boolean).join(" ")} (${r.code})`;
}

/** A ClientError for an unexpected reply; 4yz replies are transient (worth a retry). */
export function replyError(what: string, r: FtpReply): ClientError {
  return new ClientError(`${what}: ${describe(r)}`, { code: r.code, retryable: r.code >= 400 && r.code < 500 });
}
