// MKD — RFC 959 §4.1.3 (XMKD: RFC 775): needs modify; the 257 reply quotes the new path.
import type { CommandSpec } from "./types.ts";
import { quotePath } from "../../protocol/path.ts";
import { StorageError } from "../storage/backend.ts";
import { resolveFor } from "./shared.ts";

export const mkd: CommandSpec = {
  verbs: ["MKD", "XMKD"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "MKD <dir>: make a directory",
  async handle({ session, arg }) {
    const r = resolveFor(session, arg, "modify");
    if (r.virtual) throw new StorageError("exists");
    await r.mount.storage.mkdir(r.key);
    session.server.log.info("mkdir", { session: session.id, user: session.userName, path: r.vpath });
    session.server.events.emit({ type: "mkdir", session, vpath: r.vpath });
    session.reply(257, `${quotePath(r.vpath)} created`);
  },
};
