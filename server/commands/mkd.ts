// MKD — RFC 959 §4.1.3 (XMKD: RFC 775): needs modify; the 257 reply quotes the new path.
import type { CommandSpec } from "./types.ts";
import { quotePath } from "../../protocol/path.ts";

export const mkd: CommandSpec = {
  verbs: ["MKD", "XMKD"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "MKD <dir>: make a directory",
  async handle({ session, arg }) {
    const vpath = await session.fs.mkdir(arg);
    session.server.log.info("mkdir", { session: session.id, user: session.userName, path: vpath });
    session.reply(257, `${quotePath(vpath)} created`);
  },
};
