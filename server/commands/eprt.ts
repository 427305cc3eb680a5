// EPRT — RFC 2428 §2: extended active mode (IPv4 and IPv6), same bounce protection as PORT.
import type { CommandSpec } from "./types.ts";
import { canonicalIp, isIPv4, parseEprt, type HostPort } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import { activeEndpoint } from "./active-shared.ts";

export const eprt: CommandSpec = {
  verbs: ["EPRT"],
  auth: true,
  arg: "required",
  help: "EPRT |af|addr|port|: extended active mode",
  feat: "EPRT",
  handle({ session, arg }) {
    const text = arg.trim();
    // RFC 2428 §2: a network protocol the server does not support MUST get 522 with the ones it
    // does (ProFTPD: "522 Network protocol not supported, use (1)"), as EPSV's argument here. The
    // other family than the control connection's is one: a data connection goes only to the client's
    // own address (ProFTPD answers 522 too). Another address of the same family stays a bounce refusal (501).
    let target: HostPort | null = null;
    try {
      target = parseEprt(text);
    } catch {}
    // The family of the address given, not of its |af| field: `|2|::ffff:127.0.0.1|` (Python's
    // ftplib on a dual-stack socket) is the IPv4 client's own address, and was refused with 522.
    const af = target ? (isIPv4(canonicalIp(target.host)) ? "1" : "2") : text.length > 1 ? text.split(text[0]!)[1] : undefined;
    const own = isIPv4(session.remoteIp) ? "1" : "2";
    if (!session.epsvAll && af !== undefined && /^\d+$/.test(af) && af !== own) {
      throw new FtpError(522, `Network protocol not supported, use (${own})`);
    }
    activeEndpoint(session, target, "EPRT");
  },
};
