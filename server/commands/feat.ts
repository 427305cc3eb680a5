// FEAT — RFC 2389 §3: the extensions, generated from the command table.
import type { CommandSpec } from "./types.ts";

export const feat: CommandSpec = {
  verbs: ["FEAT"],
  auth: false,
  arg: "none",
  help: "FEAT: list extensions",
  handle({ session }) {
    const lines = session.server.featureLines(session).map((f) => ` ${f}`);
    session.reply(211, ["Features:", ...lines, "End"]);
  },
};
