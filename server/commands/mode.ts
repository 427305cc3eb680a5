// MODE — RFC 959 §4.1.2: only S (stream).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const mode: CommandSpec = {
  verbs: ["MODE"],
  auth: false,
  arg: "required",
  help: "MODE S: transfer mode (stream only)",
  handle({ session, arg }) {
    if (arg.trim().toUpperCase() !== "S") throw new FtpError(504, "Only MODE S (stream) is supported");
    session.reply(200, "Mode set to S");
  },
};
