// The metrics endpoint's HTTP listener: a few connections at once, each with a deadline, one
// request each. Bun.serve has no bound on connections: scrapers that kept 300 open (trickling
// header bytes, or simply many) took every descriptor of a server limited to 300, which then spun a
// core on accept() and left FTP clients hanging without a reply. When they are all taken, an
// address holding more than its share gives one up to a newcomer from an address holding less: one
// client that kept all 32 locked every Prometheus scrape out until it let go. An IPv6 address counts
// by its /64 (addressKey, as the connection caps and the defender do): one subscriber holds a whole
// /64, and counted by exact address its sources would each be a newcomer holding none.
import type { Socket, TCPSocketListener } from "bun";
import { addressKey } from "../../protocol/address.ts";
import { parseHttpHead } from "../../protocol/http-head.ts";

/** Connections served at once; more are closed as they come (Prometheus and a balancer need a few). */
export const METRICS_MAX_CONNECTIONS = 32;
/** A connection's whole life: its request read, its answer written (a slow reader is cut). */
export const METRICS_DEADLINE_MS = 10_000;
/**
 * One address's share of the cap: with every connection taken, a newcomer from an address holding
 * fewer takes the place of the oldest connection of the address holding the most, if it holds more.
 * Below the cap an address may hold more (a balancer's or a test's burst of probes). An address is
 * an IPv4 address or an IPv6 /64.
 */
export const METRICS_SHARE_PER_ADDRESS = 8;

/** Counted connections by address key (IPv4 address, IPv6 /64), oldest first, and who gives up a place. */
export class AddressShares<T> {
  private readonly byKey = new Map<string, Set<T>>();

  /** The key `remote` (as a socket reports it: ::ffff:a.b.c.d for IPv4 on "::") counts under. */
  static keyOf(remote: string | undefined): string {
    return addressKey(remote ?? "");
  }

  add(key: string, item: T): void {
    const mine = this.byKey.get(key);
    if (mine) mine.add(item);
    else this.byKey.set(key, new Set([item]));
  }

  delete(key: string, item: T): void {
    const mine = this.byKey.get(key);
    mine?.delete(item);
    if (mine?.size === 0) this.byKey.delete(key);
  }

  /** All taken: the oldest item of the key holding the most, when it holds more than its share and than `key`. */
  victim(key: string): T | null {
    const mine = this.byKey.get(key)?.size ?? 0;
    if (mine >= METRICS_SHARE_PER_ADDRESS) return null;
    let most: Set<T> | null = null;
    for (const set of this.byKey.values()) if (!most || set.size > most.size) most = set;
    if (!most || most.size <= METRICS_SHARE_PER_ADDRESS) return null;
    return most.values().next().value ?? null;
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface MetricsListener {
  readonly port: number;
  stop(): void;
}

interface Conn {
  counted: boolean;
  /** The peer's address key (IPv4 address, IPv6 /64), under which `shares` holds the socket while it is counted. */
  address: string;
  received: Buffer[];
  size: number;
  answered: boolean;
  out: Buffer | null;
  off: number;
  timer: ReturnType<typeof setTimeout> | null;
}

const REASONS: Record<number, string> = { 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 431: "Request Header Fields Too Large", 503: "Service Unavailable", 505: "HTTP Version Not Supported" };

/** Listen on host:port; `answer` gets each request's method and path. Throws (EADDRINUSE…) like Bun.listen. */
export function listenMetricsHttp(host: string, port: number, answer: (method: string, path: string) => Promise<HttpAnswer>): MetricsListener {
  let open = 0;
  const shares = new AddressShares<Socket<Conn>>();
  const uncount = (s: Socket<Conn>) => {
    const c = s.data;
    if (!c?.counted) return;
    c.counted = false;
    open--;
    if (c.timer) clearTimeout(c.timer);
    shares.delete(c.address, s);
  };
  const listener: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: host,
    port,
    socket: {
      open(s) {
        const address = AddressShares.keyOf(s.remoteAddress);
        if (open >= METRICS_MAX_CONNECTIONS) {
          const evicted = shares.victim(address);
          if (!evicted) {
            s.data = { counted: false, address, received: [], size: 0, answered: true, out: null, off: 0, timer: null };
            s.terminate();
            return;
          }
          uncount(evicted);
          evicted.terminate();
        }
        open++;
        s.data = { counted: true, address, received: [], size: 0, answered: false, out: null, off: 0, timer: setTimeout(() => s.terminate(), METRICS_DEADLINE_MS) };
        shares.add(address, s);
      },
      data(s, chunk) {
        const c = s.data;
        if (c.answered) return;
        c.received.push(chunk);
        c.size += chunk.length;
        const head = parseHttpHead(c.received.length === 1 ? c.received[0]! : Buffer.concat(c.received));
        if (head.kind === "incomplete") return;
        c.answered = true;
        c.received = [];
        if (head.kind === "bad") return send(s, { status: head.status, body: `${head.reason.toLowerCase()}\n` }, false);
        answer(head.method, head.path).then(
          (a) => send(s, a, head.method === "HEAD"),
          () => send(s, { status: 503, body: "internal error\n" }, false),
        );
      },
      drain(s) {
        flush(s);
      },
      close(s) {
        uncount(s);
      },
      error() {},
    },
  });
  return {
    get port() {
      return listener.port;
    },
    stop() {
      listener.stop(true);
    },
  };
}

function send(s: Socket<Conn>, a: HttpAnswer, headOnly: boolean): void {
  const body = Buffer.from(a.body);
  const headers = { "content-type": "text/plain; charset=utf-8", ...a.headers, "content-length": String(body.length), connection: "close" };
  const head = `HTTP/1.1 ${a.status} ${REASONS[a.status] ?? "Status"}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  s.data.out = headOnly ? Buffer.from(head) : Buffer.concat([Buffer.from(head), body]);
  s.data.off = 0;
  flush(s);
}

/** Write what the socket takes (Bun's write does not buffer the rest); all written: shut down, the peer closes. */
function flush(s: Socket<Conn>): void {
  const c = s.data;
  if (!c?.out) return;
  while (c.off < c.out.length) {
    const n = s.write(c.out, c.off, c.out.length - c.off);
    if (n <= 0) return;
    c.off += n;
  }
  c.out = null;
  s.shutdown();
}
