import type { Socket, SocketHandler } from "bun";

/** Thrown into a running transfer when the data connection is gone or ABOR cut it. */
export class TransferAborted extends Error {
  override name = "TransferAborted";
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
  private sink: ((chunk: Buffer) => void) | null = null;
  private eofSeen = false;
  private eofWaiters: Array<() => void> = [];
  private closeWaiters: Array<() => void> = [];
  /** Set when the remote end is a TLS session that reused the control session (FTPS). */
  sessionReused = false;
  /** FTPS: settles once the connection may carry data (TLS handshake and session-reuse policy); plain: undefined. */
  ready?: Promise<void>;

  constructor(
    readonly socket: Socket<DataSocketState>,
    readonly remoteIp: string,
  ) {}

  /** Write every byte of `chunk`; resolves once the kernel took all of it. */
  async writeAll(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.closed) throw new TransferAborted("data connection closed");
      const n = this.socket.write(off === 0 ? chunk : chunk.subarray(off));
      if (n < 0) throw new TransferAborted("data connection closed");
      off += n;
      if (off < chunk.length) await this.waitDrain();
    }
  }

  private waitDrain(): Promise<void> {
    return new Promise((resolve) => {
      this.drainWaiter = resolve;
    });
  }

  /** Receive bytes: chunks that arrived before a sink was attached are replayed first. */
  onData(sink: (chunk: Buffer) => void): void {
    this.sink = sink;
    const early = this.buffered;
    this.buffered = [];
    for (const chunk of early) sink(chunk);
  }

  /** Resolves when the peer has sent everything (FIN or close). */
  untilEof(): Promise<void> {
    if (this.eofSeen || this.closed) return Promise.resolve();
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
    this.socket.shutdown();
    await Promise.race([
      new Promise<void>((resolve) => this.closeWaiters.push(resolve)),
      Bun.sleep(graceMs),
    ]);
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
    if (this.sink) this.sink(chunk);
    else this.buffered.push(chunk);
  }

  handleDrain(): void {
    const w = this.drainWaiter;
    this.drainWaiter = null;
    w?.();
  }

  handleEof(): void {
    this.eofSeen = true;
    for (const w of this.eofWaiters.splice(0)) w();
  }

  handleClose(): void {
    this.closed = true;
    this.wakeAll();
  }

  private wakeAll(): void {
    this.handleEof();
    this.handleDrain();
    for (const w of this.closeWaiters.splice(0)) w();
  }
}

export interface DataSocketState {
  conn: DataConnection | null;
  /** Data that arrived on a socket before it became a DataConnection (e.g. during TLS setup). */
}

/**
 * Socket handlers shared by passive listeners and active connections. `onOpen` decides whether a
 * freshly connected socket is accepted (peer IP check, TLS upgrade) and returns its DataConnection.
 */
export function dataSocketHandlers(
  onOpen: (socket: Socket<DataSocketState>) => DataConnection | null,
): SocketHandler<DataSocketState> {
  return {
    open(socket) {
      socket.data = { conn: onOpen(socket) };
      if (!socket.data.conn) socket.terminate();
    },
    data(socket, chunk) {
      socket.data?.conn?.handleData(chunk);
    },
    drain(socket) {
      socket.data?.conn?.handleDrain();
    },
    end(socket) {
      socket.data?.conn?.handleEof();
    },
    close(socket) {
      socket.data?.conn?.handleClose();
    },
    error(socket) {
      socket.data?.conn?.handleClose();
    },
    connectError(socket) {
      socket.data?.conn?.handleClose();
    },
  };
}
