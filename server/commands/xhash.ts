// XMD5 / XSHA1 / XSHA256 / XSHA512 / XCRC — the legacy digest verbs (ProFTPD mod_digest style: 250 <hex>).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { LEGACY_HASH_VERBS } from "../../protocol/hash.ts";
import { hashFile } from "../data/hash-file.ts";


export const xhash: CommandSpec = {
  verbs: Object.keys(LEGACY_HASH_VERBS),
  auth: true,
  arg: "required",
  perm: "read",
  help: "XMD5|XSHA1|XSHA256|XSHA512|XCRC <file> [start end]: file digest",
  feat: Object.keys(LEGACY_HASH_VERBS),
  async handle({ session, verb, arg }) {
    // Optional trailing "start end" (ProFTPD); a file name may itself contain spaces.
    // The s flag: "." must match CR and U+2028 too, or a name holding one matches nothing.
    const m = /^(.*?)(?:\s+(\d+)\s+(\d+))?$/s.exec(arg)!;
    const name = m[1]!;
    if (!name) throw new FtpError(501, `${verb} needs a file name`);
    const range = m[2] !== undefined ? { start: Number(m[2]), end: Number(m[3]) } : { start: 0, end: null };
    // An end below the start: ProFTPD's mod_digest answers 501; taken as an empty range, it was a 250
    // with the digest of no bytes. An empty range ("NAME 0 0" of an empty file) is still answered.
    if (range.end !== null && range.end < range.start) throw new FtpError(501, `${verb} needs an end (${m[3]}) not below the start (${m[2]})`);
    const r = session.fs.resolve(name, "read");
    const { server } = session;
    const result = await hashFile(r, LEGACY_HASH_VERBS[verb]!, range, server.hashCache, server.hashLimiter(session.user!.name), session.gone);
    session.reply(250, result.hex);
  },
};
