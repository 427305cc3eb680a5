// USER — RFC 959 §4.1.1: name the account; the password follows with PASS.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const user: CommandSpec = {
  verbs: ["USER"],
  auth: false,
  arg: "required",
  help: "USER <name>: log in as <name> (anonymous or ftp for the anonymous account)",
  async handle({ session, arg }) {
    if (session.user) throw new FtpError(530, "Already logged in; reconnect to change user");
    const refusal = await session.server.loginTlsRefusal?.(session, arg);
    if (session.closed) return;
    if (refusal) throw refusal;
    session.pendingUser = arg;
    const anonymous = /^(anonymous|ftp)$/i.test(arg);
    session.reply(331, anonymous ? "Anonymous login okay, send your e-mail address as password" : "Please specify the password");
  },
};
