// TYPE — RFC 959 §3.1.1, §4.1.2: A (ASCII: lines sent as CRLF, stored as LF) or I (image: bytes unchanged).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

/** REST/RANG offsets are positions in the stored file; in TYPE A the wire bytes differ, so no resuming. */
export const ASCII_NO_RESUME = "Resuming transfers not allowed in ASCII mode; use TYPE I";

export const type: CommandSpec = {
  verbs: ["TYPE"],
  auth: false,
  arg: "required",
  help: "TYPE A|I: ASCII (CRLF line ends on the wire) or binary; A N and L 8 accepted; I is the default",
  handle({ session, arg }) {
    const t = arg.trim().toUpperCase();
    if (t === "A" || t === "A N") {
      session.type = "A";
      session.reply(200, "Switching to ASCII mode");
    } else if (t === "I" || t === "L 8" || t === "L8") {
      session.type = "I";
      session.reply(200, "Switching to Binary mode");
    } else throw new FtpError(504, "Unsupported TYPE (use A or I)");
  },
};
