// STRU — RFC 959 §4.1.2: only F (file).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const stru: CommandSpec = {
  verbs: ["STRU"],
  auth: false,
  arg: "required",
  help: "STRU F: file structure (file only)",
  handle({ session, arg }) {
    if (arg.trim().toUpperCase() !== "F") throw new FtpError(504, "Only STRU F (file) is supported");
    session.reply(200, "Structure set to F");
  },
};
