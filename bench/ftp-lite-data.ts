// The benchmark client's data connections (ftp-lite.ts opens them) and its error: counts what arrives, or sends a
// repeated pattern, in clear text or upgraded to TLS after the 1xx reply.
import type { Socket, SocketHandler, TLSOptions } from "bun";

/** Thrown for an unexpected reply, a timeout or a closed connection. */
export class BenchFtpError extends Error {
  override readonly name = "BenchFtpError";
}

/** Client-side TLS settings for self-signed benchmark certificates. */
export const INSECURE_TLS: TLSOptions = { rejectUnauthorized: false };

export type DataSink = "count" | "text";

/** One data connection: counts what arrives, or sends a repeated pattern with a guarded write loop. */
export class DataChannel {
  private socket: Socket<undefined> | undefined;
  private bytes = 0;
  private newlines = 0;
  private ended = false;
  private endWaiters: Array<() => void> = [];
  private error: Error | undefined;
  private pump: (() => void) | undefined;

  private constructor(private readonly sink: DataSink) {}

  /**
   * Connects in clear text. Under PROT P the caller calls `startTls` after the 1xx reply, as
   * Python's ftplib does: pyftpdlib drops a data connection whose ClientHello arrives before the
   * transfer command (it reads it as unexpected data), which a handshake-on-connect client hits.
   */
  static async connect(host: string, port: number, sink: DataSink): Promise<DataChannel> {
    const dc = new DataChannel(sink);
    const s = await Bun.connect({ hostname: host, port, socket: dc.handlers() });
    dc.socket ??= s;
    return dc;
  }

  /** Handlers shared by the clear socket and its TLS upgrade; events of a superseded socket are ignored. */
  private handlers(): SocketHandler<undefined> {
    const current = (s: Socket<undefined>) => s === this.socket;
    return {
      open: (s) => {
        this.socket ??= s;
      },
      data: (s, chunk) => {
        if (!current(s)) return; // after the upgrade the clear socket still sees ciphertext
        this.bytes += chunk.length;
        if (this.sink === "text") {
          for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) this.newlines++;
        }
      },
      drain: (s) => {
        if (current(s)) this.pump?.();
      },
      end: (s) => {
        if (!current(s)) return;
        this.finish();
        s.close();
      },
      close: (s, err) => {
        if (!current(s)) return;
        if (err) this.error ??= err;
        this.finish();
      },
      error: (s, err) => {
        if (!current(s)) return;
        this.error = err;
        this.finish();
      },
      connectError: (_s, err) => {
        this.error = err;
        this.finish();
      },
    };
  }

  private get sock(): Socket<undefined> {
    if (!this.socket) throw new BenchFtpError("data channel not connected");
    return this.socket;
  }

  /** Upgrades the data connection to TLS (client side, self-signed certificates accepted). */
  startTls(): void {
    const [, tls] = this.sock.upgradeTLS<undefined>({ tls: INSECURE_TLS, socket: this.handlers() });
    this.socket = tls;
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.endWaiters.splice(0)) w();
    this.pump?.();
  }

  /** Resolves when the peer has closed the channel. */
  finished(timeoutMs: number): Promise<{ bytes: number; newlines: number }> {
    const result = () => {
      if (this.error) throw this.error;
      return { bytes: this.bytes, newlines: this.newlines };
    };
    if (this.ended) return Promise.resolve().then(result);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.socket?.close();
        reject(new BenchFtpError(`data channel still open after ${timeoutMs} ms`));
      }, timeoutMs);
      this.endWaiters.push(() => {
        clearTimeout(t);
        try {
          resolve(result());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Writes `total` bytes of `pattern`, repeated. `write` drops what it does not take: keep the tail. */
  send(pattern: Buffer, total: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let sent = 0;
      let busy = false;
      this.pump = () => {
        if (busy) return; // spurious or nested drain: one pump at a time
        busy = true;
        try {
          while (sent < total) {
            if (this.ended) {
              this.pump = undefined;
              reject(this.error ?? new BenchFtpError(`data channel closed after ${sent}/${total} bytes`));
              return;
            }
            const off = sent % pattern.length;
            const len = Math.min(pattern.length - off, total - sent);
            const n = this.sock.write(pattern, off, len);
            if (n < 0) {
              this.pump = undefined;
              reject(new BenchFtpError("data channel closed while sending"));
              return;
            }
            sent += n;
            if (n < len) return; // wait for drain
          }
          this.pump = undefined;
          resolve();
        } finally {
          busy = false;
        }
      };
      this.pump();
    });
  }

  shutdown(): void {
    this.sock.shutdown();
  }

  close(): void {
    this.socket?.close();
  }
}
