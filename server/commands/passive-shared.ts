import { canonicalIp } from "../../protocol/address.ts";
import { PassiveEndpoint } from "../data/passive.ts";
import type { Session } from "../session.ts";
import { PROXY_HEADER_TIMEOUT_MS } from "../control.ts";

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
    onRejected: (ip) =>
      server.log.warn("data connection refused: foreign address", { session: session.id, ip, expected: session.remoteIp }),
  });
  session.setDataEndpoint(endpoint);
  return endpoint;
}
