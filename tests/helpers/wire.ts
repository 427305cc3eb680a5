// A raw FTP control connection for tests: send exact lines, read exact replies (parsed by protocol/reply.ts).
import type { Socket } from "bun";
import { ReplyParser, type FtpReply } from "../../protocol/reply.ts";
import { parseEpsvReply } from "../../protocol/address.ts";

export class Wire {
  private parser = new ReplyParser();
  private replies: FtpReply[] = [];
  private waiters: Array<(r: FtpReply | null) => void> = [];
  closed = false;
  private socket!: Socket<undefined>;
  /** The address the control connection went to; data connections go there too. */
  host = "127.0.0.1";

  static async connect(port: number, host = "127.0.0.1"): Promise<Wire> {
    const w = new Wire();
    w.host = host;
    w.socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, chunk) => {
          for (const r of w.parser.push(chunk.toString("utf8"))) w.deliver(r);
        },
        close: () => w.onClose(),
        error: () => w.onClose(),
      },
    });
    return w;
  }

  private deliver(r: FtpReply): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(r);
    else this.replies.push(r);
  }

  private onClose(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(null);
  }

  /** Next reply; null if the server closed the connection. Rejects after `timeoutMs`. */
  read(timeoutMs = 5000): Promise<FtpReply | null> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (x: FtpReply | null) => {
        clearTimeout(timer);
        resolve(x);
      };
      this.waiters.push(waiter);
    });
  }

  /** Send raw bytes (no CRLF added). */
  /** Stop reading from the server (its replies back up in the socket buffers). */
  pause(): void {
    this.socket.pause();
  }

  raw(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Send one command line and return its reply. */
  async cmd(line: string, timeoutMs?: number): Promise<FtpReply> {
    this.raw(line + "\r\n");
    const r = await this.read(timeoutMs);
    if (!r) throw new Error(`connection closed after ${line.split(" ")[0]}`);
    return r;
  }

  /** Read the 220 greeting and log in. */
  async login(user: string, password: string): Promise<FtpReply> {
    const hello = await this.read();
    if (hello?.code !== 220) throw new Error(`greeting: ${hello?.code}`);
    await this.cmd(`USER ${user}`);
    return this.cmd(`PASS ${password}`);
  }

  /**
   * Run a data command (LIST, RETR, STOR…) over EPSV. `upload` is sent and the data connection
   * closed; otherwise everything the server sends is collected. Returns the preliminary and final replies.
   */
  async transfer(line: string, upload?: Uint8Array): Promise<{ first: FtpReply; final: FtpReply | null; data: Buffer }> {
    const epsv = await this.cmd("EPSV");
    if (epsv.code !== 229) throw new Error(`EPSV: ${epsv.code} ${epsv.lines.join(" ")}`);
    const port = parseEpsvReply(epsv.lines[0]!);
    const chunks: Buffer[] = [];
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    const data = await Bun.connect({
      hostname: this.host,
      port,
      socket: { data: (_s, c) => void chunks.push(Buffer.from(c)), close: () => closed(), error: () => closed() },
    });
    const first = await this.cmd(line);
    if (first.code >= 400) {
      data.end();
      return { first, final: null, data: Buffer.alloc(0) };
    }
    if (upload) {
      let off = 0;
      while (off < upload.length) {
        const n = data.write(upload.subarray(off));
        if (n < 0) break;
        off += n;
        if (off < upload.length) await Bun.sleep(1);
      }
      data.shutdown();
      data.end();
    }
    await Promise.race([closedP, Bun.sleep(5000)]);
    const final = await this.read();
    return { first, final, data: Buffer.concat(chunks) };
  }

  close(): void {
    try {
      this.socket.end();
    } catch {}
  }
}

/**
 * Whether a freed connection slot of the server at `port` admits a login again within `withinMs`
 * (nothing outside the server signals the slot's release: this polls with a deadline).
 */
export async function slotComesBack(port: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const again = await Wire.connect(port);
    // A refused connection gets 421 as its greeting (login() throws on it).
    const admitted = await again.login("alice", "alice-pw").then((r) => r.code === 230, () => false);
    again.close();
    if (admitted) return true;
    await Bun.sleep(20);
  }
  return false;
}
