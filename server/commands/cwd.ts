// CWD — RFC 959 §4.1.1 (XCWD: RFC 775): change the virtual cwd; needs read (or write: drop boxes).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { StorageError } from "../storage/backend.ts";

import type { Session } from "../session.ts";

/**
 * Entering needs read — or write alone, so an upload-only drop box can be entered (not listed), as
 * with vsftpd's -wx dirs. Without read, a name that is not a directory it can enter gets one answer
 * whatever it is: "Not a directory" and "No such file" told a write-only user which uploads exist.
 */
export async function changeDirectory(session: Session, target: string): Promise<void> {
  const r = session.fs.resolve(target);
  const canRead = r.mount.perms.has("read");
  if (!canRead && !r.mount.perms.has("write")) throw new FtpError(550, "Permission denied");
  const blind = () => new FtpError(550, "Failed to change directory");
  let st;
  try {
    st = await session.fs.statResolved(r);
  } catch (err) {
    if (!canRead && ((err instanceof StorageError && (err.kind === "not-found" || err.kind === "loop")) || (err instanceof FtpError && err.code === 550))) throw blind();
    throw err;
  }
  if (st.type !== "dir") throw canRead ? new FtpError(550, "Not a directory") : blind();
  // A drop box (write only) needs no listing; one the user may read must be one the server can.
  if (canRead) await session.fs.checkEnterable(r);
  session.cwd = r.vpath;
  session.reply(250, "Directory successfully changed");
}

export const cwd: CommandSpec = {
  verbs: ["CWD", "XCWD"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "CWD <dir>: change directory",
  // RFC 3659 §6: paths are "/"-separated from the one root "/", as vsftpd and ProFTPD announce too.
  feat: "TVFS",
  handle: ({ session, arg }) => changeDirectory(session, arg),
};
