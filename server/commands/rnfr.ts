// RNFR — RFC 959 §4.1.3: name what to rename; needs modify.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { resolveFor } from "./shared.ts";

export const rnfr: CommandSpec = {
  verbs: ["RNFR"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "RNFR <from>: rename from (follow with RNTO)",
  async handle({ session, arg }) {
    session.renameFrom = null;
    const r = resolveFor(session, arg, "modify");
    if (r.virtual) throw new FtpError(550, "Cannot rename a mount point");
    await r.mount.storage.stat(r.key);
    session.renameFrom = r.vpath;
    session.reply(350, "Ready for RNTO");
  },
};
