// ALLO — RFC 959 §4.1.3: not needed for storage, but a size beyond the remaining quota is refused early.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { usageShown } from "../vfs/mounts.ts";

export const allo: CommandSpec = {
  verbs: ["ALLO"],
  auth: true,
  arg: "required",
  help: "ALLO <bytes>: announce an upload size (checked against the quota)",
  async handle({ session, arg }) {
    const m = /^\s*(\d+)/.exec(arg);
    if (!m) throw new FtpError(501, "ALLO needs a byte count");
    // The quota an upload here would use, as AVBL and STOR see it: the current directory's mount
    // (one with a limit of its own counts apart from the home), measured before it is read.
    const { mount } = session.fs.resolve(".");
    const { ledger } = mount;
    // Where the usage is not shown (a drop box: others' bytes), only the limit itself is checked.
    const left = usageShown(session, mount) ? (await ledger.measured(), ledger.available()) : ledger.limit > 0 ? ledger.limit : Infinity;
    const wanted = Number(m[1]);
    if (wanted > left) throw new FtpError(552, "Not enough quota left for that size");
    // The disk (or filesystem) under it too, as AVBL counts it: "space is available" was said of
    // 10^17 bytes on an 80 GB disk. A store that cannot say (S3) has room.
    const free = (await mount.storage.freeBytes?.().catch(() => undefined)) ?? Infinity;
    if (wanted > free) throw new FtpError(552, "Not enough space on the server for that size");
    session.reply(202, "ALLO not needed; space is available");
  },
};
