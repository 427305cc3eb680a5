// EPSV — RFC 2428 §3: extended passive mode (IPv4 and IPv6); "EPSV ALL" locks out PORT/PASV.
import type { CommandSpec } from "./types.ts";
import { formatEpsvReply, isIPv4 } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import { openPassive } from "./passive-shared.ts";

export const epsv: CommandSpec = {
  verbs: ["EPSV"],
  auth: true,
  arg: "optional",
  help: "EPSV [1|2|ALL]: enter extended passive mode",
  feat: "EPSV",
  handle({ session, arg }) {
    const a = arg.trim().toUpperCase();
    if (a === "ALL") {
      session.epsvAll = true;
      session.reply(200, "EPSV ALL ok");
      return;
    }
    // RFC 2428 §3: the data connection comes over the protocol the client reached us by (behind a
    // balancer, the client's own address says which); vsftpd, ProFTPD and pyftpdlib refuse the other.
    const family = isIPv4(session.remoteIp) ? "1" : "2";
    if (a !== "" && a !== family) throw new FtpError(522, `Network protocol not supported, use (${family})`);
    const endpoint = openPassive(session);
    session.reply(229, formatEpsvReply(endpoint.port));
  },
};
