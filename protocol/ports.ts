// Where a listener for one data connection goes (the server's passive listeners, the client's active
// ones): a named port picked at random, not port 0. For port 0 the kernel looks for a port no socket
// uses, TIME_WAIT ones included, and every finished transfer leaves one for a minute: after a few
// thousand transfers that search cost 0.4 ms of CPU per listen (82% of a server's CPU in a 1,000-file
// mirror) and it grew with every transfer. A named port binds at once, also over TIME_WAIT (Bun's
// listeners set SO_REUSEADDR), as vsftpd's random passive ports do.
import { readFileSync } from "node:fs";

export type PortRange = readonly [number, number];

/** IANA's dynamic ports: the range when the kernel's cannot be read. */
const DYNAMIC_PORTS: PortRange = [49152, 65535];

/** The kernel's ephemeral range (where port 0 would land), or IANA's dynamic range. */
export function ephemeralPorts(readRange = () => readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")): PortRange {
  try {
    const [lo, hi] = readRange().trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo! >= 1024 && lo! <= hi! && hi! <= 65535) return [lo!, hi!];
  } catch {}
  return DYNAMIC_PORTS;
}

let ephemeral: PortRange | undefined;
/** Ports of the ephemeral range tried before leaving the choice to the kernel. */
const EPHEMERAL_TRIES = 16;

const inUse = (err: unknown) => (err as { code?: string }).code === "EADDRINUSE";

/**
 * Listen with `listen(port)` on a free port of `range` (every port in turn from a random one; null
 * when all are taken) or, without a range, on a random port of the ephemeral range (port 0 after
 * EPHEMERAL_TRIES ports in use). Errors other than "in use" are thrown.
 */
export function listenOnFreePort<T>(listen: (port: number) => T, range?: PortRange): T | null {
  const [lo, hi] = range ?? (ephemeral ??= ephemeralPorts());
  const count = hi - lo + 1;
  const first = Math.floor(Math.random() * count);
  for (let i = 0; i < (range ? count : Math.min(count, EPHEMERAL_TRIES)); i++) {
    try {
      return listen(lo + ((first + i) % count));
    } catch (err) {
      if (!inUse(err)) throw err;
    }
  }
  return range ? null : listen(0);
}
