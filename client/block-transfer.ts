// MODE B (RFC 959 §3.4.2) on the client: one data connection carries transfer after transfer, each
// ended by an EOF block instead of a close. A BlockLink is that kept connection (its one owner is
// the FtpClient's DataChannel); a BlockTransfer is one transfer over it, shaped as a Connection so
// the pumps (transfer.ts, listing-read.ts) read and write it as they do a stream-mode data connection:
// `closed` settles at the EOF block (read, or sent), `error` says the link closed before it.
import { BlockDecoder, BlockError, encodeBlocks, EOF_BLOCK, framedLength } from "../protocol/block-mode.ts";
import { Connection } from "./connection.ts";
import { ClientError } from "./errors.ts";

/**
 * Bytes read ahead of a transfer's start (its data can overtake its 150 on the control connection)
 * before the link stops reading until the transfer begins.
 */
const MAX_AHEAD = 256 * 1024;

/** A kept data connection in block mode, and the transfer using it now (at most one). */
export class BlockLink {
  private current: BlockTransfer | null = null;
  /** Bytes read while no transfer is on the link: the next transfer's (after its EOF block, or ahead of its start). */
  private early: Uint8Array[] = [];
  private earlyBytes = 0;
  /** Uploads frame into one reused buffer (each write is awaited before the next frame). */
  private out: Uint8Array | null = null;

  constructor(readonly conn: Connection) {
    conn.onData((chunk) => this.route(chunk));
    void conn.closed.then(() => this.current?.lost());
  }

  /** Open, and no transfer on it now. */
  get idle(): boolean {
    return !this.conn.isClosed && this.current === null;
  }

  /** The next transfer on this link. */
  begin(): BlockTransfer {
    const t = new BlockTransfer(this);
    this.current = t;
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    for (const chunk of early) this.route(chunk);
    this.conn.resume();
    if (this.conn.isClosed) t.lost();
    return t;
  }

  /** `t` ended (EOF block read or sent, or failed): the link is free for the next one. */
  release(t: BlockTransfer): void {
    if (this.current === t) this.current = null;
  }

  frame(data: Uint8Array): Uint8Array {
    const need = framedLength(data.length);
    if (!this.out || this.out.length < need) this.out = new Uint8Array(need);
    return encodeBlocks(data, this.out);
  }

  private route(chunk: Uint8Array): void {
    const t = this.current;
    if (!t) {
      this.early.push(chunk);
      this.earlyBytes += chunk.length;
      if (this.earlyBytes > MAX_AHEAD) this.conn.pause();
      return;
    }
    const rest = t.take(chunk);
    if (rest && rest.length > 0) this.route(rest);
  }
}

/** One transfer over a BlockLink, as the pumps see a data connection. */
export class BlockTransfer extends Connection {
  private readonly decoder = new BlockDecoder();
  /** Ended by its EOF block (not by a failure): the link goes on. */
  private clean = false;

  constructor(private readonly link: BlockLink) {
    super();
    this.tlsActive = link.conn.tlsActive;
  }

  /**
   * File bytes received (a download) or sent (an upload): not the link's every byte. Empty blocks
   * and restart markers carry none, and a server sending one a second held a job past
   * --stall-timeout for ever.
   */
  override get lastActivity(): number {
    return Math.max(this.activityAt, this.link.conn.lastSent);
  }
  override set lastActivity(at: number) {
    this.activityAt = at;
  }

  /** The EOF block says the transfer is whole, inside TLS too: no close_notify is needed. */
  override get closeNotify(): boolean | null {
    return null;
  }

  /** Bytes from the link: file data goes to the reader; returns what followed the EOF block, if it came. */
  take(chunk: Uint8Array): Uint8Array | null {
    if (this.isClosed) return chunk;
    let rest: Uint8Array | null;
    try {
      rest = this.decoder.push(chunk, (piece) => this.received(Buffer.from(piece.buffer, piece.byteOffset, piece.length)));
    } catch (err) {
      this.fail(new ClientError(`MODE B: ${(err as BlockError).message}`, { retryable: true, kind: "network" }));
      return null;
    }
    if (rest !== null) this.finish();
    return rest;
  }

  /** The link closed: before the EOF block, the transfer was cut short. */
  lost(): void {
    if (this.isClosed) return;
    const cause = this.link.conn.error?.message;
    this.markClosed(new ClientError(`the data connection closed before the end of the transfer (MODE B)${cause ? `: ${cause}` : ""}`, { retryable: true, kind: "network" }));
    this.link.release(this);
  }

  override write(data: Uint8Array | string): Promise<void> {
    if (this.isClosed) return Promise.reject(this.error ?? new ClientError("connection closed", { kind: "network", retryable: true }));
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    return this.link.conn.write(this.link.frame(bytes));
  }

  /** An upload's end: the EOF block (the link stays open). */
  override shutdown(): void {
    if (this.isClosed) return;
    this.link.conn.write(EOF_BLOCK).then(
      () => this.finish(),
      (err: Error) => this.fail(err),
    );
  }

  override pause(): void {
    this.link.conn.pause();
  }

  override resume(): void {
    this.link.conn.resume();
  }

  /** Done with the transfer: a clean one leaves the link open, any other ends it. */
  override close(): void {
    if (!this.clean) this.fail(null);
  }

  /** Abandon the transfer: the link cannot be trusted to be in step any more. */
  override destroy(): void {
    if (!this.clean) this.fail(null);
  }

  private finish(): void {
    if (this.isClosed) return;
    this.clean = true;
    this.markClosed(null);
    this.link.release(this);
  }

  private fail(err: Error | null): void {
    this.link.conn.destroy();
    this.markClosed(err);
    this.link.release(this);
  }
}
