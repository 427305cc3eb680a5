import { canonicalIp } from "../../protocol/address.ts";
import { PassiveEndpoint } from "../data/passive.ts";
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

/** Open a passive listener on the address the client reached us on, accepting only the client's IP. */
export function openPassive(session: Session): PassiveEndpoint {
  const { server } = session;
  session.setDataEndpoint(null);
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
