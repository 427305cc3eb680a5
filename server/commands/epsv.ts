// EPSV — RFC 2428 §3: extended passive mode (IPv4 and IPv6); "EPSV ALL" locks out PORT/PASV.
import type { CommandSpec } from "./types.ts";
import { formatEpsvReply } from "../../protocol/address.ts";
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
    if (a !== "" && a !== "1" && a !== "2") throw new FtpError(522, "Network protocol not supported, use (1,2)");
    const endpoint = openPassive(session);
    session.reply(229, formatEpsvReply(endpoint.port));
  },
};
