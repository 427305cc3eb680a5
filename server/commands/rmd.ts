// RMD — RFC 959 §4.1.3 (XRMD: RFC 775): remove an empty directory; needs modify.
import type { CommandSpec } from "./types.ts";

export const rmd: CommandSpec = {
  verbs: ["RMD", "XRMD"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "RMD <dir>: remove an empty directory",
  async handle({ session, arg }) {
    const vpath = await session.fs.rmdir(arg);
    session.server.log.info("rmdir", { session: session.id, user: session.userName, path: vpath });
    session.reply(250, "Directory removed");
  },
};
