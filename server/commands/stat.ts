// STAT — RFC 959 §4.1.3: server/transfer status, or a listing over the control connection.
import type { CommandSpec } from "./types.ts";
import { formatListLine } from "../../protocol/listing.ts";
import { formatSize } from "../../protocol/size.ts";
import { entriesFor } from "./list.ts";

export const stat: CommandSpec = {
  verbs: ["STAT"],
  auth: false,
  arg: "optional",
  duringTransfer: true,
  help: "STAT [path]: status, or a listing on the control connection",
  async handle({ session, arg }) {
    const t = session.transfer;
    if (t) {
      const total = t.size !== undefined ? ` of ${t.size}` : "";
      session.reply(213, `Status: ${t.verb} ${t.vpath}: ${t.bytes}${total} bytes transferred`);
      return;
    }
    if (arg && session.user) {
      const { entries } = await entriesFor(session, arg);
      const now = new Date();
      session.reply(213, ["Status follows:", ...entries.map((e) => formatListLine(e, now)), "End of status"]);
      return;
    }
    const lines = [
      "ftpkit FTP server status:",
      `Connected to ${session.remoteIp}`,
      session.user ? `Logged in as ${session.user.name}` : "Not logged in",
      `TYPE: ${session.type === "I" ? "BINARY" : "ASCII"}, STRUcture: File, MODE: Stream`,
      `Session bandwidth limit: ${session.server.options.maxRate ? formatSize(session.server.options.maxRate) + "/s" : "none"}`,
      `Control connection ${session.tls.control ? "encrypted (TLS)" : "plain text"}`,
      "End of status",
    ];
    session.reply(211, lines);
  },
};
