import { FtpError } from "../../protocol/errors.ts";
import type { Socket, SocketHandler } from "bun";
import { within } from "../timers.ts";

/** Thrown into a running transfer when the data connection is gone or ABOR cut it. */
export class TransferAborted extends Error {
  override name = "TransferAborted";
}

/**
 * The client closed the data connection before any byte could move (during its TLS handshake): 425
 * as before, but the transfer was the client's to abandon, counted "aborted", not as a server error
 * (an alert on errors fired for ordinary hang-ups).
 */
export class ClosedDuringSetup extends FtpError {
  constructor() {
    super(425, "Can't open data connection: closed during TLS setup");
  }
}

/**
 * The client's TLS on the data connection failed: its handshake never finished (425), it ended it
 * with an alert or sent no TLS at all (522), or it did not resume the control session under
 * `--tls-session-reuse required` (522). Like a hang-up, the transfer is counted "aborted": the
 * server's certificate is checked before it is used, so nothing here is the server's failure.
 */
export class ClientTlsFailed extends FtpError {
  override name = "ClientTlsFailed";
}

/**
 * One data connection (passive or active, plain or TLS). Hides Bun's socket rules from the
 * transfer code: `write` drops what the kernel does not take (we keep the tail and continue on
 * `drain`), `drain` can fire spuriously (one waiter at a time), `end()` can lose data (we use
 * `shutdown()` and wait for the peer's close).
 */
export class DataConnection {
  closed = false;
  private drainWaiter: (() => void) | null = null;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Paused because EARLY_BYTES arrived before a sink: resumed when one attaches. */
  private pausedEarly = false;
  /** A download or listing: what the client sends is read and dropped (discardInbound). */
  private inboundDiscarded = false;
  private sink: ((chunk: Buffer) => void) | null = null;
  private eofSeen = false;
  /** The peer stopped sending without saying it had finished (TLS: a FIN without close_notify). */
  private endCut = false;
  private eofWaiters: Array<(how: DataEnd) => void> = [];
  /** Last time bytes moved either way: a transfer that moves bytes is never idle (issue 8). */
  lastActivity = performance.now();
  /** Everything is written and the kernel is delivering it (bounded by finish's grace, not the stall timer). */
  finishing = false;
  private closeWaiters: Array<() => void> = [];
  /** The socket carries the transfer's own bytes (no TLS layer): an upload may read them from its descriptor (direct-read.ts). */
  readonly rawBytes: boolean = true;
  /** Set when the remote end is a TLS session that reused the control session (FTPS). */
  sessionReused = false;
  /** FTPS: settles once the connection may carry data (TLS handshake and session-reuse policy); plain: undefined. */
  ready?: Promise<void>;
  /** The peer dropped the connection (RST, a killed client) before it finished sending; not our own close or abort. */
  private peerReset = false;
  private onPeerReset: (() => void) | null = null;

  constructor(
    readonly socket: Socket<DataSocketState>,
    readonly remoteIp: string,
  ) {}

  /**
   * Write every byte of `chunk`; resolves once the kernel took all of it. `last`: no more of the
   * transfer's data follows (MODE B then ends the transfer in the same write: block-conn.ts).
   */
  async writeAll(chunk: Uint8Array, _last = false): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.closed) throw new TransferAborted("data connection closed");
      const n = this.socket.write(off === 0 ? chunk : chunk.subarray(off));
      if (n < 0) throw new TransferAborted("data connection closed");
      if (n > 0) this.lastActivity = performance.now();
      off += n;
      if (off < chunk.length) await this.waitDrain();
    }
  }

  private waitDrain(): Promise<void> {
    return new Promise((resolve) => {
      this.drainWaiter = resolve;
    });
  }

  /**
   * Receive bytes: chunks that arrived before a sink was attached are replayed first. The socket is
   * resumed before the replay, so a sink that pauses it during the replay (backpressure) stays paused.
   */
  onData(sink: (chunk: Buffer) => void): void {
    this.sink = sink;
    const early = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    this.resumeEarly();
    for (const chunk of early) sink(chunk);
  }

  /**
   * The client is not the one sending (RETR, LIST): whatever it sends anyway is read and dropped,
   * and does not count as activity, so the stall timer still sees a download nobody reads.
   */
  discardInbound(): void {
    this.inboundDiscarded = true;
    this.buffered = [];
    this.bufferedBytes = 0;
    this.resumeEarly();
  }

  private resumeEarly(): void {
    if (!this.pausedEarly) return;
    this.pausedEarly = false;
    this.resume();
  }

  /**
   * Resolves when the peer stops sending: "eof" only for an orderly end (FIN; Bun's `end` event),
   * "reset" when the connection closed or was cut without one (RST, ABOR, a killed client), "cut"
   * for a TLS connection whose TCP FIN came without a close_notify (handleCutEnd). Only "eof" may
   * complete an upload (BUN-NOTES: a reset gives `close` and no `end`).
   */
  untilEof(): Promise<DataEnd> {
    if (this.eofSeen) return Promise.resolve("eof");
    if (this.endCut) return Promise.resolve("cut");
    if (this.closed) return Promise.resolve("reset");
    return new Promise((resolve) => this.eofWaiters.push(resolve));
  }

  pause(): void {
    if (!this.closed) this.socket.pause();
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  /** Finish sending: half-close so every byte is delivered, then close after the peer does (or a grace). */
  async finish(graceMs = 2000): Promise<void> {
    if (this.closed) return;
    this.finishing = true;
    this.socket.shutdown();
    await within(new Promise<void>((resolve) => this.closeWaiters.push(resolve)), graceMs);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.end();
    } catch {}
    this.wakeAll();
  }

  /** Hard stop (ABOR, quota exceeded, shutdown): drop the connection now. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.terminate();
    } catch {}
    this.wakeAll();
  }

  // --- called by the socket handlers ---
  handleData(chunk: Buffer): void {
    if (this.inboundDiscarded) return;
    this.lastActivity = performance.now();
    if (this.sink) return this.sink(chunk);
    this.holdBack(chunk);
  }

  /**
   * Keep `chunk` for the next sink. Before the transfer has one (the connection came after PASV,
   * the upload is still being opened, or a MODE B connection waits between transfers): kept, but no
   * more than EARLY_BYTES, then the socket waits. Unbounded, a client that connected and sent without
   * a command grew the server by its line rate (1 GiB in 2 s).
   */
  holdBack(chunk: Buffer): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    // Paused again even if someone resumed it since (a throttle's end): the bound holds regardless.
    if (this.bufferedBytes >= EARLY_BYTES) {
      this.pausedEarly = true;
      this.pause();
    }
  }

  /** Bytes kept for a sink still to come (bounded by EARLY_BYTES plus one read). */
  get heldBytes(): number {
    return this.bufferedBytes;
  }

  /** The peer finished sending (FIN, or a TLS end without close_notify). */
  get peerEnded(): boolean {
    return this.eofSeen || this.endCut;
  }

  /** MODE B, between transfers: no transfer owns it; a peer's end closes it. */
  private parked = false;

  /**
   * MODE B: the transfer on this connection completed (its EOF block); the next one may use it.
   * Forgets the last transfer's sink, discarding and waiters; what the client sends meanwhile is
   * kept for the next transfer (bounded). A connection whose peer already ended is closed instead.
   */
  park(): void {
    this.sink = null;
    this.inboundDiscarded = false;
    this.finishing = false;
    this.eofWaiters = [];
    this.onPeerReset = null;
    this.parked = true;
    if (this.peerEnded) this.close();
  }

  /** A transfer takes the parked connection. */
  unpark(): void {
    this.parked = false;
  }

  /** MODE B: the upload's EOF block came; later bytes wait for the next transfer (holdBack). */
  detachSink(): void {
    this.sink = null;
  }

  handleDrain(): void {
    const w = this.drainWaiter;
    this.drainWaiter = null;
    w?.();
  }

  handleEof(): void {
    if (this.closed) return; // after close or abort an `end` no longer means "all sent"
    this.eofSeen = true;
    for (const w of this.eofWaiters.splice(0)) w("eof");
    if (this.parked) this.close();
  }

  /** The peer's FIN came without the TLS close_notify that says its data is complete. */
  protected handleCutEnd(): void {
    if (this.closed || this.eofSeen) return;
    this.endCut = true;
    for (const w of this.eofWaiters.splice(0)) w("cut");
    if (this.parked) this.close();
  }

  handleClose(): void {
    if (!this.closed && !this.eofSeen && !this.endCut) this.peerReset = true;
    this.closed = true;
    this.wakeAll();
    if (this.peerReset) this.takeResetWatcher()?.();
  }

  /** Call `fn` once when the peer resets the connection (at once if it did already), until the returned stop. */
  watchPeerReset(fn: () => void): () => void {
    if (this.peerReset) fn();
    else this.onPeerReset = fn;
    return () => void this.takeResetWatcher();
  }

  private takeResetWatcher(): (() => void) | null {
    const fn = this.onPeerReset;
    this.onPeerReset = null;
    return fn;
  }

  private wakeAll(): void {
    for (const w of this.eofWaiters.splice(0)) w(this.eofSeen ? "eof" : "reset");
    this.handleDrain();
    for (const w of this.closeWaiters.splice(0)) w();
  }
}

/** How the peer stopped sending (DataConnection.untilEof; "malformed": a MODE B block header no sender writes, data/block-conn.ts). */
export type DataEnd = "eof" | "reset" | "cut" | "malformed";

/**
 * Data sockets stay open for writing after the client's FIN. Bun's default closes both ways on it,
 * so a client that half-closes a download's connection (it has nothing to send: `ncat … </dev/null`)
 * got 426 after a few MB, where vsftpd, ProFTPD and Pure-FTPd send the whole file. Every transfer
 * and endpoint closes its socket itself (finish, close, abort).
 */
export const DATA_HALF_OPEN = true;

/** Bytes a data connection keeps before its transfer reads them; then it stops reading. */
const EARLY_BYTES = 256 * 1024;

export interface DataSocketState {
  conn: DataConnection | null;
  /** Before the socket is adopted: what reads its first bytes (a balancer's PROXY header on a passive port). */
  preface?: DataPreface;
}

/** Reads a data socket's first bytes until it is adopted or refused. */
export interface DataPreface {
  data(chunk: Buffer): void;
  /** The socket closed (or, without `ended`, the peer finished sending). */
  closed(): void;
  /** The peer finished sending (FIN); the socket stays open for writing. */
  ended?(): void;
  drain?(): void;
}

/**
 * Socket handlers shared by passive listeners and active connections. `onOpen` decides whether a
 * freshly connected socket is accepted (peer IP check, TLS upgrade) and returns its DataConnection.
 */
export function dataSocketHandlers(
  onOpen: (socket: Socket<DataSocketState>) => DataConnection | null | DataPreface,
): SocketHandler<DataSocketState> {
  return {
    open(socket) {
      const opened = onOpen(socket);
      if (opened && !(opened instanceof DataConnection)) return void (socket.data = { conn: null, preface: opened });
      socket.data = { conn: opened };
      if (!opened) socket.terminate();
    },
    data(socket, chunk) {
      if (socket.data?.preface) return socket.data.preface.data(chunk);
      socket.data?.conn?.handleData(chunk);
    },
    drain(socket) {
      socket.data?.preface?.drain?.();
      socket.data?.conn?.handleDrain();
    },
    end(socket) {
      const preface = socket.data?.preface;
      if (preface) preface.ended ? preface.ended() : preface.closed();
      socket.data?.conn?.handleEof();
    },
    close(socket) {
      socket.data?.preface?.closed();
      socket.data?.conn?.handleClose();
    },
    error(socket) {
      socket.data?.preface?.closed();
      socket.data?.conn?.handleClose();
    },
    connectError(socket) {
      socket.data?.conn?.handleClose();
    },
  };
}
