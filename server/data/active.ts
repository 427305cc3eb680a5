import type { Socket } from "bun";
import type { HostPort } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import { DataConnection, dataSocketHandlers, type DataSocketState } from "./connection.ts";
import type { DataEndpoint } from "./passive.ts";

/**
 * The one active-mode connect a session may have in flight (vsftpd makes one, bounded by its
 * connect_timeout). Bun cannot cancel a `Bun.connect` in flight: it hands out the socket only at
 * `open`, and the descriptor of a connect the peer never answers (its SYNs dropped, a full accept
 * queue) stays in SYN-SENT until the kernel gives up, about 2 minutes. Measured: 300 PORT + LIST +
 * ABOR rounds in 0.3 s left 300 such descriptors. So an abandoned connect is still counted here until
 * it settles, no new one starts before that, and the session's slot is held until then (endSession).
 */
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

  /** Count `attempt` (a Bun.connect promise) as in flight until it settles either way. */
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
        const onFail = handlers.connectError;
        handlers.connectError = (socket, err) => {
          onFail?.(socket, err);
          fail();
        };
        const attempt = Bun.connect<DataSocketState>({ hostname: this.target.host, port: this.target.port, socket: handlers });
        connector.track(attempt);
        attempt.catch(fail);
      };
      start();
    });
  }

  close(): void {
    this.closed = true;
    this.giveUp?.();
    this.conn?.close();
  }
}
