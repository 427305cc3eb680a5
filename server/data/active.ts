import type { Socket } from "bun";
import type { HostPort } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import { DataConnection, dataSocketHandlers, type DataSocketState } from "./connection.ts";
import type { DataEndpoint } from "./passive.ts";

/** An active-mode target (PORT/EPRT): the server connects to the client when a transfer starts. */
export class ActiveEndpoint implements DataEndpoint {
  private conn: DataConnection | null = null;
  private closed = false;
  /** Ends a connect still in progress (timeout, or close() by the transfer that owns this endpoint). */
  private giveUp: (() => void) | null = null;

  constructor(
    private readonly target: HostPort,
    private readonly opts: {
      connectTimeoutMs: number;
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
      timer = setTimeout(fail, this.opts.connectTimeoutMs);
      this.giveUp = fail;
      const handlers = dataSocketHandlers((socket) => {
        // Too late (timed out, or the transfer ended meanwhile): the socket is dropped, never adopted.
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
      Bun.connect<DataSocketState>({ hostname: this.target.host, port: this.target.port, socket: handlers }).catch(fail);
    });
  }

  close(): void {
    this.closed = true;
    this.giveUp?.();
    this.conn?.close();
  }
}
