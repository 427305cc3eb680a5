// The one place where the client opens sockets (control and data, passive and active), so TLS can
// be added later as an option of `connect()` and `listenForData()` without touching the protocol code.
import type { Socket, TCPSocketListener } from "bun";
import { canonicalIp } from "../protocol/address.ts";
import { ClientError } from "./errors.ts";

export interface ConnectOptions {
  host: string;
  port: number;
  /** Give up connecting after this many milliseconds. */
  timeoutMs?: number;
  /** What the socket is for, used in error messages ("control connection", "data connection"). */
  purpose?: string;
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
  isClosed = false;
  error: Error | null = null;
  /** Settles when the peer closed the connection or it failed (never rejects; see `error`). */
  readonly closed: Promise<void>;

  constructor() {
    this.closed = new Promise((r) => (this.closedResolve = r));
  }

  /** Used by connect/listen: bind a Bun socket to this object. */
  attach(socket: Socket<unknown>): void {
    this.socket = socket;
  }

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
    if (this.isClosed) return Promise.reject(this.error ?? new ClientError("connection closed"));
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
          this.failPending(this.error ?? new ClientError("connection closed while sending"));
          break;
        }
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
    if (this.reader) this.reader(chunk);
    else this.early.push(chunk);
  }

  markClosed(err: Error | null): void {
    if (err && !this.error) this.error = err;
    if (this.isClosed) return;
    this.isClosed = true;
    this.failPending(this.error ?? new ClientError("connection closed"));
    this.closedResolve();
  }

  private failPending(err: Error): void {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.reject(err);
  }
}

const handlers = {
  data(socket: Socket<Connection>, chunk: Buffer) {
    socket.data.received(chunk);
  },
  drain(socket: Socket<Connection>) {
    socket.data.flush();
  },
  close(socket: Socket<Connection>, err?: Error) {
    socket.data.markClosed(err ?? null);
  },
  error(socket: Socket<Connection>, err: Error) {
    socket.data.markClosed(err);
  },
  end(socket: Socket<Connection>) {
    socket.data.markClosed(null);
  },
};

function describeConnectError(err: unknown, host: string, port: number, purpose: string): ClientError {
  const code = (err as { code?: string })?.code ?? "";
  const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (code === "ECONNREFUSED") return new ClientError(`cannot open ${purpose} to ${where}: connection refused`);
  if (code === "ENOTFOUND" || code === "EAI_NONAME" || code === "EAI_AGAIN" || /getaddrinfo|DNS|resolve/i.test(String(err)))
    return new ClientError(`cannot open ${purpose}: unknown host "${host}"`);
  if (code === "ETIMEDOUT") return new ClientError(`cannot open ${purpose} to ${where}: timed out`);
  const msg = (err as Error)?.message ?? String(err);
  return new ClientError(`cannot open ${purpose} to ${where}: ${msg}${code && !msg.includes(code) ? ` (${code})` : ""}`);
}

/** Open a TCP connection. (TLS hook: a future `tls` option upgrades here, for control and data alike.) */
export async function connect(opts: ConnectOptions): Promise<Connection> {
  const conn = new Connection();
  const purpose = opts.purpose ?? "connection";
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const socket = await Promise.race([
      Bun.connect<Connection>({ hostname: opts.host, port: opts.port, data: conn, socket: handlers }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })), timeoutMs);
      }),
    ]);
    conn.attach(socket as unknown as Socket<unknown>);
    return conn;
  } catch (err) {
    throw describeConnectError(err, opts.host, opts.port, purpose);
  } finally {
    clearTimeout(timer);
  }
}

/** A listening socket for one active-mode (PORT/EPRT) data connection. */
export interface DataListener {
  host: string;
  port: number;
  /** Resolves with the first connection the server makes. */
  accept(timeoutMs?: number): Promise<Connection>;
  close(): void;
}

/** Listen on `host` (the control connection's local address), port 0, for active mode. */
export function listenForData(host: string): DataListener {
  let resolveConn!: (c: Connection) => void;
  const accepted = new Promise<Connection>((r) => (resolveConn = r));
  let got = false;
  let server: TCPSocketListener<Connection>;
  try {
    server = Bun.listen<Connection>({
      hostname: host,
      port: 0,
      socket: {
        ...handlers,
        open(socket) {
          const conn = new Connection();
          socket.data = conn;
          conn.attach(socket as unknown as Socket<unknown>);
          if (got) {
            socket.terminate();
            return;
          }
          got = true;
          resolveConn(conn);
        },
      },
    });
  } catch (err) {
    throw new ClientError(`cannot listen for an active data connection on ${host}: ${(err as Error).message}`);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let rejectWait: ((e: Error) => void) | null = null;
  const close = () => {
    clearTimeout(timer);
    server.stop(false);
    rejectWait?.(new ClientError("active data connection abandoned"));
  };
  return {
    host,
    port: server.port,
    accept(timeoutMs = 15_000) {
      const waiting = Promise.race([
        accepted,
        new Promise<never>((_, reject) => {
          rejectWait = reject;
          timer = setTimeout(() => reject(new ClientError("the server did not open the active data connection")), timeoutMs);
        }),
      ]).finally(() => {
        clearTimeout(timer);
        server.stop(false);
      });
      waiting.catch(() => {}); // the caller may race this against the reply and stop listening
      return waiting;
    },
    close,
  };
}
