// MODE B (RFC 959 §3.4.2): a data connection kept open after its transfer ended with an EOF block.
import { FtpError } from "../../protocol/errors.ts";
import type { DataConnection } from "./connection.ts";
import type { DataEndpoint } from "./passive.ts";

/**
 * The session's data endpoint between MODE B transfers: the connection the last transfer completed
 * on, parked (what the client sends meanwhile is held, bounded; no stall timer runs on it). The
 * session's slot owns it until the next transfer takes it (then that transfer does, as any endpoint
 * it takes) or it is closed: a new PASV/EPSV/PORT/EPRT, MODE S, ABOR, QUIT, the session's end.
 */
export class KeptEndpoint implements DataEndpoint {
  constructor(readonly conn: DataConnection) {
    conn.park();
  }

  /** The client closed it meanwhile (or reset it): no transfer can run on it. */
  get gone(): boolean {
    return this.conn.closed || this.conn.peerEnded;
  }

  connect(): Promise<DataConnection> {
    if (this.gone) {
      this.conn.abort();
      return Promise.reject(new FtpError(425, "Can't open data connection: the kept MODE B connection was closed; use PASV or EPSV"));
    }
    this.conn.unpark();
    return Promise.resolve(this.conn);
  }

  close(): void {
    this.conn.close();
  }

  release(): void {}
}
