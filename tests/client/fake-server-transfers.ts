// The fake server's data side: its data connections (passive and active), and the transfer verbs
// RETR, STOR and APPE with every way the options make them misbehave (fake-server.ts runs the rest).
import type { Socket, TCPSocketListener } from "bun";
import net from "node:net";
import { digest } from "../helpers/peers.ts";
import type { FakeOptions } from "./fake-server-options.ts";

export interface Conn {
  buf: string;
  rest: number;
  range: { start: number; end: number } | null;
  alg: Alg;
  data: Promise<Socket<DataState>> | null;
  dataServer: TCPSocketListener<DataState> | null;
  /** The directory CWD entered ("/" at login). */
  cwd: string;
  /** FakeServerOptions.mutedAfter: this connection answers nothing. */
  muted: boolean;
  /** FakeOptions.epsv425After: the next transfer command gets no reply. */
  silentTransfer?: boolean;
  /** FakeOptions.epsv425RefusedAfter: the next transfer command is refused with 503. */
  refuseTransfer?: boolean;
  /** FakeOptions.busy at "login": USER gets 421 (or busy.reply) and the connection is closed. */
  busyAtLogin?: boolean;
  /** FakeOptions.busy at "password": PASS gets busy.reply (or a 421) and the connection is closed. */
  busyAtPassword?: boolean;
  /** FakeOptions.hangUp at "USER": USER closes the connection. */
  hangUpAtUser?: boolean;
  /** FakeOptions.oopsAfterTransfer: the 500 OOPS went out, the next command closes the connection. */
  hangUpAtNext?: boolean;
}

export interface DataState {
  chunks: Buffer[];
  /** A write returned -1: the peer is gone. Bun delivers `close` only on a later event-loop turn. */
  gone: boolean;
  closed: () => void;
  pending: Buffer | null;
  flushed: () => void;
}

export type Alg = "SHA-256" | "MD5" | "CRC32";

export function hex(alg: Alg, data: Buffer): string {
  return digest(data, alg === "MD5" ? "md5" : alg === "CRC32" ? "crc32" : "sha256");
}

export function sendAll(sock: Socket<DataState>, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    sock.data.pending = data;
    sock.data.flushed = resolve;
    pump(sock);
  });
}

function pump(sock: Socket<DataState>): void {
  const p = sock.data.pending;
  if (!p) return;
  const n = sock.write(p, 0, p.length);
  if (n < 0) {
    sock.data.gone = true;
    sock.data.pending = null;
    sock.data.flushed();
    return;
  }
  if (n < p.length) sock.data.pending = p.subarray(n);
  else {
    sock.data.pending = null;
    sock.data.flushed();
  }
}

/** The handlers of a data socket, passive or active; `opened` gets the socket once it is up. */
function dataHandlers(opened: (d: Socket<DataState>) => void) {
  return {
    open(d: Socket<DataState>) {
      let closed!: () => void;
      const p = new Promise<void>((r) => (closed = r));
      d.data = { chunks: [], gone: false, closed, pending: null, flushed: () => {} };
      (d.data as DataState & { done: Promise<void> }).done = p;
      opened(d);
    },
    data(d: Socket<DataState>, chunk: Buffer) {
      d.data.chunks.push(Buffer.from(chunk));
    },
    drain(d: Socket<DataState>) {
      pump(d);
    },
    close(d: Socket<DataState>) {
      d.data.closed();
      d.data.flushed(); // a write waiting for drain ends with the connection
    },
  };
}

export function openPassive(s: Socket<Conn>): number {
  s.data.dataServer?.stop(true);
  let resolveSock!: (x: Socket<DataState>) => void;
  s.data.data = new Promise((r) => (resolveSock = r));
  s.data.dataServer = Bun.listen<DataState>({ hostname: "127.0.0.1", port: 0, socket: dataHandlers(resolveSock) });
  return s.data.dataServer.port;
}

/** EPRT: connect to the client (after a stranger, with strangerFirst) once a transfer needs it. */
export function openActive(s: Socket<Conn>, host: string, port: number, strangerFirst: Buffer | undefined): void {
  s.data.dataServer?.stop(true);
  s.data.dataServer = null;
  s.data.data = (async () => {
    if (strangerFirst) {
      const stranger = net.connect({ host, port, localAddress: "127.0.0.2" });
      await new Promise<void>((resolve) => {
        stranger.on("connect", () => stranger.end(strangerFirst));
        stranger.on("close", () => resolve());
        stranger.on("error", () => resolve());
      });
    }
    return new Promise<Socket<DataState>>((resolve, reject) => {
      Bun.connect<DataState>({ hostname: host, port, socket: dataHandlers(resolve) }).catch(reject);
    });
  })();
}

/** What the transfer verbs share with the control side of the server. */
export interface TransferContext {
  opts: FakeOptions;
  files: Map<string, Buffer>;
  retrBytes: number[];
  lateRetrReplies: { delivered: number; lost: number };
  /** RETRs begun, RETRs seen and STORs begun: options act on the first (or the Nth) one. */
  counts: { retrs: number; retrsSeen: number; stors: number };
  /** The control connection is still open. */
  isOpen(s: Socket<Conn>): boolean;
  reply(s: Socket<Conn>, code: number, text: string | string[]): void;
  /** oopsOnTransfer: true when this transfer was answered with it. */
  oops(s: Socket<Conn>): boolean;
  stopServer(): void;
}

/** RETR of `arg` (`file`: its bytes, if it exists). */
export async function retr(ctx: TransferContext, s: Socket<Conn>, arg: string, file: Buffer | undefined): Promise<void> {
  const { opts, files, retrBytes, lateRetrReplies, reply } = ctx;
  if (s.data.silentTransfer) return; // trying the default data port: no reply for a long while
  if (s.data.refuseTransfer) {
    s.data.refuseTransfer = false;
    return void reply(s, 503, "Use PORT or PASV first.");
  }
  if (!file) {
    s.data.dataServer?.stop(true);
    return void reply(s, 550, "No such file.");
  }
  if (ctx.oops(s)) return;
  if (opts.refuseRetrOf === arg) {
    s.data.dataServer?.stop(true);
    return void reply(s, 550, "Permission denied.");
  }
  const d = await s.data.data!;
  if (++ctx.counts.retrsSeen === opts.dropDataOnRetr) {
    d.end();
    return void reply(s, 150, "File status okay. About to open data connection.");
  }
  reply(s, 150, "Opening data connection");
  let out = Buffer.from(file.subarray(s.data.rest));
  if (opts.flipByteAt !== undefined && opts.flipByteAt >= s.data.rest && opts.flipByteAt < file.length) {
    out[opts.flipByteAt - s.data.rest]! ^= 0xff;
  }
  s.data.rest = 0;
  ctx.counts.retrs++;
  if (opts.growDuringRetr && ctx.counts.retrs === 1) {
    files.set(arg, Buffer.concat([file, opts.growDuringRetr]));
    out = Buffer.concat([out, opts.growDuringRetr]);
  }
  if (opts.stallRetrAfter !== undefined && ctx.counts.retrs === 1) {
    out = out.subarray(0, opts.stallRetrAfter);
    await sendAll(d, out);
    retrBytes.push(out.length);
    return; // neither more data nor a reply: only the client's stall timeout ends this
  }
  if (opts.retrLeftOpen) {
    await sendAll(d, out);
    retrBytes.push(out.length);
    return void reply(s, 226, "Transfer complete");
  }
  if (opts.tailAfterReply) {
    await sendAll(d, out);
    reply(s, 226, "Transfer complete");
    await Bun.sleep(100);
    await sendAll(d, opts.tailAfterReply);
    retrBytes.push(out.length + opts.tailAfterReply.length);
    d.shutdown();
    return void d.end();
  }
  if (opts.endlessRetr) {
    await sendAll(d, out);
    const block = Buffer.alloc(1 << 20, 0x61);
    let open = true;
    void (d.data as DataState & { done: Promise<void> }).done.then(() => (open = false));
    let sent = out.length;
    while (open && !d.data.gone) {
      await sendAll(d, block);
      sent += block.length;
    }
    retrBytes.push(sent);
    return void reply(s, 426, "Connection closed; transfer aborted");
  }
  if (opts.dropRetrAfter !== undefined && ctx.counts.retrs === 1) {
    out = out.subarray(0, opts.dropRetrAfter);
    await sendAll(d, out);
    retrBytes.push(out.length);
    d.terminate();
    s.terminate();
    if (opts.goneAfterDrop) ctx.stopServer();
    return;
  }
  await sendAll(d, out);
  retrBytes.push(out.length);
  const cut = d.data.gone;
  d.shutdown();
  d.end();
  if (opts.lateRetrReplyMs !== undefined) {
    await Promise.race([(d.data as DataState & { done: Promise<void> }).done, Bun.sleep(2000)]);
    await Bun.sleep(opts.lateRetrReplyMs);
    if (!ctx.isOpen(s)) return void lateRetrReplies.lost++;
    lateRetrReplies.delivered++;
    return void (cut ? reply(s, 426, "Connection closed; transfer aborted.") : reply(s, 226, "Transfer complete"));
  }
  return void reply(s, 226, "Transfer complete");
}

/** STOR or APPE of `arg`. */
export async function store(ctx: TransferContext, s: Socket<Conn>, verb: "STOR" | "APPE", arg: string): Promise<void> {
  const { opts, files, reply } = ctx;
  if (verb === "APPE" && opts.noAppe) {
    s.data.dataServer?.stop(true);
    return void reply(s, 502, "Command not implemented");
  }
  if (opts.refuseStor) {
    s.data.dataServer?.stop(true);
    s.data.rest = 0;
    return void reply(s, Number(opts.refuseStor.slice(0, 3)), opts.refuseStor.slice(4));
  }
  if (opts.noStoreRestart && (verb === "APPE" || s.data.rest > 0)) {
    s.data.dataServer?.stop(true);
    s.data.rest = 0;
    return void reply(s, 451, `${arg}${opts.noStoreRestartText ?? ": Append/Restart not permitted, try again"}`);
  }
  if (ctx.oops(s)) return;
  if (opts.storeFull) {
    s.data.dataServer?.stop(true);
    return void reply(s, 552, "Requested file action aborted. Exceeded storage allocation.");
  }
  const d = await s.data.data!;
  reply(s, 150, "Ok to send data");
  ctx.counts.stors++;
  if (opts.dropStorAfter !== undefined && ctx.counts.stors === 1) {
    const limit = opts.dropStorAfter;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (d.data.chunks.reduce((n, c) => n + c.length, 0) >= limit) {
          clearInterval(timer);
          resolve();
        }
      }, 1);
    });
    const got = Buffer.concat(d.data.chunks).subarray(0, limit);
    const prev = files.get(arg) ?? Buffer.alloc(0);
    files.set(arg, Buffer.concat([verb === "APPE" ? prev : prev.subarray(0, s.data.rest), got]));
    if (opts.dropStorGently) {
      // What has arrived is read first (closing on unread bytes sends a reset, not a FIN): the
      // close lands while the client waits to send its next chunk.
      for (let n = -1; n !== d.data.chunks.length; ) {
        n = d.data.chunks.length;
        await Bun.sleep(50);
      }
      d.end();
      s.end();
    } else {
      d.terminate();
      s.terminate();
    }
    if (opts.goneAfterDrop) ctx.stopServer();
    return;
  }
  await (d.data as DataState & { done: Promise<void> }).done;
  const all = Buffer.concat(d.data.chunks);
  const first = ctx.counts.stors === 1;
  const got = first && opts.storeShortOnce !== undefined ? all.subarray(0, opts.storeShortOnce) : first && opts.storeExtraOnce ? Buffer.concat([all, Buffer.alloc(opts.storeExtraOnce)]) : all;
  const prev = files.get(arg) ?? Buffer.alloc(0);
  const base = verb === "APPE" ? prev : prev.subarray(0, s.data.rest);
  files.set(arg, Buffer.concat([base, got]));
  s.data.rest = 0;
  return void reply(s, 226, "Transfer complete");
}
