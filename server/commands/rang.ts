// RANG — draft-bryan-ftp-range: a byte range for the next HASH or RETR ("RANG 1 0" resets).
import type { CommandSpec } from "./types.ts";
import { parseRange } from "../../protocol/hash.ts";

export const rang: CommandSpec = {
  verbs: ["RANG"],
  auth: true,
  arg: "required",
  help: "RANG <start> <end>: byte range (both ends inclusive) for the next HASH or RETR; RANG 1 0 resets",
  feat: "RANG STREAM",
  handle({ session, arg }) {
    if (/^\s*1[ -]0\s*$/.test(arg)) {
      session.restOffset = 0;
      session.rangeEnd = null;
      session.reply(350, "Range reset");
      return;
    }
    const { start, end } = parseRange(arg); // end exclusive; a ParseError is answered 501
    session.restOffset = start;
    session.rangeEnd = end;
    session.reply(350, `Restarting at ${start}. End byte range at ${end - 1}`);
  },
};
