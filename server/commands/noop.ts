// NOOP — RFC 959 §4.1.3.
import type { CommandSpec } from "./types.ts";

export const noop: CommandSpec = {
  verbs: ["NOOP"],
  auth: false,
  arg: "optional",
  // Answered while a transfer runs, as ProFTPD (uploads) and Pure-FTPd do: Commons Net's control
  // keep-alive sends NOOP during a transfer and waits 1 s for each reply, block after block.
  duringTransfer: "in-turn",
  help: "NOOP: do nothing (keeps the connection alive)",
  handle({ session }) {
    session.reply(200, "NOOP ok");
  },
};
