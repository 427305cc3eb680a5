// CWD — RFC 959 §4.1.1 (XCWD: RFC 775): change the virtual cwd; needs read (or write: drop boxes).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

import type { Session } from "../session.ts";

/** Entering needs read — or write alone, so an upload-only drop box can be entered (not listed), as with vsftpd's -wx dirs. */
export async function changeDirectory(session: Session, target: string): Promise<void> {
  const r = session.fs.resolve(target);
  if (!r.mount.perms.has("read") && !r.mount.perms.has("write")) throw new FtpError(550, "Permission denied");
  const st = await session.fs.statResolved(r);
  if (st.type !== "dir") throw new FtpError(550, "Not a directory");
  session.cwd = r.vpath;
  session.reply(250, "Directory successfully changed");
}

export const cwd: CommandSpec = {
  verbs: ["CWD", "XCWD"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "CWD <dir>: change directory",
  handle: ({ session, arg }) => changeDirectory(session, arg),
};
