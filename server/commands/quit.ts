// QUIT — RFC 959 §4.1.1: finish a running transfer, say goodbye, close.
import type { CommandSpec } from "./types.ts";

export const quit: CommandSpec = {
  verbs: ["QUIT"],
  auth: false,
  arg: "optional",
  duringTransfer: "in-turn",
  help: "QUIT: end the session (after a running transfer completes)",
  async handle({ session }) {
    if (session.transfer) await session.transfer.done;
    // No transfer follows QUIT: a data connection accepted for one ends now, not when the control
    // connection is finally closed (a TLS control connection may linger for its peer's shutdown).
    session.setDataEndpoint(null);
    session.replyAndAwaitClose(221, session.server.options.goodbye);
  },
};
