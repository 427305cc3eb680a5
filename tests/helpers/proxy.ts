// A recording TCP proxy for wire checks (e.g. "no password in clear after AUTH TLS").
import type { Socket as BunSocket, TCPSocketListener } from "bun";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";

/** A TCP proxy on 127.0.0.1 that forwards to `port` and records every byte the client sends. */
export function recordingProxy(port: number): { port: number; sent: () => Buffer; stop: () => void } {
  const sent: Buffer[] = [];
  const proxy: TCPSocketListener<{ upstream: Promise<BunSocket<undefined>> }> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = {
          upstream: Bun.connect({
            hostname: "127.0.0.1",
            port,
            socket: {
              data: (_s, chunk) => void client.write(chunk),
              close: () => void client.end(),
              error: () => void client.end(),
            },
          }),
        };
      },
      async data(client, chunk) {
        sent.push(Buffer.from(chunk));
        (await client.data.upstream).write(chunk);
      },
      async close(client) {
        (await client.data?.upstream)?.end();
      },
    },
  });
  return { port: proxy.port, sent: () => Buffer.concat(sent), stop: () => proxy.stop(true) };
}

/** When either side of a proxied pair closes or fails, end both and forget them (`open` tracks what stop() ends). */
function closeTogether(open: Set<Socket>, client: Socket, upstream: Socket): void {
  const close = () => {
    client.destroy();
    upstream.destroy();
    open.delete(client);
    open.delete(upstream);
  };
  client.on("close", close).on("error", close);
  upstream.on("close", close).on("error", close);
}

/**
 * A TCP proxy to an HTTP server on 127.0.0.1:`port` that loses the answer to the first request whose
 * request line matches `lost`: the request reaches the server (which acts on it), then the client's
 * connection is closed instead of getting the answer. Later requests pass unharmed. (node:net, whose
 * writes buffer: Bun's socket.write drops what the kernel does not take, which big bodies hit.)
 */
export async function answerLosingProxy(port: number, lost: RegExp): Promise<{ port: number; losses: () => number; stop: () => void }> {
  let losses = 0;
  let armed = true;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    let dropAnswer = false;
    open.add(client).add(upstream);
    client.on("data", (chunk: Buffer) => {
      if (armed && lost.test(chunk.toString("latin1").split("\r\n", 1)[0]!)) {
        armed = false;
        dropAnswer = true;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (!dropAnswer) return void client.write(chunk);
      losses++;
      dropAnswer = false;
      client.destroy();
      upstream.destroy();
    });
    closeTogether(open, client, upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const stop = () => {
    server.close();
    for (const s of open) s.destroy();
  };
  return { port: (server.address() as AddressInfo).port, losses: () => losses, stop };
}

/**
 * A TCP proxy to 127.0.0.1:`port` that can go silent: `freeze()` stops passing bytes either way on
 * every connection, open or new (a frozen or black-holed store: connections stay up, nothing moves,
 * no error ever comes); `thaw()` passes again what waited.
 */
export async function freezableProxy(
  port: number,
): Promise<{ port: number; freeze: () => void; thaw: () => void; to: (port: number) => void; cut: () => void; stop: () => void }> {
  let frozen = false;
  /** Where new connections go: `to()` moves it (a store that was down at first, then up). */
  let target = port;
  const open = new Set<Socket>();
  /** Bytes read before a pause took hold, passed on at the thaw. */
  const held: Array<[Socket, Buffer]> = [];
  const server = createServer((client) => {
    const upstream = connect(target, "127.0.0.1");
    open.add(client).add(upstream);
    if (frozen) client.pause();
    // With backpressure (as pipe, which would resume a frozen side on drain): what the proxy holds
    // stays small, so a freeze stops the bytes near where they are.
    const pass = (from: Socket, to: Socket) => (chunk: Buffer) => {
      if (frozen) return void held.push([to, chunk]);
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => void (frozen || from.resume()));
      }
    };
    client.on("data", pass(client, upstream));
    upstream.on("data", pass(upstream, client));
    closeTogether(open, client, upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    port: (server.address() as AddressInfo).port,
    to: (port) => void (target = port),
    freeze() {
      frozen = true;
      for (const s of open) s.pause();
    },
    thaw() {
      frozen = false;
      for (const [to, chunk] of held.splice(0)) to.write(chunk);
      for (const s of open) s.resume();
    },
    /** Close every open connection (a store that went down; with `to()` a refusing port, it stays down). */
    cut() {
      for (const s of open) s.destroy();
    },
    stop() {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}

/**
 * A TCP proxy to an HTTP server on 127.0.0.1:`port` that holds every request whose head matches
 * `hold` (a slow store: an UploadPartCopy of many GiB): from that request on, nothing more of its
 * connection is passed on and no answer comes. `held()` resolves at the first such request;
 * `released()` when the client has closed every held connection (it gave the requests up).
 */
export async function holdingProxy(port: number, hold: RegExp): Promise<{ port: number; held: () => Promise<void>; released: () => Promise<void>; holding: () => number; stop: () => void }> {
  const open = new Set<Socket>();
  const holding = new Set<Socket>();
  let firstHeld!: () => void;
  const heldOnce = new Promise<void>((r) => (firstHeld = r));
  let onRelease: (() => void) | null = null;
  const server = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    open.add(client).add(upstream);
    let head = "";
    client.on("data", (chunk: Buffer) => {
      if (holding.has(client)) return;
      // A request's head may come in pieces: match on what this connection sent lately.
      head = (head + chunk.toString("latin1")).slice(-8192);
      if (hold.test(head)) {
        holding.add(client);
        firstHeld();
        return;
      }
      if (head.includes("\r\n\r\n")) head = head.slice(head.lastIndexOf("\r\n\r\n") + 4);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => void client.write(chunk));
    client.on("close", () => {
      if (holding.delete(client) && holding.size === 0) onRelease?.();
    });
    closeTogether(open, client, upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    port: (server.address() as AddressInfo).port,
    held: () => heldOnce,
    released: () => (holding.size === 0 ? heldOnce : new Promise<void>((r) => (onRelease = r))),
    holding: () => holding.size,
    stop() {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}

/**
 * A TCP proxy to an HTTP server on 127.0.0.1:`port` that goes down once `after` requests whose head
 * matches `match` have passed (a store that stops mid-way): the next such request, and every request
 * from then on, has its connection closed unanswered, and new connections are closed at once, until
 * `up()` (for good). `down()` resolves when it went down.
 */
export async function downAfterProxy(port: number, match: RegExp, after: number): Promise<{ port: number; down: () => Promise<void>; up: () => void; stop: () => void }> {
  let seen = 0;
  let isDown = false;
  let wentUp = false;
  let wentDown!: () => void;
  const downOnce = new Promise<void>((r) => (wentDown = r));
  const open = new Set<Socket>();
  const server = createServer((client) => {
    if (isDown) return void client.destroy();
    const upstream = connect(port, "127.0.0.1");
    open.add(client).add(upstream);
    let head = "";
    client.on("data", (chunk: Buffer) => {
      head = (head + chunk.toString("latin1")).slice(-8192);
      const starts = head.match(/^[A-Z]+ [^\r\n]* HTTP\/1\.1\r\n[\s\S]*?\r\n\r\n/);
      if (starts && !wentUp && match.test(starts[0]) && !isDown && ++seen > after) {
        isDown = true;
        for (const s of open) s.destroy();
        wentDown();
      }
      if (isDown) return void client.destroy();
      if (starts) head = head.slice(head.indexOf("\r\n\r\n") + 4);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => void client.write(chunk));
    closeTogether(open, client, upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    port: (server.address() as AddressInfo).port,
    down: () => downOnce,
    up() {
      isDown = false;
      wentUp = true;
    },
    stop() {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}

/**
 * A TCP proxy to an HTTP server on 127.0.0.1:`port` that, for the request after the first `after`
 * whose head matches `match`, passes the answer's head and then nothing more of that connection (a
 * store frozen in the middle of an answer: the status came, the body never does). `held()` resolves
 * then; `release()` closes that connection.
 */
export async function bodyHoldingProxy(port: number, match: RegExp, after: number): Promise<{ port: number; held: () => Promise<void>; release: () => void; stop: () => void }> {
  let seen = 0;
  let holding: Socket | null = null;
  let heldOnce!: () => void;
  const held = new Promise<void>((r) => (heldOnce = r));
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    open.add(client).add(upstream);
    let head = "";
    let hold: "no" | "head" | "all" = "no";
    let answer = Buffer.alloc(0);
    client.on("data", (chunk: Buffer) => {
      head = (head + chunk.toString("latin1")).slice(-8192);
      const end = head.indexOf("\r\n\r\n");
      if (end >= 0) {
        if (holding === null && match.test(head.slice(0, end)) && ++seen > after) {
          hold = "head";
          holding = client;
        }
        head = head.slice(end + 4);
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (hold === "no") return void client.write(chunk);
      if (hold === "all") return;
      answer = Buffer.concat([answer, chunk]);
      const end = answer.indexOf("\r\n\r\n");
      if (end < 0) return;
      client.write(answer.subarray(0, end + 4));
      hold = "all";
      // Frozen, the store would not close it either (radosgw closes a connection idle for 65 s).
      upstream.removeAllListeners("close").removeAllListeners("error").on("error", () => {});
      heldOnce();
    });
    closeTogether(open, client, upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    port: (server.address() as AddressInfo).port,
    held: () => held,
    release: () => void (holding as Socket | null)?.destroy(),
    stop() {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}
