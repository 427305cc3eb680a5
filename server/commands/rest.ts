// REST — RFC 3659 §5: restart the next RETR/STOR at a byte offset.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { ASCII_NO_RESUME } from "./type.ts";

export const rest: CommandSpec = {
  verbs: ["REST"],
  auth: true,
  arg: "required",
  help: "REST <offset>: restart the next transfer at <offset> (a byte offset in MODE S and B, as REST STREAM)",
  feat: "REST STREAM",
  handle({ session, arg }) {
    const t = arg.trim();
    if (!/^\d+$/.test(t)) throw new FtpError(501, "REST needs a non-negative byte offset");
    // Beyond 15 digits (a PiB) no file here is that large, and the offset would not count exactly.
    if (t.length > 15) throw new FtpError(501, "REST offset out of range (at most 15 digits)");
    // Refused here, as ProFTPD and pyftpdlib do (501), not only at the RETR: a client told at REST
    // (wget -c) downloads the whole file instead, where a 550 to RETR read as "No such file".
    // The refused REST leaves no offset behind: the next transfer starts at 0, as the client expects.
    if (session.type === "A" && Number(t) > 0) {
      session.restOffset = 0;
      session.rangeEnd = null;
      throw new FtpError(501, ASCII_NO_RESUME);
    }
    session.restOffset = Number(t);
    session.rangeEnd = null;
    session.reply(350, `Restart position accepted (${session.restOffset})`);
  },
};
