// SIZE — RFC 3659 §4: size of a file in bytes; needs read.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";


export const size: CommandSpec = {
  verbs: ["SIZE"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "SIZE <file>: file size",
  feat: "SIZE",
  async handle({ session, arg }) {
    // RFC 3659 §4: SIZE is the number of bytes a transfer in the current TYPE would send. In TYPE A
    // that is not the stored size, and counting it means reading the file: refused, as pyftpdlib
    // and ProFTPD do (vsftpd's stored size would be a wrong answer).
    if (session.type === "A") throw new FtpError(550, "SIZE not allowed in ASCII mode; use TYPE I");
    const r = session.fs.resolve(arg, "read");
    const st = await session.fs.statStored(r);
    if (st.type !== "file") throw new FtpError(550, "Not a regular file");
    session.reply(213, String(st.size));
  },
};
