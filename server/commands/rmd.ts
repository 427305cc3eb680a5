// RMD — RFC 959 §4.1.3 (XRMD: RFC 775): remove an empty directory; needs modify.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { resolveFor } from "./shared.ts";

export const rmd: CommandSpec = {
  verbs: ["RMD", "XRMD"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "RMD <dir>: remove an empty directory",
  async handle({ session, arg }) {
    const r = resolveFor(session, arg, "modify");
    if (r.virtual) throw new FtpError(550, "Cannot remove a mount point");
    if (session.cwd === r.vpath || session.cwd.startsWith(r.vpath + "/")) throw new FtpError(550, "Cannot remove the current directory");
    await r.mount.storage.rmdir(r.key);
    session.server.log.info("rmdir", { session: session.id, user: session.userName, path: r.vpath });
    session.server.events.emit({ type: "rmdir", session, vpath: r.vpath });
    session.reply(250, "Directory removed");
  },
};
