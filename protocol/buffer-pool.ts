/**
 * Transfer buffers of one size, reused from one transfer to the next. A fresh buffer per file cost
 * its page faults again on first use (and a memset when zero-filled): with a tree of 1,000 small
 * files that is one per file at each end. A buffer is taken for the life of one transfer and given
 * back once every write from it completed; at most `keep` idle ones are held.
 */
export class BufferPool {
  private readonly idle: Uint8Array[] = [];

  constructor(
    readonly size: number,
    private readonly keep: number,
  ) {}

  take(): Uint8Array {
    return this.idle.pop() ?? Buffer.allocUnsafe(this.size);
  }

  give(buf: Uint8Array): void {
    if (buf.length === this.size && this.idle.length < this.keep) this.idle.push(buf);
  }
}
