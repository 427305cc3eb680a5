// MDTM — RFC 3659 §3: modification time (UTC); needs read. The older two-argument form
// `MDTM <time> <path>` (vsftpd's mdtm_write, rclone --ftp-writing-mdtm) sets it; needs modify.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { formatTimeVal } from "../../protocol/listing.ts";

import { setModifyTime, splitTimeAndPath } from "./mfmt.ts";

export const mdtm: CommandSpec = {
  verbs: ["MDTM"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "MDTM <file>: modification time; MDTM <YYYYMMDDHHMMSS> <file> sets it",
  feat: "MDTM",
  async handle({ session, arg }) {
    const set = splitTimeAndPath(arg);
    // A file literally named "20260101120000 x" is still read, not taken as a time to set. Setting
    // needs modify only (setModifyTime checks it), as MFMT.
    if (set && !(await session.fs.statOrNull(session.fs.resolve(arg)).catch(() => null))) {
      const mtime = await setModifyTime(session, set.time, set.path);
      session.reply(213, `Modify=${formatTimeVal(mtime)}; ${set.path}`);
      return;
    }
    const r = session.fs.resolve(arg, "read");
    const st = await session.fs.statStored(r);
    if (st.type !== "file") throw new FtpError(550, "Not a regular file");
    session.reply(213, formatTimeVal(st.mtime));
  },
};
