// STAT — RFC 959 §4.1.3: server/transfer status, or a listing over the control connection.
import type { CommandSpec } from "./types.ts";
import { formatListLine } from "../../protocol/listing.ts";
import { formatSize } from "../../protocol/size.ts";
import { formatReplyMiddle } from "../../protocol/reply.ts";
import { maskUnsafeNameChars } from "../../protocol/printable.ts";
import { listingTarget } from "./list.ts";
import { replyForError } from "./errors.ts";

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
    // Spaces alone name nothing: STAT alone, as ProFTPD takes it (they listed the current directory).
    if (arg.trim() !== "" && session.user) {
      // A big directory goes out batch by batch, each only once the client has read enough of the
      // last: the reply is never held whole in memory.
      const now = new Date();
      const { batches, held } = await listingTarget(session, arg);
      using _share = held ?? null;
      session.send(`213-Status follows:\r\n`);
      try {
        for await (const batch of batches) {
          if (session.closed) return;
          session.send(formatReplyMiddle(batch.map((e) => maskUnsafeNameChars(formatListLine(e, now)))));
          await session.writable();
        }
      } catch (err) {
        // The 213 reply has begun: it ends as one, saying why (a 451 now would end it malformed).
        const r = replyForError(err);
        if (r.unexpected) session.server.log.error("command failed", { session: session.id, verb: "STAT", error: String(err) });
        session.reply(213, `End of status, cut short: ${r.text}`);
        return;
      }
      session.reply(213, "End of status");
      return;
    }
    const lines = [
      "ftpkit FTP server status:",
      `Connected to ${session.remoteIp}`,
      session.user ? `Logged in as ${session.user.name}` : "Not logged in",
      `TYPE: ${session.type === "I" ? "BINARY" : "ASCII"}, STRUcture: File, MODE: ${session.mode === "B" ? "Block" : "Stream"}`,
      // vsftpd's wording: clients and the probe read the idle timeout from here.
      `Session timeout in seconds is ${session.server.options.idleTimeoutSec}`,
      `Session bandwidth limit: ${session.server.options.maxRate ? formatSize(session.server.options.maxRate) + "/s" : "none"}`,
      `Control connection ${session.tls.control ? "encrypted (TLS)" : "plain text"}`,
      "End of status",
    ];
    session.reply(211, lines);
  },
};
