// SIZE — RFC 3659 §4: size of a file in bytes; needs read.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { resolveFor } from "./shared.ts";

export const size: CommandSpec = {
  verbs: ["SIZE"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "SIZE <file>: file size",
  feat: "SIZE",
  async handle({ session, arg }) {
    const r = resolveFor(session, arg, "read");
    const st = await r.mount.storage.stat(r.key);
    if (st.type !== "file") throw new FtpError(550, "Not a regular file");
    session.reply(213, String(st.size));
  },
};
