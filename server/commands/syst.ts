// SYST — RFC 959 §4.1.3: clients use it to pick a LIST parser.
import type { CommandSpec } from "./types.ts";

export const syst: CommandSpec = {
  verbs: ["SYST"],
  auth: false,
  arg: "none",
  help: "SYST: system type",
  handle({ session }) {
    session.reply(215, "UNIX Type: L8");
  },
};
