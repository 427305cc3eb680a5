// RANG — draft-bryan-ftp-range: a byte range for the next HASH or RETR ("RANG 1 0" resets).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const rang: CommandSpec = {
  verbs: ["RANG"],
  auth: true,
  arg: "required",
  help: "RANG <start> <end>: byte range (end exclusive) for the next HASH or RETR",
  feat: "RANG STREAM",
  handle({ session, arg }) {
    const m = /^\s*(\d{1,15})[ -](\d{1,15})\s*$/.exec(arg);
    if (!m) throw new FtpError(501, "RANG needs <start> <end>");
    const start = Number(m[1]);
    const end = Number(m[2]);
    if (start === 1 && end === 0) {
      session.restOffset = 0;
      session.rangeEnd = null;
      session.reply(350, "Range reset");
      return;
    }
    if (end < start) throw new FtpError(501, "RANG end is before start");
    session.restOffset = start;
    session.rangeEnd = end;
    session.reply(350, `Restarting at ${start}. End byte range at ${end}`);
  },
};
