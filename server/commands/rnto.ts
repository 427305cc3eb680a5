// RNTO — RFC 959 §4.1.3: complete a rename within one mount; needs modify on both ends.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const rnto: CommandSpec = {
  verbs: ["RNTO"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "RNTO <to>: rename to (after RNFR)",
  async handle({ session, arg }) {
    const fromPath = session.renameFrom;
    session.renameFrom = null;
    if (fromPath === null) throw new FtpError(503, "RNFR required first");
    const { from, to } = await session.fs.rename(fromPath, arg);
    session.server.log.info("rename", { session: session.id, user: session.userName, from, to });
    session.reply(250, "Rename successful");
  },
};
