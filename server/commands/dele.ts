// DELE — RFC 959 §4.1.3: delete a file; needs modify; frees its bytes in the quota.
import type { CommandSpec } from "./types.ts";

export const dele: CommandSpec = {
  verbs: ["DELE"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "DELE <file>: delete a file",
  async handle({ session, arg }) {
    const { vpath, bytes } = await session.fs.remove(arg);
    session.server.log.info("delete", { session: session.id, user: session.userName, path: vpath, bytes });
    session.reply(250, "File deleted");
  },
};
