// QUIT — RFC 959 §4.1.1: finish a running transfer, say goodbye, close.
import type { CommandSpec } from "./types.ts";

export const quit: CommandSpec = {
  verbs: ["QUIT"],
  auth: false,
  arg: "optional",
  duringTransfer: true,
  help: "QUIT: end the session (after a running transfer completes)",
  async handle({ session }) {
    if (session.transfer) await session.transfer.done;
    session.replyAndAwaitClose(221, session.server.options.goodbye);
  },
};
