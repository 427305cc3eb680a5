// SITE — RFC 959 §4.1.3: ftpkit's site commands (QUOTA, HELP).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { formatSize } from "../../protocol/size.ts";

export const site: CommandSpec = {
  verbs: ["SITE"],
  auth: true,
  arg: "required",
  help: "SITE QUOTA | SITE HELP",
  async handle({ session, arg }) {
    const sub = arg.trim().split(/\s+/)[0]!.toUpperCase();
    if (sub === "HELP") {
      session.reply(214, ["SITE commands:", "QUOTA: show your quota and usage", "End"]);
      return;
    }
    if (sub !== "QUOTA") throw new FtpError(504, "Unknown SITE command (try SITE HELP)");
    const lines = ["Quota status:"];
    for (const m of session.mounts) {
      if (m.vpath !== "/" && m.ledgerKey === session.mounts[0]!.ledgerKey) continue;
      await m.ledger.measured();
      const { limit, used } = m.ledger;
      const where = m.vpath === "/" ? "home" : m.vpath;
      lines.push(
        limit > 0
          ? `${where}: used ${used} of ${limit} bytes (${formatSize(used)} of ${formatSize(limit)}), ${limit - Math.min(used, limit)} bytes available`
          : `${where}: used ${used} bytes (${formatSize(used)}), unlimited`,
      );
    }
    lines.push("End");
    session.reply(211, lines);
  },
};
