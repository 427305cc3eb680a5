// AVBL — draft-peterson-streamlined-ftp-command-extensions: bytes available for upload here.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { usageShown } from "../vfs/mounts.ts";

export const avbl: CommandSpec = {
  verbs: ["AVBL"],
  auth: true,
  arg: "optional",
  help: "AVBL [dir]: bytes available for upload (quota or free disk space)",
  feat: "AVBL",
  async handle({ session, arg }) {
    const r = session.fs.resolve(arg || ".");
    // First: in a write-only drop box the answer must not tell a file there from one that is not.
    if (!usageShown(session, r.mount)) throw new FtpError(550, "Available space is not shown here; an upload that does not fit gets 552");
    // A path that does not exist has no space available: 550, as for any command naming it (was 213 and the home's figure).
    if (arg) await session.fs.statResolved(r);
    await r.mount.ledger.measured();
    const left = r.mount.ledger.available();
    const free = (await r.mount.storage.freeBytes?.().catch(() => undefined)) ?? Infinity;
    const value = Math.min(left, free);
    // No quota and a store that cannot tell its free space (S3): no number is known, so the command is
    // refused (550, as ftpserverlib answers when its driver cannot tell) rather than answered with one.
    // Before, 213 2^53-1 was a made-up figure a client could trust to decide that an upload fits.
    if (!Number.isFinite(value)) throw new FtpError(550, "Available space unknown: no quota applies here and the storage cannot tell its free space");
    session.reply(213, String(value));
  },
};
