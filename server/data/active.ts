import type { Socket } from "bun";
import type { HostPort } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import { DataConnection, dataSocketHandlers, type DataSocketState } from "./connection.ts";
import type { DataEndpoint } from "./passive.ts";

/** An active-mode target (PORT/EPRT): the server connects to the client when a transfer starts. */
export class ActiveEndpoint implements DataEndpoint {
  private conn: DataConnection | null = null;

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
      const fail = () => {
        if (settled) return;
        settled = true;
        reject(new FtpError(425, "Can't open data connection"));
      };
      const timer = setTimeout(fail, this.opts.connectTimeoutMs);
      const handlers = dataSocketHandlers((socket) => {
        const conn = this.opts.adopt ? this.opts.adopt(socket, this.target.host) : new DataConnection(socket, this.target.host);
        this.conn = conn;
        clearTimeout(timer);
        if (settled) return null;
        settled = true;
        resolve(conn);
        return conn;
      });
      const onFail = handlers.connectError;
      handlers.connectError = (socket, err) => {
        onFail?.(socket, err);
        clearTimeout(timer);
        fail();
      };
      Bun.connect<DataSocketState>({ hostname: this.target.host, port: this.target.port, socket: handlers }).catch(() => {
        clearTimeout(timer);
        fail();
      });
    });
  }

  close(): void {
    this.conn?.close();
  }
}
