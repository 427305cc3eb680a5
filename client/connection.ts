// The client's sockets (control and data; active-listener.ts accepts the active ones). TLS (RFC 4217)
// is an upgrade of a plain socket in place, so explicit (AUTH TLS), implicit (ftps://) and data
// connections (passive or active: the FTP client is always the TLS client) share one code path;
// whom to trust is tls-trust.ts; when a data connection starts TLS is data-channel.ts's call.
import type { Socket, SocketHandler } from "bun";
import { existsSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { canonicalIp, zoneOf } from "../protocol/address.ts";
import type { RecordTail } from "../protocol/tls-record-tail.ts";
import { ClientError, ConnectFailure } from "./errors.ts";
import type { TlsSettings } from "./tls-trust.ts";

export type { TlsSettings } from "./tls-trust.ts";

/** How long connect() waits for the connection when not told. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;

export interface ConnectOptions {
  host: string;
  port: number;
  /** Give up connecting after this many milliseconds. */
  timeoutMs?: number;
  /** What the socket is for, used in error messages ("control connection", "data connection"). */
  purpose?: string;
  /** Start TLS at once (implicit FTPS); see `Connection.ready`. Data connections start it later themselves. */
  tls?: TlsSettings;
}

export interface StartTlsOptions {
  /** A TLS session to resume (the control connection's), so servers that require reuse accept us. */
  session?: Buffer | null;
  /** A data connection: its failures say so and are retryable (describeDataTlsError). */
  data?: boolean;
}

interface Pending {
  data: Uint8Array;
  off: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * A TCP connection with the Bun socket traps handled: `write()` resolves only when every byte was
 * accepted by the kernel (the unsent tail is kept and continued on `drain`, under a single-flight
 * flag), bytes that arrive before a reader is attached are kept, and `closed` settles once.
 */
export class Connection {
  private socket: Socket<unknown> | null = null;
  private pending: Pending[] = [];
  private flushing = false;
  private early: Buffer[] = [];
  private reader: ((chunk: Buffer) => void) | null = null;
  private closedResolve!: () => void;
  private paused = false;
  /** Set once upgradeTLS ran: the plain socket's handlers still see ciphertext (BUN-NOTES) and must not deliver it. */
  tlsActive = false;
  /** After upgradeTLS: the framing of the ciphertext the peer sent, which tells how it ended (closeNotify). */
  private tail: RecordTail | null = null;
  /** Resolves when the connection is usable: at once for plain TCP, after the handshake for TLS. */
  ready: Promise<void> = Promise.resolve();
  isClosed = false;
  error: Error | null = null;
  /** performance.now() of the last byte received or accepted by the kernel (stall detection). */
  protected activityAt = performance.now();
  get lastActivity(): number {
    return this.activityAt;
  }
  set lastActivity(at: number) {
    this.activityAt = at;
  }
  /** performance.now() of the last byte the kernel accepted from us (a MODE B upload's progress). */
  lastSent = performance.now();
  /** Settles when the peer closed the connection or it failed (never rejects; see `error`). */
  readonly closed: Promise<void>;

  constructor() {
    this.closed = new Promise((r) => (this.closedResolve = r));
  }

  /** Used by connect/listen: bind a Bun socket to this object. */
  attach(socket: Socket<unknown>): void {
    this.socket = socket;
  }

  /**
   * Switch this connection to TLS in place (after 234 to AUTH TLS, at once for implicit FTPS, after
   * the transfer command's 1yz for PROT P data). `opts.session` resumes the control connection's
   * session. Sets and returns `ready`, which rejects with one clear ClientError when the handshake or
   * the certificate check fails.
   */
  startTls(settings: TlsSettings, opts: StartTlsOptions = {}): Promise<void> {
    // Loaded here: a plain connection (most of them) never needs the TLS modules, ~0.5 ms of each start.
    const { describeDataTlsError, describeTlsError, isVerifyError, tlsOptions } = require("./tls-trust.ts") as typeof import("./tls-trust.ts");
    const { RecordTail } = require("../protocol/tls-record-tail.ts") as typeof import("../protocol/tls-record-tail.ts");
    const { session, data } = opts;
    const failure = (err: Error | null | undefined) => (data ? describeDataTlsError(err, settings) : describeTlsError(err, settings));
    const socket = this.socket as unknown as { upgradeTLS(o: unknown): [Socket<unknown>, Socket<unknown>] };
    let settle!: { resolve: () => void; reject: (e: Error) => void };
    this.ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.ready.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
    const conn = this;
    let done = false;
    const handlers: SocketHandler<Connection> = {
      open(tls) {
        // Offer the control session before the ClientHello goes out.
        if (session) (tls as unknown as { setSession(b: Buffer): void }).setSession(session);
      },
      handshake(tls, success, error) {
        if (done) return;
        done = true;
        // Under --insecure a certificate that fails verification (e.g. a CN-only self-signed one, which
        // Bun reports as an unsuccessful handshake even with rejectUnauthorized off) is accepted.
        if (success || (settings.insecure && isVerifyError(error) && !conn.isClosed)) {
          // Read it now: once the socket is closed the answer is gone.
          try {
            conn.sessionReused = (tls as unknown as { isSessionReused(): boolean }).isSessionReused();
            conn.negotiated = (tls as unknown as { getTLSVersion(): string }).getTLSVersion() || null;
          } catch {
            /* not available */
          }
          return settle.resolve();
        }
        const err = failure(error);
        conn.markClosed(err);
        conn.destroy();
        settle.reject(err);
      },
      data(_tls, chunk) {
        conn.received(chunk);
      },
      drain() {
        conn.flush();
      },
      end() {
        conn.markClosed(null);
      },
      close(_tls, err) {
        conn.markClosed(err ?? null);
        if (!done) {
          done = true;
          // A data connection reset during its handshake (pyftpdlib's answer to a ClientHello sent too
          // early) is a TLS failure in one line, not a bare ECONNRESET.
          if (data) settle.reject(failure(conn.error));
          else settle.reject(conn.error ?? new ClientError(`TLS: ${settings.host} closed the connection during the handshake`, { kind: "tls" }));
        }
      },
      error(_tls, err) {
        conn.markClosed(err);
        if (!done) {
          done = true;
          settle.reject(failure(err));
        }
      },
    };
    // A data connection the server closed before its 1yz came (nothing to upgrade any more).
    if (this.isClosed) {
      settle.reject(failure(this.error));
      return this.ready;
    }
    this.tlsActive = true;
    this.tail = new RecordTail();
    const [, tls] = socket.upgradeTLS({ isServer: false, tls: tlsOptions(settings), socket: handlers, data: this });
    this.socket = tls;
    return this.ready;
  }

  /** The TLS session to offer on data connections (a Buffer at run time, typed void: BUN-NOTES). */
  tlsSession(): Buffer | null {
    if (!this.tlsActive || !this.socket) return null;
    try {
      const s = (this.socket as unknown as { getSession(): unknown }).getSession();
      return s instanceof Uint8Array && s.length > 0 ? Buffer.from(s) : null;
    } catch {
      return null;
    }
  }

  /** Ciphertext the plain socket saw after the upgrade: only its framing is read (closeNotify). */
  sawCiphertext(chunk: Buffer): void {
    this.tail?.push(chunk);
  }

  /**
   * After a TLS connection ended: did the peer end it with a close_notify (true), or with a bare TCP
   * FIN, which anyone on the path can forge to cut a download short (false)? Bun reports both as
   * `end`; the record framing of the ciphertext tells them apart (protocol/tls-record-tail.ts). Null
   * for a plain connection. Ciphertext that cannot be followed counts as a close_notify, as on the server.
   */
  get closeNotify(): boolean | null {
    return this.tail ? this.tail.endedWithAlert : null;
  }

  /** TLS only, after the handshake: did this connection resume the session it offered? */
  sessionReused: boolean | null = null;
  /** TLS only, after the handshake: the negotiated protocol version ("TLSv1.3"). */
  negotiated: string | null = null;

  get localAddress(): string {
    return canonicalIp((this.socket as unknown as { localAddress?: string })?.localAddress ?? "127.0.0.1");
  }

  get remoteAddress(): string {
    return canonicalIp(this.socket?.remoteAddress ?? "");
  }

  /** Receive every chunk (including those that arrived before this call) in order. */
  onData(reader: (chunk: Buffer) => void): void {
    this.reader = reader;
    const early = this.early;
    this.early = [];
    for (const chunk of early) reader(chunk);
  }

  /** Read backpressure: stop/continue receiving. */
  pause(): void {
    if (!this.paused && this.socket && !this.isClosed) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resume(): void {
    if (this.paused && this.socket && !this.isClosed) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Write all of `data`; resolves once the kernel accepted the last byte. */
  write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    if (this.isClosed) return Promise.reject(this.error ?? closedError("connection closed"));
    return new Promise((resolve, reject) => {
      this.pending.push({ data: bytes, off: 0, resolve, reject });
      this.flush();
    });
  }

  /** Continue writing queued bytes; called on write and on (possibly spurious) drain. */
  flush(): void {
    if (this.flushing || !this.socket) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const p = this.pending[0]!;
        const left = p.data.length - p.off;
        if (left === 0) {
          this.pending.shift();
          p.resolve();
          continue;
        }
        const n = this.socket.write(p.data, p.off, left);
        if (n < 0) {
          this.failPending(this.error ?? closedError("connection closed while sending"));
          break;
        }
        if (n > 0) this.activityAt = this.lastSent = performance.now();
        p.off += n;
        if (p.off < p.data.length) break; // the kernel is full: wait for drain
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Half-close after everything was sent: delivers all data, unlike end() (see BUN-NOTES). */
  shutdown(): void {
    try {
      this.socket?.shutdown();
    } catch {
      /* already closed */
    }
  }

  close(): void {
    if (!this.socket) return;
    try {
      this.socket.end();
    } catch {
      /* ignore */
    }
    this.markClosed(null);
  }

  /** Hard close (no FIN handshake): used when abandoning a transfer. */
  destroy(): void {
    try {
      this.socket?.terminate();
    } catch {
      /* ignore */
    }
    this.markClosed(null);
  }

  received(chunk: Buffer): void {
    this.activityAt = performance.now();
    if (this.reader) this.reader(chunk);
    else this.early.push(chunk);
  }

  markClosed(err: Error | null): void {
    if (err && !this.error) this.error = err;
    if (this.isClosed) return;
    this.isClosed = true;
    // An Error costs a stack capture: made only when a write is waiting (a tree job closes a data
    // connection per file, with none).
    if (this.pending.length > 0) this.failPending(this.error ?? closedError("connection closed"));
    this.closedResolve();
  }

  private failPending(err: Error): void {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.reject(err);
  }
}

/**
 * A write the peer's close cut off: the network's failure, worth reconnecting for. (Not retryable,
 * an upload the server dropped between two writes was given up and its record deleted.)
 */
function closedError(message: string): ClientError {
  return new ClientError(message, { kind: "network", retryable: true });
}

// Plain-socket handlers. After an upgrade they keep firing with ciphertext: its framing is followed
// (closeNotify), nothing else of it is used; the TLS handlers (in startTls) take over.
export const plainHandlers = {
  data(socket: Socket<Connection>, chunk: Buffer) {
    if (!socket.data.tlsActive) socket.data.received(chunk);
    else socket.data.sawCiphertext(chunk);
  },
  drain(socket: Socket<Connection>) {
    if (!socket.data.tlsActive) socket.data.flush();
  },
  close(socket: Socket<Connection>, err?: Error) {
    if (!socket.data.tlsActive) socket.data.markClosed(err ?? null);
  },
  error(socket: Socket<Connection>, err: Error) {
    if (!socket.data.tlsActive) socket.data.markClosed(err);
  },
  end(socket: Socket<Connection>) {
    if (!socket.data.tlsActive) socket.data.markClosed(null);
  },
};

function describeConnectError(err: unknown, host: string, port: number, purpose: string): ConnectFailure {
  const code = (err as { code?: string })?.code ?? "";
  const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (code === "ECONNREFUSED") return new ConnectFailure(`cannot open ${purpose} to ${where}: connection refused`, "refused");
  if (code === "ENOTFOUND" || code === "EAI_NONAME" || code === "EAI_AGAIN" || /getaddrinfo|DNS|resolve/i.test(String(err)))
    return new ConnectFailure(`cannot open ${purpose}: unknown host "${host}"`, "unknown host");
  if (code === "ETIMEDOUT") return new ConnectFailure(`cannot open ${purpose} to ${where}: timed out`, "timed out");
  // A link-local address whose zone names no interface here: connect() only says EINVAL.
  const zone = zoneOf(host);
  if (code === "EINVAL" && zone !== null && !interfaceExists(zone))
    return new ConnectFailure(`cannot open ${purpose} to ${where}: no network interface ${zone} (the URL's zone id, after %25)`, "no interface");
  // One without a zone: the kernel cannot tell which interface it is on, and connect() says EINVAL too.
  if (code === "EINVAL" && zone === null && /^fe[89ab][0-9a-f]:/i.test(host))
    return new ConnectFailure(`cannot open ${purpose} to ${where}: a link-local address needs its interface (%25IFACE, e.g. [fe80::1%25eth0])`, "no interface");
  const msg = (err as Error)?.message ?? String(err);
  const reason = code === "ECONNRESET" || code === "ECONNABORTED" || code === "EPIPE" ? "reset" : "other";
  return new ConnectFailure(`cannot open ${purpose} to ${where}: ${msg}${code && !msg.includes(code) ? ` (${code})` : ""}`, reason);
}

/** Whether this machine has a network interface of that name (a number, an index, is not judged). */
function interfaceExists(name: string): boolean {
  if (/^\d+$/.test(name) || name === "." || name === "..") return true;
  return Object.hasOwn(networkInterfaces(), name) || existsSync(`/sys/class/net/${name}`);
}

/**
 * Open a TCP connection; with `tls`, start the handshake at once (implicit FTPS; the caller awaits
 * `ready`). Data connections connect plain and call `startTls` when the server is ready for it.
 */
export async function connect(opts: ConnectOptions): Promise<Connection> {
  const conn = new Connection();
  const purpose = opts.purpose ?? "connection";
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const socket = await Promise.race([
      Bun.connect<Connection>({ hostname: opts.host, port: opts.port, data: conn, socket: plainHandlers }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })), timeoutMs);
      }),
    ]);
    conn.attach(socket as unknown as Socket<unknown>);
    if (opts.tls) void conn.startTls(opts.tls);
    return conn;
  } catch (err) {
    throw describeConnectError(err, opts.host, opts.port, purpose);
  } finally {
    clearTimeout(timer);
  }
}
