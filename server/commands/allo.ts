// ALLO — RFC 959 §4.1.3: not needed for storage, but a size beyond the remaining quota is refused early.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const allo: CommandSpec = {
  verbs: ["ALLO"],
  auth: true,
  arg: "required",
  help: "ALLO <bytes>: announce an upload size (checked against the quota)",
  handle({ session, arg }) {
    const m = /^\s*(\d+)/.exec(arg);
    if (!m) throw new FtpError(501, "ALLO needs a byte count");
    const ledger = session.mounts.find((x) => x.vpath === "/")!.ledger;
    if (Number(m[1]) > ledger.available()) throw new FtpError(552, "Not enough quota left for that size");
    session.reply(202, "ALLO not needed; space is available");
  },
};
