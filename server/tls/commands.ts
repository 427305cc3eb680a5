// AUTH, PBSZ, PROT, CCC — RFC 4217 §4–§6 (and RFC 2228 §3): the command rows FTPS adds to the table.
import { FtpError } from "../../protocol/errors.ts";
import type { CommandSpec } from "../commands/types.ts";
import type { Session } from "../session.ts";
import { ftpsOf, mustEncrypt, TLS_REFUSALS } from "./ftps.ts";

function runtimeOf(session: Session) {
  const ftps = ftpsOf(session.server);
  if (!ftps) throw new FtpError(502, "TLS is not configured on this server");
  return ftps;
}

/** AUTH TLS / AUTH SSL (RFC 4217 §4): 234, then the handshake on the same connection. */
export const auth: CommandSpec = {
  verbs: ["AUTH"],
  auth: false,
  arg: "required",
  help: "AUTH TLS: secure the control connection with TLS (explicit FTPS)",
  feat: ["AUTH TLS", "AUTH SSL"],
  handle({ session, arg }) {
    const ftps = runtimeOf(session);
    const mech = arg.trim().toUpperCase();
    if (!["TLS", "TLS-C", "SSL", "TLS-P"].includes(mech)) throw new FtpError(504, `AUTH ${mech.slice(0, 32)} not supported; use AUTH TLS`);
    if (session.tls.control) throw new FtpError(503, "Already using TLS");
    if (session.user) throw new FtpError(503, "AUTH must come before login");
    // Ready before 234 (or 431): after 234 the client speaks TLS, so nothing may fail in clear text.
    const material = ftps.prepareControl();
    session.reply(234, `AUTH ${mech} successful`);
    // CVE-2011-0411 class: commands that arrived in clear behind AUTH must not run after the handshake.
    session.input?.discard();
    ftps.upgradeControl(session, material);
    // RFC 2228: a security exchange resets the login state; SSL and TLS-P (old drafts) imply PROT P.
    session.pendingUser = null;
    if (mech === "SSL" || mech === "TLS-P") session.tls = { ...session.tls, pbsz: true, protP: true, impliedP: true };
  },
};

/** PBSZ (RFC 4217 §8): meaningless for TLS, but required before PROT; the size is always 0. */
export const pbsz: CommandSpec = {
  verbs: ["PBSZ"],
  auth: false,
  arg: "required",
  help: "PBSZ 0: protection buffer size (always 0 for TLS), required before PROT P",
  feat: "PBSZ",
  handle({ session, arg }) {
    runtimeOf(session);
    if (!session.tls.control) throw new FtpError(503, "PBSZ needs AUTH TLS first");
    if (!/^\d+$/.test(arg.trim())) throw new FtpError(501, "PBSZ needs a number (0)");
    session.tls.pbsz = true;
    session.reply(200, "PBSZ=0");
  },
};

/** PROT (RFC 4217 §9): P (after PBSZ) encrypts the data connections, C leaves them clear (unless TLS is required). */
export const prot: CommandSpec = {
  verbs: ["PROT"],
  auth: false,
  arg: "required",
  help: "PROT P|C: private (TLS) or clear data connections",
  feat: "PROT",
  handle({ session, arg }) {
    runtimeOf(session);
    if (!session.tls.control) throw new FtpError(503, "PROT needs AUTH TLS first");
    const level = arg.trim().toUpperCase();
    if (level === "P") {
      if (!session.tls.pbsz) throw new FtpError(503, "PROT needs PBSZ first");
      session.tls.protP = true;
      session.tls.impliedP = false;
      session.reply(200, "Protection level set to Private");
    } else if (level === "C") {
      // Clear is the state without PBSZ anyway: vsftpd, ProFTPD and Pure-FTPd accept it, and
      // Python's FTP_TLS.prot_c() sends it without a PBSZ.
      if (mustEncrypt(session)) {
        // A client that asked for clear data and never for P (curl --ftp-ssl-control: AUTH SSL, PROT C)
        // goes on in clear whatever the refusal: with the P that AUTH SSL implied, its RETR got 150 and
        // the server waited 30 s for a TLS handshake that never came. Now the transfer is refused at
        // once (521), as vsftpd refuses it (522). A PROT P the client sent stands.
        if (session.tls.impliedP) session.tls = { ...session.tls, protP: false, impliedP: false };
        throw new FtpError(521, TLS_REFUSALS.data);
      }
      session.tls.protP = false;
      session.reply(200, "Protection level set to Clear");
    } else if (level === "S" || level === "E") {
      throw new FtpError(536, `PROT ${level} not supported by TLS; use P or C`);
    } else {
      throw new FtpError(504, "PROT must be P or C");
    }
  },
};

/** CCC (RFC 4217 §6): going back to a clear control connection would expose the commands; refused. */
export const ccc: CommandSpec = {
  verbs: ["CCC"],
  auth: false,
  arg: "none",
  help: "CCC: clear command channel (refused: the control connection stays encrypted)",
  handle({ session }) {
    runtimeOf(session);
    if (!session.tls.control) throw new FtpError(533, "The control connection is not protected");
    throw new FtpError(534, "CCC refused: the control connection stays encrypted");
  },
};

/** The rows FTPS adds to the command table (FEAT then lists AUTH TLS, PBSZ and PROT). */
export const TLS_COMMANDS: readonly CommandSpec[] = [auth, pbsz, prot, ccc];
