// MLST — RFC 3659 §7: facts about one path, on the control connection; needs read.
import type { CommandSpec } from "./types.ts";
import { formatMlsxLine } from "../../protocol/listing.ts";
import { permFacts } from "./shared.ts";

export const mlst: CommandSpec = {
  verbs: ["MLST"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "MLST [path]: facts about one file or directory",
  async handle({ session, arg }) {
    const r = session.fs.resolve(arg || ".", "read");
    const st = await session.fs.statResolved(r);
    const line = formatMlsxLine({ name: r.vpath, ...st, perm: permFacts(r.mount.perms, st.type, r.virtual) }, { facts: session.mlstFacts });
    session.reply(250, [`Listing ${r.vpath}`, ` ${line}`, "End"]);
  },
};
