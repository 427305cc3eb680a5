// RNTO — RFC 959 §4.1.3: complete a rename within one mount; needs modify on both ends.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { resolveFor, statOrNull } from "./shared.ts";

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
    const from = resolveFor(session, fromPath, "modify");
    const to = resolveFor(session, arg, "modify");
    if (from.mount !== to.mount) throw new FtpError(550, "Cannot move across virtual directories");
    if (to.virtual) throw new FtpError(550, "Cannot overwrite a mount point");
    const replaced = await statOrNull(session, to);
    if (replaced?.type === "dir" && from.vpath !== to.vpath) throw new FtpError(550, "Target is an existing directory");
    await from.mount.storage.rename(from.key, to.key);
    if (replaced?.type === "file" && from.vpath !== to.vpath) to.mount.ledger.release(replaced.size);
    session.server.log.info("rename", { session: session.id, user: session.userName, from: from.vpath, to: to.vpath });
    session.server.events.emit({ type: "rename", session, from: from.vpath, vpath: to.vpath });
    session.reply(250, "Rename successful");
  },
};
