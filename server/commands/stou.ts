// STOU — RFC 959 §4.1.3, RFC 1123 §4.1.2.9: store under a new name, given in the 150 as "FILE: name".
import type { CommandSpec } from "./types.ts";
import type { Session } from "../session.ts";
import type { UploadClaim } from "../vfs/vfs.ts";
import { StorageError } from "../storage/backend.ts";
import { FtpError } from "../../protocol/errors.ts";
import { storeFile } from "./stor.ts";
import { slashedUploadName } from "../vfs/resolve.ts";

/** Names tried before giving up (vsftpd tries its suffixes the same way, one stat each). */
const MAX_TRIES = 10_000;

/**
 * As vsftpd (wu-ftpd's scheme): the argument itself when it is free, else it (or "STOU" without
 * one) with ".1", ".2"… until a name is free, kept as the client wrote it (relative stays relative).
 * The name is reserved before the 150 (the claim a STOR of a new name takes), and one reserved by
 * another upload, or created between the look and the reservation, is passed over like a taken
 * one: concurrent STOUs, held apart by a pre-upload hook, all chose STOU.1 and all but one got 550
 * after their "150 FILE: STOU.1" (vsftpd's exclusive create moves on to the next suffix). The
 * create itself stays exclusive: a name another program takes before it fails the upload rather
 * than replace a file.
 */
async function planUnique(session: Session, arg: string) {
  const given = arg.trim();
  const base = given || "STOU";
  // "d/" would go on to d/.1, a file inside d: a name ending in / is refused as STOR refuses it.
  if (session.fs.resolve(base).dirOnly) throw slashedUploadName();
  for (let n = given ? 0 : 1; n <= MAX_TRIES; n++) {
    const name = n === 0 ? base : `${base}.${n}`;
    if (await session.fs.statOrNull(session.fs.resolve(name))) continue;
    const plan = await session.fs.planUpload(name, { append: false, offset: 0 });
    if (plan.mode.kind !== "create") continue; // created meanwhile
    let claim: UploadClaim | null;
    try {
      claim = await session.fs.claimUpload(plan);
    } catch (err) {
      // Another upload has reserved it, or something that is not a file holds it (a FIFO, a dangling symlink).
      if (isBusy(err) || (err instanceof StorageError && err.kind === "exists")) continue;
      throw err;
    }
    if (claim && (await session.fs.statOrNull(plan.r).catch(() => "unknown"))) {
      claim[Symbol.dispose](); // created between the look and the reservation
      continue;
    }
    return { plan, opening: `FILE: ${name}`, claim };
  }
  throw new FtpError(553, "No unique file name left");
}

function isBusy(err: unknown): boolean {
  return err instanceof StorageError && err.kind === "transient" && err.message === "file busy";
}

export const stou: CommandSpec = {
  verbs: ["STOU"],
  auth: true,
  arg: "optional",
  perm: "write",
  help: "STOU [name]: upload under a new name (name if free, else name.1, name.2, ...; STOU.1 without one), given in the 150 reply",
  handle: (ctx) => storeFile(ctx, false, planUnique),
};
