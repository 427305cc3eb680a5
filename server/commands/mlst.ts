// MLST — RFC 3659 §7: facts about one path, on the control connection; needs read.
import type { CommandSpec } from "./types.ts";
import type { Session } from "../session.ts";
import type { Resolved } from "../vfs/resolve.ts";
import type { FileInfo } from "../../protocol/listing.ts";
import { formatMlsxLine } from "../../protocol/listing.ts";
import { permFacts, toFileInfos } from "./shared.ts";

export const mlst: CommandSpec = {
  verbs: ["MLST"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "MLST [path]: facts about one file or directory",
  async handle({ session, arg }) {
    const r = session.fs.resolve(arg || ".", "read");
    const line = formatMlsxLine(await facts(session, r), { facts: session.mlstFacts });
    session.reply(250, [`Listing ${r.vpath}`, ` ${line}`, "End"]);
  },
};

/**
 * A link to a directory is the link, as its parent's MLSD lists it (type=OS.unix=slink:target): said
 * "type=dir", a client that looks a name up before a recursive delete went through it and emptied
 * the directory it names. "cur/" names that directory (Resolved.dirOnly), followed as CWD follows it.
 */
async function facts(session: Session, r: Resolved): Promise<FileInfo> {
  const link = r.dirOnly || r.virtual ? null : await r.mount.storage.dirLink?.(r.key);
  const [shown] = link ? toFileInfos([link], r.mount.perms) : [];
  if (shown) return { ...shown, name: r.vpath };
  const st = await session.fs.statResolved(r);
  return { name: r.vpath, ...st, perm: permFacts(r.mount.perms, st.type, r.virtual) };
}
