// MDTM — RFC 3659 §3: modification time (UTC); needs read.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { formatTimeVal } from "../../protocol/listing.ts";
import { resolveFor } from "./shared.ts";

export const mdtm: CommandSpec = {
  verbs: ["MDTM"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "MDTM <file>: modification time",
  feat: "MDTM",
  async handle({ session, arg }) {
    const r = resolveFor(session, arg, "read");
    const st = await r.mount.storage.stat(r.key);
    if (st.type !== "file") throw new FtpError(550, "Not a regular file");
    session.reply(213, formatTimeVal(st.mtime));
  },
};
