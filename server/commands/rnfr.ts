// RNFR — RFC 959 §4.1.3: name what to rename; needs modify.
import type { CommandSpec } from "./types.ts";

export const rnfr: CommandSpec = {
  verbs: ["RNFR"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "RNFR <from>: rename from (follow with RNTO)",
  async handle({ session, arg }) {
    session.renameFrom = null;
    session.renameFrom = await session.fs.renameSource(arg);
    session.reply(350, "Ready for RNTO");
  },
};
