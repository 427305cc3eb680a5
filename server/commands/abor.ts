// ABOR — RFC 959 §4.1.3: stop the running transfer (426 for it, then 226 for ABOR).
import type { CommandSpec } from "./types.ts";

export const abor: CommandSpec = {
  verbs: ["ABOR"],
  auth: true,
  arg: "none",
  duringTransfer: true,
  help: "ABOR: abort the running transfer",
  async handle({ session }) {
    const t = session.transfer;
    if (!t) {
      session.setDataEndpoint(null);
      session.reply(225, "No transfer to abort");
      return;
    }
    t.abort("abor");
    session.setDataEndpoint(null);
    await t.done;
    session.reply(226, "ABOR successful");
  },
};
