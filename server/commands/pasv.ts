// PASV — RFC 959 §4.1.2: listen for the client's data connection (IPv4 only; EPSV otherwise).
import type { CommandSpec } from "./types.ts";
import { canonicalIp, formatPasvReply, isIPv4 } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import { openPassive } from "./passive-shared.ts";

export const pasv: CommandSpec = {
  verbs: ["PASV"],
  auth: true,
  arg: "none",
  help: "PASV: enter passive mode",
  handle({ session }) {
    if (session.epsvAll) throw new FtpError(503, "PASV not allowed after EPSV ALL");
    // PASV carries an IPv4 address: the client must have come over IPv4 (behind a balancer its own
    // address says so, as for EPSV; the node's socket may be IPv6). It is told the address it dialed:
    // --pasv-address, else the balancer's (the PROXY header's destination), else ours.
    const announce = session.server.options.pasvAddress ?? canonicalIp(session.dialedIp);
    if (!isIPv4(session.remoteIp) || !isIPv4(announce)) throw new FtpError(425, "PASV needs IPv4; use EPSV");
    const endpoint = openPassive(session);
    session.reply(227, formatPasvReply({ host: announce, port: endpoint.port }));
  },
};
