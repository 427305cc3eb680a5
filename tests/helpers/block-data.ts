// A raw MODE B data connection for tests: reads block-framed transfers one after another, sends
// framed uploads (or any bytes), and says when the server closed it.
import type { Socket } from "bun";
import { parseEpsvReply } from "../../protocol/address.ts";
import { BlockDecoder, EOF_BLOCK, encodeBlocks } from "../../protocol/block-mode.ts";
import type { Wire } from "./wire.ts";

export class BlockData {
  private socket!: Socket<undefined>;
  private decoder = new BlockDecoder();
  private current: Buffer[] = [];
  private files: Buffer[] = [];
  private waiters: Array<(b: Buffer | null) => void> = [];
  closed = false;
  private closeWaiters: Array<() => void> = [];
  private drainWaiter: (() => void) | null = null;
  /** Bytes received in all. */
  received = 0;

  /** EPSV on `w`, then connect to its port. */
  static async open(w: Wire): Promise<BlockData> {
    const epsv = await w.cmd("EPSV");
    if (epsv.code !== 229) throw new Error(`EPSV: ${epsv.code}`);
    const d = new BlockData();
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => (opened = r));
    d.socket = await Bun.connect({
      hostname: w.host,
      port: parseEpsvReply(epsv.lines[0]!),
      socket: {
        open: () => opened(),
        data: (_s, chunk) => d.feed(chunk),
        drain: () => d.drained(),
        close: () => d.gone(),
        error: () => d.gone(),
      },
    });
    await isOpen;
    return d;
  }

  /** An accepted socket (an active-mode data connection): its handlers call feed, drained and gone. */
  static adopt(socket: Socket<undefined>): BlockData {
    const d = new BlockData();
    d.socket = socket;
    return d;
  }

  drained(): void {
    this.drainWaiter?.();
  }

  feed(chunk: Buffer): void {
    this.received += chunk.length;
    let rest: Uint8Array | null = chunk;
    while (rest !== null) {
      rest = this.decoder.push(rest, (p) => void this.current.push(Buffer.from(p)));
      if (rest === null) break;
      const file = Buffer.concat(this.current);
      this.current = [];
      this.decoder = new BlockDecoder();
      const w = this.waiters.shift();
      if (w) w(file);
      else this.files.push(file);
      if (rest.length === 0) break;
    }
  }

  gone(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(null);
    for (const w of this.closeWaiters.splice(0)) w();
  }

  /** The next transfer's bytes, complete with its EOF block; null if the connection closed first. */
  next(timeoutMs = 10_000): Promise<Buffer | null> {
    const f = this.files.shift();
    if (f) return Promise.resolve(f);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no EOF block within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((b) => {
        clearTimeout(timer);
        resolve(b);
      });
    });
  }

  /** True once the server closed the connection (within `ms`). */
  closedWithin(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.closed), ms);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Send raw bytes, all of them (waits for drain); returns how many went before `deadlineMs` (if given). */
  async raw(bytes: Uint8Array, deadlineMs = 30_000): Promise<number> {
    const until = performance.now() + deadlineMs;
    let off = 0;
    while (off < bytes.length && !this.closed && performance.now() < until) {
      const n = this.socket.write(bytes.subarray(off));
      if (n < 0) break;
      off += n;
      if (off < bytes.length) {
        await Promise.race([new Promise<void>((r) => (this.drainWaiter = r)), Bun.sleep(50)]);
        this.drainWaiter = null;
      }
    }
    return off;
  }

  /** Send `body` as one MODE B transfer: data blocks, then the EOF block. */
  async upload(body: Uint8Array): Promise<void> {
    const framed = encodeBlocks(body);
    const all = new Uint8Array(framed.length + EOF_BLOCK.length);
    all.set(framed);
    all.set(EOF_BLOCK, framed.length);
    await this.raw(all);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    try {
      this.socket.shutdown();
      this.socket.end();
    } catch {}
  }

  terminate(): void {
    try {
      this.socket.terminate();
    } catch {}
  }
}
