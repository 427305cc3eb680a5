// DELE — RFC 959 §4.1.3: delete a file; needs modify; frees its bytes in the quota.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { resolveFor } from "./shared.ts";

export const dele: CommandSpec = {
  verbs: ["DELE"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "DELE <file>: delete a file",
  async handle({ session, arg }) {
    const r = resolveFor(session, arg, "modify");
    const st = await r.mount.storage.stat(r.key);
    if (st.type === "dir") throw new FtpError(550, "Is a directory (use RMD)");
    await r.mount.storage.remove(r.key);
    r.mount.ledger.release(st.size);
    session.server.log.info("delete", { session: session.id, user: session.userName, path: r.vpath, bytes: st.size });
    session.server.events.emit({ type: "delete", session, vpath: r.vpath, bytes: st.size });
    session.reply(250, "File deleted");
  },
};
