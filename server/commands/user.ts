// USER — RFC 959 §4.1.1: name the account; the password follows with PASS.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const user: CommandSpec = {
  verbs: ["USER"],
  auth: false,
  arg: "required",
  help: "USER <name>: log in as <name> (anonymous or ftp for the anonymous account)",
  async handle({ session, arg }) {
    if (session.user) {
      // The same account again (a script's explicit login after tnftp's .netrc one, ftplib's
      // login() on a logged-in connection) is answered as ProFTPD answers it: 230, nothing changes
      // and no password is asked; vsftpd asks one and then says 230 too. Another name stays refused.
      if (sameAccount(arg, session.user.name)) return session.reply(230, "Already logged in");
      throw new FtpError(530, "Already logged in; reconnect to change user");
    }
    const refusal = await session.server.loginTlsRefusal?.(session, arg);
    if (session.closed) return;
    if (refusal) throw refusal;
    session.pendingUser = arg;
    const anonymous = ANONYMOUS.test(arg);
    session.reply(331, anonymous ? "Anonymous login okay, send your e-mail address as password" : "Please specify the password");
  },
};

const ANONYMOUS = /^(anonymous|ftp)$/i;

function sameAccount(name: string, loggedIn: string): boolean {
  return name === loggedIn || (ANONYMOUS.test(name) && ANONYMOUS.test(loggedIn));
}
