// MODE — RFC 959 §4.1.2 (§3.4): S (stream) and B (block: one data connection carries many transfers).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { KeptEndpoint } from "../data/kept.ts";

export const mode: CommandSpec = {
  verbs: ["MODE"],
  auth: false,
  arg: "required",
  help: "MODE S|B: transfer mode, stream or block (B keeps the data connection for the next transfer; REST is a byte offset)",
  handle({ session, arg }) {
    const m = arg.trim().toUpperCase();
    if (m !== "S" && m !== "B") throw new FtpError(504, "Only MODE S (stream) and MODE B (block) are supported");
    session.mode = m;
    // A connection kept by MODE B carries blocks: a stream-mode transfer cannot use it.
    if (m === "S" && session.dataEndpoint instanceof KeptEndpoint) session.setDataEndpoint(null);
    session.reply(200, `Mode set to ${m}.`);
  },
};
