import type { Socket, SocketHandler } from "bun";
import net from "node:net";
import type { HostPort } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import { DATA_HALF_OPEN, DataConnection, dataSocketHandlers, type DataSocketState } from "./connection.ts";
import type { DataEndpoint } from "./passive.ts";

/**
 * The one active-mode connect a session may have in flight (vsftpd makes one, bounded by its
 * connect_timeout). A connect the peer never answers (its SYNs dropped, a full accept queue) stays in
 * SYN-SENT until the kernel gives up, about 2 minutes. `Bun.connect` cannot cancel one (it hands out
 * the socket only at `open`), so connects go through node:net, whose `destroy()` closes a pending
 * connect's descriptor at once (measured on Bun 1.4.5: the SYN-SENT socket and its descriptor gone
 * the moment it is called); the connected socket is then taken over with the usual Bun handlers
 * (`reload`). A connect is still counted here until it settles or is cancelled, and no new one starts
 * before that: since connects are cancelled on timeout, ABOR and the session's end, that is at once.
 */
/** The Bun socket under a node:net socket (`_handle`): re-handled once connected. */
type AdoptableSocket = Socket<DataSocketState> & { reload(options: { socket: SocketHandler<DataSocketState> }): void };
/** False once a node:net socket came without an adoptable Bun socket (another Bun): Bun.connect then. */
let adoptable = true;

export class ActiveConnector {
  private inFlight: Promise<void> | null = null;

  /** A connect is in flight (maybe abandoned by its transfer, still holding a descriptor). */
  get busy(): boolean {
    return this.inFlight !== null;
  }

  /** Resolves once no connect is in flight. */
  async whenIdle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** Count `attempt` (settled when the connect completed, failed or was cancelled) as in flight until then. */
  track(attempt: Promise<unknown>): void {
    const p: Promise<void> = attempt.then(
      () => {},
      () => {},
    );
    this.inFlight = p;
    void p.then(() => {
      if (this.inFlight === p) this.inFlight = null;
    });
  }
}

/**
 * An active-mode target (PORT/EPRT): the server connects to the client when a transfer starts. The
 * endpoint owns its connect from start to hand-over: on timeout, close() (ABOR, a new PORT/EPRT/PASV,
 * the transfer's end, the session's end) the wait fails at once, and a socket that opens afterwards
 * is terminated in its `open` handler, never adopted.
 */
export class ActiveEndpoint implements DataEndpoint {
  private conn: DataConnection | null = null;
  private closed = false;
  /** Ends a connect still in progress (timeout, or close() by the transfer that owns this endpoint). */
  private giveUp: (() => void) | null = null;

  constructor(
    private readonly target: HostPort,
    private readonly opts: {
      connectTimeoutMs: number;
      /** The session's connector: at most one connect in flight per session. */
      connector: ActiveConnector;
      adopt?: (socket: Socket<DataSocketState>, peerIp: string) => DataConnection;
    },
  ) {}

  connect(): Promise<DataConnection> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const fail = () => {
        clearTimeout(timer);
        this.giveUp = null;
        if (settled) return;
        settled = true;
        reject(new FtpError(425, "Can't open data connection"));
      };
      if (this.closed) return fail();
      // The deadline covers the wait for an earlier connect of this session too.
      const deadline = performance.now() + this.opts.connectTimeoutMs;
      timer = setTimeout(fail, this.opts.connectTimeoutMs);
      this.giveUp = fail;
      const { connector } = this.opts;
      const start = () => {
        if (settled) return;
        if (connector.busy) return void connector.whenIdle().then(start);
        const handlers = dataSocketHandlers((socket) => {
          // Too late (timed out, or the transfer ended meanwhile): terminated now that it exists.
          if (settled || this.closed) return null;
          clearTimeout(timer);
          this.giveUp = null;
          const conn = this.opts.adopt ? this.opts.adopt(socket, this.target.host) : new DataConnection(socket, this.target.host);
          this.conn = conn;
          settled = true;
          resolve(conn);
          return conn;
        });
        if (!adoptable) return bunConnect(handlers);
        const pending = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: DATA_HALF_OPEN }) as net.Socket & { _handle?: AdoptableSocket };
        let settle!: () => void;
        connector.track(new Promise<void>((r) => (settle = r)));
        const cancel = () => {
          pending.destroy(); // a connect in progress: its descriptor is closed now, not when the kernel gives up
          settle();
        };
        // The deadline, close() (ABOR, a new PORT/EPRT/PASV, the transfer's or the session's end) end it.
        this.giveUp = () => {
          cancel();
          fail();
        };
        clearTimeout(timer);
        timer = setTimeout(() => this.giveUp?.(), Math.max(0, deadline - performance.now()));
        pending.on("error", () => {
          settle();
          fail();
        });
        pending.once("connect", () => {
          const socket = pending._handle;
          if (!socket || typeof socket.reload !== "function") {
            // A Bun whose node:net no longer exposes its socket: connect as before (not cancellable)
            // from now on, rather than refuse every active transfer.
            adoptable = false;
            cancel();
            if (!settled && !this.closed) bunConnect(handlers);
            return;
          }
          settle();
          if (settled || this.closed) return cancel();
          // From here on the socket is Bun's, as one from Bun.connect: node's wrapper gets no more events.
          socket.reload({ socket: handlers });
          socket.data = undefined as unknown as DataSocketState;
          handlers.open!(socket);
        });
      };
      /** Bun.connect, when node:net's socket cannot be adopted: its connect cannot be cancelled, only outlived. */
      const bunConnect = (handlers: SocketHandler<DataSocketState>) => {
        this.giveUp = fail;
        const onFail = handlers.connectError;
        handlers.connectError = (socket, err) => {
          onFail?.(socket, err);
          fail();
        };
        const attempt = Bun.connect<DataSocketState>({ hostname: this.target.host, port: this.target.port, allowHalfOpen: DATA_HALF_OPEN, socket: handlers });
        connector.track(attempt);
        attempt.catch(fail);
      };
      start();
    });
  }

  close(): void {
    this.release();
    this.conn?.close();
  }

  release(): void {
    this.closed = true;
    this.giveUp?.();
  }
}
