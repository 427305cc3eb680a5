// A minimal FTP client for the benchmark: control replies, passive data channels, explicit TLS.
// It is deliberately independent of client/ so the bench measures servers, not our own client.
import type { Socket, SocketHandler } from "bun";
import { BenchFtpError, DataChannel, INSECURE_TLS, type DataSink } from "./ftp-lite-data.ts";

export { BenchFtpError, INSECURE_TLS };

export interface Reply {
  code: number;
  text: string;
}

interface Waiter {
  resolve(reply: Reply): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** One control connection. Replies are queued in arrival order; `read` takes the next one. */
export class FtpLite {
  private socket: Socket<undefined> | undefined;
  private pending = "";
  private multi: { code: number; lines: string[] } | undefined;
  private readonly replies: Reply[] = [];
  private readonly waiters: Waiter[] = [];
  private failure: Error | undefined;
  private tls = false;

  private constructor(readonly host: string) {}

  /** Connects and consumes the 220 greeting. */
  static async connect(host: string, port: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<FtpLite> {
    const c = new FtpLite(host);
    c.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => {
          if (!c.tls) c.feed(chunk);
        },
        close: () => c.fail(new BenchFtpError("control connection closed")),
        error: (_s, err) => c.fail(err),
        connectError: (_s, err) => c.fail(err),
      },
    });
    const hello = await c.read(timeoutMs);
    if (hello.code !== 220) throw new BenchFtpError(`greeting: ${hello.code} ${hello.text}`);
    return c;
  }

  private feed(chunk: Buffer): void {
    this.pending += chunk.toString("latin1");
    let nl: number;
    while ((nl = this.pending.indexOf("\n")) >= 0) {
      const line = this.pending.slice(0, nl).replace(/\r$/, "");
      this.pending = this.pending.slice(nl + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (this.multi) {
      this.multi.lines.push(line);
      if (line.startsWith(`${this.multi.code} `) || line === String(this.multi.code)) {
        const m = this.multi;
        this.multi = undefined;
        this.push({ code: m.code, text: m.lines.join("\n") });
      }
      return;
    }
    const m = /^(\d{3})([ -]?)/.exec(line);
    if (!m) return; // garbage between replies: ignore
    const code = Number(m[1]);
    if (m[2] === "-") this.multi = { code, lines: [line] };
    else this.push({ code, text: line });
  }

  private push(reply: Reply): void {
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(reply);
    } else this.replies.push(reply);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /** The next reply (preliminary ones included). */
  read(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new BenchFtpError(`timeout waiting for a reply after ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** Sends one command line. */
  write(line: string): void {
    const s = this.socket;
    if (!s) throw new BenchFtpError("not connected");
    const bytes = Buffer.from(`${line}\r\n`, "latin1");
    const n = s.write(bytes, 0, bytes.length);
    // Command lines are tiny; a short write here would mean a dead or hopelessly stuck peer.
    if (n !== bytes.length) throw new BenchFtpError(`short write of a command (${n}/${bytes.length})`);
  }

  /** Sends a command and returns its final reply (skips 1xx). */
  async cmd(line: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Reply> {
    this.write(line);
    let r = await this.read(timeoutMs);
    while (r.code < 200) r = await this.read(timeoutMs);
    return r;
  }

  /** Sends a command and insists on one reply code. */
  async expect(line: string, code: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Reply> {
    const r = await this.cmd(line, timeoutMs);
    if (r.code !== code) throw new BenchFtpError(`${line.split(" ")[0]}: expected ${code}, got ${r.code} ${r.text}`);
    return r;
  }

  async login(user: string, pass: string): Promise<void> {
    const u = await this.cmd(`USER ${user}`);
    if (u.code === 230) return;
    if (u.code !== 331) throw new BenchFtpError(`USER: ${u.code} ${u.text}`);
    await this.expect(`PASS ${pass}`, 230);
  }

  /** FEAT lines, upper-cased and trimmed ("" when FEAT is not supported). */
  async features(): Promise<string[]> {
    const r = await this.cmd("FEAT");
    if (r.code !== 211) return [];
    return r.text.split("\n").slice(1, -1).map((l) => l.trim().toUpperCase());
  }

  /** AUTH TLS + PBSZ 0 + PROT P: the control channel and every later data channel are encrypted. */
  async startTls(): Promise<void> {
    await this.expect("AUTH TLS", 234);
    const old = this.socket!;
    const handlers = {
      data: (_s: Socket<undefined>, chunk: Buffer) => this.feed(chunk),
      close: () => this.fail(new BenchFtpError("control connection closed")),
      error: (_s: Socket<undefined>, err: Error) => this.fail(err),
    };
    // From now on the original handler still sees ciphertext: `tls` makes it ignore that.
    this.tls = true;
    const opened = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new BenchFtpError("TLS handshake timeout")), 10_000);
      const [, tls] = old.upgradeTLS<undefined>({
        tls: INSECURE_TLS,
        socket: {
          ...handlers,
          // With rejectUnauthorized: false a self-signed certificate reports ok=false plus an
          // authorization error, yet the session proceeds: only a close means failure.
          handshake: () => {
            clearTimeout(t);
            resolve();
          },
          close: () => {
            clearTimeout(t);
            reject(new BenchFtpError("control connection closed during the TLS handshake"));
            this.fail(new BenchFtpError("control connection closed"));
          },
        },
      });
      this.socket = tls;
    });
    await opened;
    await this.expect("PBSZ 0", 200);
    await this.expect("PROT P", 200);
  }

  /** PASV, then connect the data channel (TLS when the control channel is). */
  async openData(sink: DataSink, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<DataChannel> {
    const r = await this.expect("PASV", 227, timeoutMs);
    const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(r.text);
    if (!m) throw new BenchFtpError(`PASV: cannot parse ${r.text}`);
    const port = Number(m[5]) * 256 + Number(m[6]);
    // The bench runs on loopback: connect to our own host, whatever the server advertises.
    return DataChannel.connect(this.host, port, sink);
  }

  /** QUIT and close, ignoring errors (the session is over either way). */
  async quit(): Promise<void> {
    try {
      await this.cmd("QUIT", 5_000);
    } catch {
      /* closing anyway */
    }
    this.close();
  }

  close(): void {
    this.failure ??= new BenchFtpError("closed by client");
    this.socket?.close();
  }

  /** RETR `path`, discarding the bytes; returns how many arrived. */
  async retr(path: string, timeoutMs = 600_000): Promise<number> {
    const dc = await this.openData("count");
    this.write(`RETR ${path}`);
    const pre = await this.read(timeoutMs);
    if (pre.code !== 150 && pre.code !== 125) {
      dc.close();
      throw new BenchFtpError(`RETR: ${pre.code} ${pre.text}`);
    }
    if (this.tls) dc.startTls();
    // The data first: a reset data channel fails now instead of waiting for a 226 that never comes.
    const { bytes } = await dc.finished(timeoutMs);
    const done = await this.read(timeoutMs);
    if (done.code !== 226 && done.code !== 250) throw new BenchFtpError(`RETR: ${done.code} ${done.text}`);
    return bytes;
  }

  /** STOR `size` bytes of `pattern` (repeated) to `path`. */
  async stor(path: string, size: number, pattern: Buffer, timeoutMs = 600_000): Promise<void> {
    const dc = await this.openData("count");
    this.write(`STOR ${path}`);
    const pre = await this.read(timeoutMs);
    if (pre.code !== 150 && pre.code !== 125) {
      dc.close();
      throw new BenchFtpError(`STOR: ${pre.code} ${pre.text}`);
    }
    await dc.send(pattern, size);
    dc.shutdown();
    const done = await this.read(timeoutMs);
    if (done.code !== 226 && done.code !== 250) throw new BenchFtpError(`STOR: ${done.code} ${done.text}`);
    dc.close();
  }

  /** LIST or MLSD of `path`; returns the listing's byte count and line count. */
  async listing(verb: "LIST" | "MLSD", path: string, timeoutMs = 120_000): Promise<{ bytes: number; lines: number }> {
    const dc = await this.openData("text");
    this.write(`${verb} ${path}`);
    const pre = await this.read(timeoutMs);
    if (pre.code !== 150 && pre.code !== 125) {
      dc.close();
      throw new BenchFtpError(`${verb}: ${pre.code} ${pre.text}`);
    }
    if (this.tls) dc.startTls();
    const done = await this.read(timeoutMs);
    if (done.code !== 226 && done.code !== 250) throw new BenchFtpError(`${verb}: ${done.code} ${done.text}`);
    const { bytes, newlines } = await dc.finished(timeoutMs);
    return { bytes, lines: newlines };
  }
}
