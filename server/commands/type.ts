// TYPE — RFC 959 §4.1.2: A (ASCII) or I (image). Files are always sent unchanged, as vsftpd does by default.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const type: CommandSpec = {
  verbs: ["TYPE"],
  auth: false,
  arg: "required",
  help: "TYPE A|I: representation type (A N and L 8 accepted)",
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
