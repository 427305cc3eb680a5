// Helpers for the operations tests: a control connection from a chosen loopback address, a metrics
// scrape parsed into numbers, and a poll for in-process conditions.
import net from "node:net";
import { ReplyParser, type FtpReply } from "../../protocol/reply.ts";

/** A raw control connection whose source address is `localAddress` (127.0.0.2, 127.0.0.3…: all of 127/8 is loopback on Linux). */
export class SourcedWire {
  private parser = new ReplyParser();
  private replies: FtpReply[] = [];
  private waiters: Array<(r: FtpReply | null) => void> = [];
  closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk) => {
      for (const r of this.parser.push(chunk.toString("utf8"))) {
        const w = this.waiters.shift();
        if (w) w(r);
        else this.replies.push(r);
      }
    });
    const done = () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
    };
    socket.on("close", done);
    socket.on("error", done);
  }

  static connect(port: number, localAddress: string): Promise<SourcedWire> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port, localAddress });
      const w = new SourcedWire(s);
      s.once("connect", () => resolve(w));
      s.once("error", reject);
    });
  }

  /** Next reply, or null once the server closed the connection. */
  read(timeoutMs = 5000): Promise<FtpReply | null> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }

  async cmd(line: string): Promise<FtpReply | null> {
    this.socket.write(line + "\r\n");
    return this.read();
  }

  /** Greeting, USER, PASS: the PASS reply (null if the connection was closed). */
  async login(user: string, password: string): Promise<{ greeting: FtpReply | null; pass: FtpReply | null }> {
    const greeting = await this.read();
    if (greeting?.code !== 220) return { greeting, pass: null };
    await this.cmd(`USER ${user}`);
    return { greeting, pass: await this.cmd(`PASS ${password}`) };
  }

  close(): void {
    this.socket.destroy();
  }
}

/** GET /metrics and parse each sample line into `name{labels}` → value (label order as served). */
export async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics: HTTP ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Wait until `check` holds, polling an in-process condition (no fixed sleeps in the assertions). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}
