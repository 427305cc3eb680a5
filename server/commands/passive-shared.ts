import { canonicalIp } from "../../protocol/address.ts";
import { PassiveEndpoint, PassiveRangeFull } from "../data/passive.ts";
import type { Session } from "../session.ts";
import { PROXY_HEADER_TIMEOUT_MS } from "../control-lifecycle.ts";
import type { ServerContext } from "../context.ts";
import { DataRefusalLog, REFUSAL_SUMMARY_MS } from "../tls/refusal-log.ts";

/** Passive connections from another address than the session's, per server: counted, not a line each. */
const foreignRefusals = new WeakMap<ServerContext, DataRefusalLog>();

function foreignRefusalLog(server: ServerContext): DataRefusalLog {
  let log = foreignRefusals.get(server);
  if (!log) {
    log = new DataRefusalLog(() => server.log, REFUSAL_SUMMARY_MS, {
      one: "data connection refused: foreign address",
      many: "data connections refused: foreign address",
    });
    foreignRefusals.set(server, log);
  }
  return log;
}

/** How often a passive range in use to its last port is said again in the log. */
const RANGE_FULL_REPORT_MS = 60_000;
/** Per server: when the full range was last said, and the refusals since. */
const rangeFull = new WeakMap<ServerContext, { at: number; refused: number }>();

/**
 * The client's 425 was its only trace: an admin could not tell that --pasv-ports is too small for the
 * transfers at once (or that something else holds its ports). One WARN, then at most one a minute
 * counting the refusals since.
 */
function reportRangeFull(server: ServerContext): void {
  const now = performance.now();
  const seen = rangeFull.get(server);
  if (seen && now - seen.at < RANGE_FULL_REPORT_MS) {
    seen.refused++;
    return;
  }
  const range = server.options.pasvPorts;
  server.log.warn("passive port range full: PASV/EPSV refused (425)", {
    range: range ? `${range[0]}-${range[1]}` : "any",
    ...(seen ? { refusedSinceLast: seen.refused + 1 } : {}),
    hint: "widen --pasv-ports, or see what holds its ports",
  });
  rangeFull.set(server, { at: now, refused: 0 });
}

/** Open a passive listener on the address the client reached us on, accepting only the client's IP. */
export function openPassive(session: Session): PassiveEndpoint {
  const { server } = session;
  session.setDataEndpoint(null);
  try {
    return listenFor(session);
  } catch (err) {
    if (err instanceof PassiveRangeFull) reportRangeFull(server);
    throw err;
  }
}

function listenFor(session: Session): PassiveEndpoint {
  const { server } = session;
  const endpoint = new PassiveEndpoint({
    bindHost: canonicalIp(session.localIp),
    portRange: server.options.pasvPorts,
    peerIp: session.remoteIp,
    acceptTimeoutMs: server.options.dataTimeoutMs,
    adopt: server.adoptDataSocket ? (socket, ip) => server.adoptDataSocket!(session, socket, ip) : undefined,
    proxyFrom: server.proxyFrom,
    upgrades: () => session.tls.protP,
    proxyHeaderTimeoutMs: PROXY_HEADER_TIMEOUT_MS,
    onProxyRefused: (ip, reason) => server.log.warn("data connection refused", { session: session.id, ip, reason }),
    onRejected: (ip) => foreignRefusalLog(server).refused(session, ip, "not the client's address", { expected: session.remoteIp }),
  });
  session.setDataEndpoint(endpoint);
  return endpoint;
}
