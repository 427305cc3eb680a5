// PROT P data channels (RFC 4217 §9): the accepted plain socket is upgraded in place, so clients can reuse the control session.
import type { Socket, SocketHandler } from "bun";
import { FtpError } from "../../protocol/errors.ts";
import { ClientTlsFailed, ClosedDuringSetup, DataConnection, type DataSocketState } from "../data/connection.ts";
import type { SessionTls } from "./ftps.ts";
import { RecordTail } from "../../protocol/tls-record-tail.ts";

export type SessionReusePolicy = "required" | "preferred";

/**
 * How a PROT P upload may end: "strict" (default) only with the client's TLS close_notify; "lenient"
 * also with a bare TCP FIN, as vsftpd does unless strict_ssl_read_eof is set (for clients that never
 * send close_notify, at the price of taking an upload cut by a forged FIN as complete).
 */
export type UploadEofPolicy = "strict" | "lenient";

export interface DataTlsPolicy {
  reuse: SessionReusePolicy;
  uploadEof: UploadEofPolicy;
}

interface TlsDataState {
  conn: TlsDataConnection | null;
}

/**
 * A data connection whose bytes flow through a TLS socket made by `upgradeTLS`. The plain socket's
 * handlers (dataSocketHandlers) keep firing with ciphertext after the upgrade (BUN-NOTES): those
 * calls land in the overridden `handleData`/`handleEof` and are ignored; the TLS handlers below use
 * the `tls*` entry points. `ready` settles after the handshake and the session-reuse check.
 */
export class TlsDataConnection extends DataConnection {
  declare ready: Promise<void>;
  /** Its descriptor holds ciphertext. */
  override readonly rawBytes = false;
  private settle!: { resolve: () => void; reject: (e: Error) => void };
  private settled = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The peer closed before the handshake finished (not a TLS failure). */
  closedDuringSetup = false;
  /** The TLS handshake completed (whether or not the reuse policy then refused the connection). */
  handshaken = false;

  constructor(
    socket: Socket<DataSocketState>,
    remoteIp: string,
    private readonly policy: DataTlsPolicy,
    handshakeTimeoutMs: number,
  ) {
    super(socket, remoteIp);
    this.ready = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.ready.catch(() => {}); // observed by the transfer runner; never an unhandled rejection
    this.timer = setTimeout(() => this.fail(new ClientTlsFailed(425, "Can't open data connection: TLS handshake timed out")), handshakeTimeoutMs);
  }

  // Ciphertext and FIN seen by the plain socket's handlers: the ciphertext only feeds the record
  // tail (how the peer ended), the FIN is not ours to interpret.
  /** The framing of the ciphertext the client sent: did it end with a close_notify? */
  readonly tail = new RecordTail();
  override handleData(chunk: Buffer): void {
    this.tail.push(chunk);
  }
  override handleEof(): void {}

  tlsData(chunk: Buffer): void {
    this.tail.plain(chunk.length);
    super.handleData(chunk);
  }

  tlsEof(): void {
    // Bun gives `end` for a close_notify and for a bare FIN alike; the ciphertext tells them apart.
    // Every client tried (curl, lftp, ftplib, rclone, ftpkit, Java's Commons Net; TLS 1.2 and 1.3) sends close_notify.
    if (this.tail.endedWithAlert || this.policy.uploadEof === "lenient") super.handleEof();
    else this.handleCutEnd();
  }

  tlsHandshake(success: boolean, reused: boolean, error: Error | null): void {
    if (this.settled) return;
    // Self-signed client certs are not requested, so `success` false means a failed handshake only with an error.
    // The peer hung up before its ClientHello (ftplib after a 550): a close, not a TLS failure.
    if (!success && error && ((error as NodeJS.ErrnoException).code === "ECONNRESET" || /disconnected before/i.test(error.message))) {
      this.closedDuringSetup = true;
      return this.fail(new ClosedDuringSetup());
    }
    if (!success && error && !/self.signed|unable to get|verify/i.test(error.message)) {
      return this.fail(new ClientTlsFailed(522, "SSL connection failed: TLS handshake on the data connection failed"));
    }
    this.sessionReused = reused;
    this.handshaken = true;
    if (this.policy.reuse === "required" && !reused) {
      // Like vsftpd: finish the handshake, then close cleanly, so the client reads the 522 that explains why.
      return this.fail(new ClientTlsFailed(522, "SSL connection failed: session reuse required"), true);
    }
    this.done();
    this.settle.resolve();
  }

  tlsError(error: Error): void {
    if (!this.settled) this.fail(new ClientTlsFailed(522, `SSL connection failed on the data connection (${error.message.slice(0, 80)})`));
    this.handleClose();
  }

  override handleClose(): void {
    if (!this.settled) {
      this.closedDuringSetup = true;
      this.fail(new ClosedDuringSetup());
    }
    super.handleClose();
  }

  private fail(err: FtpError, graceful = false): void {
    if (this.settled) return;
    this.done();
    if (graceful) this.close();
    else this.abort();
    this.settle.reject(err);
  }

  private done(): void {
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

const tlsDataHandlers: SocketHandler<TlsDataState> = {
  handshake(socket, success, error) {
    let reused = false;
    try {
      reused = socket.isSessionReused();
    } catch {}
    socket.data?.conn?.tlsHandshake(success, reused, error);
  },
  data(socket, chunk) {
    socket.data?.conn?.tlsData(chunk);
  },
  drain(socket) {
    socket.data?.conn?.handleDrain();
  },
  end(socket) {
    socket.data?.conn?.tlsEof();
  },
  close(socket) {
    socket.data?.conn?.handleClose();
  },
  error(socket, error) {
    socket.data?.conn?.tlsError(error);
  },
};

/**
 * Upgrade a freshly accepted (passive) or connected (active) data socket to TLS with the same
 * options (hence TLS context) the control connection was upgraded with, so the client's session
 * ticket or ID from that control connection, and only from it, is accepted (a separate Bun.listen({ tls }) never resumes: BUN-NOTES).
 */
export function upgradeDataSocket(
  socket: Socket<DataSocketState>,
  peerIp: string,
  material: SessionTls,
  policy: DataTlsPolicy,
  handshakeTimeoutMs: number,
): TlsDataConnection {
  const state: TlsDataState = { conn: null };
  const [raw, tls] = (socket as unknown as { upgradeTLS(o: unknown): [Socket<unknown>, Socket<TlsDataState>] }).upgradeTLS({
    isServer: true,
    tls: material,
    socket: tlsDataHandlers,
    data: state,
  });
  const conn = new TlsDataConnection(tls as unknown as Socket<DataSocketState>, peerIp, policy, handshakeTimeoutMs);
  state.conn = conn;
  // The plain socket upgradeTLS hands back keeps the plain handlers (dataSocketHandlers) and its own
  // `data`, copied at the upgrade: it sees the ciphertext, which only feeds the record tail.
  (raw as unknown as { data: { conn: unknown } }).data = { conn: { handleData: (c: Buffer) => conn.handleData(c), handleDrain() {}, handleEof() {}, handleClose() {} } };
  return conn;
}
