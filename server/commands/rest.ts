// REST — RFC 3659 §5: restart the next RETR/STOR at a byte offset.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const rest: CommandSpec = {
  verbs: ["REST"],
  auth: true,
  arg: "required",
  help: "REST <offset>: restart the next transfer at <offset>",
  feat: "REST STREAM",
  handle({ session, arg }) {
    const t = arg.trim();
    if (!/^\d{1,15}$/.test(t)) throw new FtpError(501, "REST needs a non-negative byte offset");
    session.restOffset = Number(t);
    session.rangeEnd = null;
    session.reply(350, `Restart position accepted (${session.restOffset})`);
  },
};
