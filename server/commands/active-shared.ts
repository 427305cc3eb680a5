import { canonicalIp, type HostPort } from "../../protocol/address.ts";
import { parseIp } from "../../protocol/cidr.ts";
import { FtpError } from "../../protocol/errors.ts";
import { ActiveEndpoint } from "../data/active.ts";
import type { Session } from "../session.ts";

/** Validate a PORT/EPRT target (no FTP bounce: RFC 2577 §3) and remember it for the next transfer. */
export function activeEndpoint(session: Session, target: HostPort | null, verb: string): void {
  if (session.epsvAll) throw new FtpError(503, `${verb} not allowed after EPSV ALL`);
  if (!target) throw new FtpError(501, `Illegal ${verb} command: bad address`);
  const { server } = session;
  if (!sameAddress(target.host, session.remoteIp) || target.port < 1024) {
    server.log.warn("active data connection refused (bounce protection)", {
      session: session.id,
      ip: session.remoteIp,
      target: `${target.host}:${target.port}`,
    });
    throw new FtpError(501, `Illegal ${verb} command: only your own address and ports >= 1024 are allowed`);
  }
  const host = canonicalIp(session.remoteIp); // the same address, as the system spells it
  session.setDataEndpoint(
    new ActiveEndpoint(
      { host, port: target.port },
      {
        connectTimeoutMs: server.options.dataTimeoutMs,
        connector: session.activeConnects,
        adopt: server.adoptDataSocket ? (socket, ip) => server.adoptDataSocket!(session, socket, ip) : undefined,
      },
    ),
  );
  session.reply(200, `${verb} command successful. Consider using EPSV`);
}

/**
 * The same address, however written: compared as text, "0:0:0:0:0:0:0:1" (Java's getHostAddress,
 * which Apache Commons Net's EPRT sends) was not "::1", and its active transfers were refused.
 */
function sameAddress(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return !!x && !!y && x.length === y.length && x.every((byte, i) => byte === y[i]);
}
