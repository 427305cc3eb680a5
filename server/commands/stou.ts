// STOU — RFC 959 §4.1.3, RFC 1123 §4.1.2.9: store under a new name, given in the 150 as "FILE: name".
import type { CommandSpec } from "./types.ts";
import type { Session } from "../session.ts";
import { FtpError } from "../../protocol/errors.ts";
import { storeFile } from "./stor.ts";

/** Names tried before giving up (vsftpd tries its suffixes the same way, one stat each). */
const MAX_TRIES = 10_000;

/**
 * As vsftpd (wu-ftpd's scheme): the argument itself when it is free, else it (or "STOU" without
 * one) with ".1", ".2"… until a name is free, kept as the client wrote it (relative stays relative).
 * The create itself is exclusive: a name taken after this look fails the upload rather than replace
 * a file.
 */
async function planUnique(session: Session, arg: string) {
  const given = arg.trim();
  const base = given || "STOU";
  for (let n = given ? 0 : 1; n <= MAX_TRIES; n++) {
    const name = n === 0 ? base : `${base}.${n}`;
    if (await session.fs.statOrNull(session.fs.resolve(name))) continue;
    const plan = await session.fs.planUpload(name, { append: false, offset: 0 });
    return { plan, opening: `FILE: ${name}` };
  }
  throw new FtpError(553, "No unique file name left");
}

export const stou: CommandSpec = {
  verbs: ["STOU"],
  auth: true,
  arg: "optional",
  perm: "write",
  help: "STOU [name]: upload under a new name (name if free, else name.1, name.2…; STOU.1 without one), given in the 150 reply",
  handle: (ctx) => storeFile(ctx, false, planUnique),
};
