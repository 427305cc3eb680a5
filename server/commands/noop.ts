// NOOP — RFC 959 §4.1.3.
import type { CommandSpec } from "./types.ts";

export const noop: CommandSpec = {
  verbs: ["NOOP"],
  auth: false,
  arg: "optional",
  help: "NOOP: do nothing (keeps the connection alive)",
  handle({ session }) {
    session.reply(200, "NOOP ok");
  },
};
