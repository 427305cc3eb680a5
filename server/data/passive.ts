import type { Socket, TCPSocketListener } from "bun";
import { canonicalIp } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import { anyContains, type Cidr } from "../../protocol/cidr.ts";
import { listenOnFreePort, type PortRange } from "../../protocol/ports.ts";
import { NO_PROXY_HEADER, parseProxyHeader } from "../../protocol/proxy.ts";
import { ClosedDuringSetup, DATA_HALF_OPEN, DataConnection, dataSocketHandlers, type DataPreface, type DataSocketState } from "./connection.ts";
import { relayThrough } from "./proxy-relay.ts";

/** Where the next transfer's bytes will flow: a passive listener or an active target. */
export interface DataEndpoint {
  /** Wait for (passive) or make (active) the data connection. */
  connect(): Promise<DataConnection>;
  close(): void;
  /**
   * MODE B: the transfer that took the connection completed and the session keeps it (kept.ts):
   * stop listening or connecting, and leave the connection open.
   */
  release(): void;
}

export interface PassiveOptions {
  bindHost: string;
  /** Inclusive port range from --pasv-ports; undefined = a free port of the kernel's ephemeral range. */
  portRange?: PortRange;
  /** Only this address may connect (the control connection's peer). */
  peerIp: string;
  acceptTimeoutMs: number;
  /** Turn an accepted socket into a DataConnection (FTPS wraps it in TLS here). */
  adopt?: (socket: Socket<DataSocketState>, peerIp: string) => DataConnection;
  onRejected?: (ip: string) => void;
  /**
   * --proxy-from: a connection from these addresses is a balancer forwarding the passive port, and
   * must start with a PROXY header naming the client (checked against `peerIp` instead of the balancer).
   */
  proxyFrom?: readonly Cidr[];
  /** How long the balancer's PROXY header may take. */
  proxyHeaderTimeoutMs?: number;
  /** Whether an accepted connection will be upgraded to TLS (PROT P). */
  upgrades?: () => boolean;
  /** A balancer's connection refused before its header was read whole (reason for the log). */
  onProxyRefused?: (ip: string, reason: string) => void;
}

/**
 * A connection from a client on the balancer's own address that sent nothing this long is its own
 * (a download), not the balancer's: the balancer writes its header as soon as it connects.
 */
const DIRECT_AFTER_MS = 500;
/** Then one more look at the socket, past a read of the event loop (timers run before reads). */
const LAST_LOOK_MS = 5;

/**
 * A listener for one passive transfer (PASV/EPSV). It accepts exactly one connection from the client's IP,
 * and owns that connection until the endpoint is closed: the transfer it was handed to closes the
 * endpoint when it ends; otherwise the next PASV/EPSV/PORT/EPRT, ABOR or the session's end does. A
 * connection no transfer used is cut then, plain or TLS (vsftpd likewise closes an unused data socket).
 */
export class PassiveEndpoint implements DataEndpoint {
  readonly port: number;
  private listener: TCPSocketListener<DataSocketState>;
  private accepted: DataConnection | null = null;
  private waiter: ((c: DataConnection) => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private failWaiter: ((err: Error) => void) | null = null;
  private closed = false;
  /** Why the connection can no longer come (it was reset before it could be seen). */
  private failure: FtpError | null = null;

  constructor(private readonly opts: PassiveOptions) {
    const handlers = dataSocketHandlers((socket) => {
      // A connection reset in the kernel's accept queue reaches us without a peer address (it is
      // gone by the time Bun hands it over; canonicalIp threw on it, and the transfer then waited
      // 30 s for a connection that had come and gone). Nothing can flow on it and its sender cannot
      // be checked: the client sent and reset at once (a broken upload), or a stranger raced it.
      // Either way the transfer ends now, as when the client resets an accepted one: under PROT P
      // before its TLS handshake (425, as a reset the server saw), else 426.
      if (!socket.remoteAddress) {
        if (!this.accepted && !this.closed) this.fail(this.opts.upgrades?.() ? new ClosedDuringSetup() : new FtpError(426, "Connection closed; transfer aborted"));
        return null;
      }
      const ip = canonicalIp(socket.remoteAddress);
      // From a balancer's address, yet not from the client itself (a client on the balancer's own
      // host connects directly, as before): the balancer forwarding the port, its header first.
      const forwarded = opts.proxyFrom && anyContains(opts.proxyFrom, ip);
      if (forwarded && !this.accepted && !this.closed) return this.awaitProxyHeader(socket, ip, ip === canonicalIp(opts.peerIp));
      return this.admit(socket, ip);
    });
    this.listener = listenInRange(opts.bindHost, opts.portRange, handlers);
    this.port = this.listener.port;
  }

  /** Hand `socket` (from `ip`, the client's real address) to the transfer, or refuse it (null). */
  private admit(socket: Socket<DataSocketState>, ip: string): DataConnection | null {
    // RFC 2577 / ftpserverlib: a data connection from another host is a theft attempt.
    if (ip !== canonicalIp(this.opts.peerIp) || this.accepted || this.closed) {
      this.opts.onRejected?.(ip);
      return null;
    }
    const conn = this.opts.adopt ? this.opts.adopt(socket, ip) : new DataConnection(socket, ip);
    this.accepted = conn;
    this.listener.stop(); // accepted sockets stay open
    this.waiter?.(conn);
    return conn;
  }

  /**
   * A balancer forwarding the passive port (HAProxy `send-proxy-v2` on a port range): the client
   * is the one its PROXY header names. Clients that connect to the address they reached the
   * control port on (EPSV always; curl and Python's ftplib for PASV too) reach the node only this way.
   */
  private awaitProxyHeader(socket: Socket<DataSocketState>, balancer: string, maybeDirect: boolean): DataPreface {
    let buf = new Uint8Array(0);
    let done = false;
    const refuse = (reason: string) => {
      done = true;
      clearTimeout(timer);
      clearTimeout(quiet);
      socket.data = { conn: null };
      this.opts.onProxyRefused?.(balancer, reason);
      socket.terminate();
    };
    const timer = setTimeout(() => refuse("no PROXY header"), this.opts.proxyHeaderTimeoutMs ?? 3000);
    /** The connection is `ip`'s, and `rest` its first bytes. */
    const take = (ip: string, rest: Uint8Array) => {
      done = true;
      clearTimeout(timer);
      clearTimeout(quiet);
      // Under PROT P what follows the header is the client's ClientHello, read past the point where
      // the TLS layer could take it: the transfer gets a loopback connection carrying it instead.
      if (rest.length && this.opts.upgrades?.() && ip === canonicalIp(this.opts.peerIp) && !this.accepted && !this.closed) {
        return void (socket.data = { conn: null, preface: this.relay(socket, rest, ip) });
      }
      socket.data = { conn: null };
      const conn = this.admit(socket, ip);
      socket.data = { conn };
      if (!conn) return void socket.terminate();
      if (rest.length) conn.handleData(Buffer.from(rest));
    };
    // The client is on the balancer's own address: it may come through the balancer (its header
    // first, at once) or straight to this port (its own bytes first, or none: a download). Taking
    // every such connection as direct stored the balancer's header at the start of the upload.
    // The decision waits one more turn of the event loop: after a stall (a GC pause, a loaded host)
    // its timers run before the read of what is already waiting in the socket, and a balancer's header
    // sent in time was taken as the client's first bytes of an upload.
    const quietEnd = () => !done && buf.length === 0 && (this.closed ? drop() : take(balancer, buf));
    let quiet = maybeDirect ? setTimeout(() => (quiet = setTimeout(quietEnd, LAST_LOOK_MS)), DIRECT_AFTER_MS) : undefined;
    /** This endpoint closed (ABOR, the accept timeout) while the connection was still undecided. */
    const drop = () => {
      done = true;
      clearTimeout(timer);
      clearTimeout(quiet);
      socket.terminate();
    };
    return {
      data: (chunk) => {
        if (done) return;
        const joined = new Uint8Array(buf.length + chunk.length);
        joined.set(buf);
        joined.set(chunk, buf.length);
        buf = joined;
        const parsed = parseProxyHeader(buf);
        if (parsed.status === "incomplete") return;
        if (parsed.status === "invalid") return maybeDirect && parsed.reason === NO_PROXY_HEADER ? take(balancer, buf) : refuse(parsed.reason);
        const { header } = parsed;
        take(header.local || !header.source ? balancer : canonicalIp(header.source.ip), buf.subarray(parsed.length));
      },
      closed: () => {
        if (done) return;
        // The client's own connection, ended before anything that looked like a header (an empty
        // upload); not one cut by this endpoint's own close (ABOR, the accept timeout): no one to tell.
        if (maybeDirect && this.closed) return drop();
        if (maybeDirect && !(buf.length && this.opts.upgrades?.())) return take(balancer, buf);
        refuse("closed before its PROXY header");
      },
    };
  }

  /** See proxy-relay.ts: `outer`'s bytes from `early` on reach the transfer through a loopback connection. */
  private relay(outer: Socket<DataSocketState>, early: Uint8Array, ip: string): DataPreface {
    let expectPort = 0;
    let waiting: Socket<DataSocketState> | null = null;
    const take = (s: Socket<DataSocketState>) => {
      inner.stop();
      const conn = this.admit(s, ip);
      s.data = { conn };
      if (!conn) s.terminate();
    };
    const inner = Bun.listen<DataSocketState>({
      hostname: "127.0.0.1",
      port: 0,
      allowHalfOpen: DATA_HALF_OPEN,
      socket: dataSocketHandlers((s) => {
        // Ours only: the connection from the relay's own port (known once its connect returns).
        if (expectPort === 0 && !waiting) {
          waiting = s;
          return { data() {}, closed() {} };
        }
        if ((s as unknown as { remotePort: number }).remotePort !== expectPort) return null;
        queueMicrotask(() => take(s));
        return { data() {}, closed() {} };
      }),
    });
    this.relayListener = inner;
    return relayThrough(outer as Socket<unknown>, early, inner as TCPSocketListener<unknown>, () => inner.stop(true), (localPort) => {
      expectPort = localPort;
      const w = waiting as Socket<DataSocketState> | null;
      if (!w) return;
      if ((w as unknown as { remotePort: number }).remotePort === localPort) take(w);
      else w.terminate();
    });
  }

  private relayListener: TCPSocketListener<DataSocketState> | null = null;

  connect(): Promise<DataConnection> {
    if (this.accepted) return Promise.resolve(this.accepted);
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new FtpError(425, "Can't open data connection"));
    return new Promise((resolve, reject) => {
      this.timer = setTimeout(() => {
        this.close();
        reject(new FtpError(425, "Can't open data connection: no connection from client"));
      }, this.opts.acceptTimeoutMs);
      this.failWaiter = reject;
      this.waiter = (c) => {
        this.clearWait();
        resolve(c);
      };
    });
  }

  private clearWait(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.waiter = null;
    this.failWaiter = null;
  }

  /**
   * Stop listening and cut the accepted connection, if any (after a transfer's clean finish it is
   * already closed); a transfer still waiting for its connection fails now, not at the accept timeout.
   */
  close(): void {
    this.fail(new FtpError(425, "Can't open data connection"));
    // Not left to listener.stop(true): it does not reach the socket that upgradeTLS made for PROT P,
    // and that socket's handshake timer ends with its handshake, so nothing else would ever close it
    // (measured: 100 EPSV + TLS handshakes pinned 100 descriptors for as long as the client wished).
    this.accepted?.abort();
  }

  release(): void {
    this.fail(new FtpError(425, "Can't open data connection"), false);
  }

  /** Stop listening, and fail the wait for the connection (now, or when it begins) with `err`. */
  private fail(err: FtpError, cut = true): void {
    if (this.closed) return;
    this.closed = true;
    this.failure ??= err;
    const fail = this.failWaiter;
    this.clearWait();
    fail?.(err);
    try {
      // A relayed connection (see relay) ends with its transfer's side, after what that side sent has
      // reached the client (the TLS close_notify): stop(true) would cut it at once.
      this.listener.stop(cut && !this.relayListener);
      this.relayListener?.stop(cut);
    } catch {}
  }
}

/** Every port of --pasv-ports is in use (the client gets 425; the admin's log is told: passive-shared.ts). */
export class PassiveRangeFull extends FtpError {
  constructor() {
    super(425, "Can't open passive connection: no free port in the passive range");
  }
}

function listenInRange(
  hostname: string,
  range: PortRange | undefined,
  socket: ReturnType<typeof dataSocketHandlers>,
): TCPSocketListener<DataSocketState> {
  const listener = listenOnFreePort((port) => Bun.listen<DataSocketState>({ hostname, port, socket, allowHalfOpen: DATA_HALF_OPEN }), range);
  if (!listener) throw new PassiveRangeFull();
  return listener;
}
