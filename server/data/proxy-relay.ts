// A passive connection forwarded by a balancer whose PROXY header came in one read with the
// client's first TLS bytes (HAProxy sends its header, then the ClientHello it already holds): Bun's
// upgradeTLS cannot be given bytes already read, so the connection is joined to a fresh loopback
// connection instead, whose accepted end is upgraded as usual and receives everything from the start.
import type { Socket, TCPSocketListener } from "bun";
import type { DataPreface } from "./connection.ts";

/** One direction of the join: bytes queued while the receiving socket takes no more. */
class Leg {
  private queue: Uint8Array[] = [];
  private ended = false;
  to: Socket<unknown> | null = null;

  constructor(private readonly pauseSource: () => void, private readonly resumeSource: () => void) {}

  push(chunk: Uint8Array): void {
    this.queue.push(chunk);
    this.flush();
  }

  /** The source finished sending: half-close the other side once the queue is out. */
  end(): void {
    this.ended = true;
    this.flush();
  }

  flush(): void {
    const to = this.to;
    if (!to) return;
    while (this.queue.length) {
      const head = this.queue[0]!;
      const n = to.write(head, 0, head.length);
      if (n < 0) return void (this.queue = []);
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return this.pauseSource();
      }
      this.queue.shift();
    }
    this.resumeSource();
    if (this.ended) to.shutdown();
  }
}

/**
 * Join `outer` (the balancer's socket, `early` already read after its header) to a loopback
 * connection to `listener`, a one-shot listener whose accepted socket is the transfer's. Returns
 * what reads `outer` from now on.
 */
export function relayThrough(
  outer: Socket<unknown>,
  early: Uint8Array,
  listener: TCPSocketListener<unknown>,
  onGone: () => void,
  onConnected: (localPort: number) => void,
): DataPreface {
  const inbound = new Leg(() => outer.pause(), () => outer.resume());
  let inner: Socket<unknown> | null = null;
  const outbound = new Leg(() => inner?.pause(), () => inner?.resume());
  outbound.to = outer;
  let closed = false;
  // The balancer's side closed: the transfer's side goes at once.
  const outerClosed = () => {
    if (closed) return;
    closed = true;
    try {
      inner?.end();
    } catch {}
    onGone();
  };
  // The transfer's side closed: what it sent still reaches the client (FIN after the queue), and the
  // balancer's socket is ended shortly after in case the client never closes it.
  const innerClosed = () => {
    outbound.end();
    setTimeout(() => {
      try {
        outer.end();
      } catch {}
    }, 10_000).unref();
    outerClosed();
  };
  inbound.push(early);
  Bun.connect({
    hostname: listener.hostname,
    port: listener.port,
    socket: {
      open(s) {
        inner = s;
        inbound.to = s;
        if (closed) return void s.end();
        onConnected((s as unknown as { localPort: number }).localPort);
        inbound.flush();
      },
      data: (_s, chunk) => outbound.push(chunk),
      drain: () => inbound.flush(),
      end: () => outbound.end(),
      close: innerClosed,
      error: innerClosed,
      connectError: innerClosed,
    },
  }).catch(innerClosed);
  return {
    data: (chunk) => inbound.push(chunk),
    drain: () => outbound.flush(),
    closed: outerClosed,
    ended: () => inbound.end(),
  };
}
