// HASH — draft-bryan-ftp-hash: digest of a file (or the RANG range) with the OPTS HASH algorithm; needs read.
import type { CommandSpec } from "./types.ts";
import { formatHashReply, HASH_ALGORITHMS } from "../../protocol/hash.ts";
import { hashFile } from "../data/hash-file.ts";


export const hash: CommandSpec = {
  verbs: ["HASH"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "HASH <file>: file digest (choose the algorithm with OPTS HASH)",
  feat: (session) => `HASH ${HASH_ALGORITHMS.map((a) => (a === session.hashAlgorithm ? `${a}*` : a)).join(";")}`,
  async handle({ session, arg }) {
    const range = { start: session.restOffset, end: session.rangeEnd };
    session.restOffset = 0;
    session.rangeEnd = null;
    const r = session.fs.resolve(arg, "read");
    const { server } = session;
    const result = await hashFile(r, session.hashAlgorithm, range, server.hashCache, server.hashLimiter(session.user!.name), session.gone);
    session.reply(213, formatHashReply({ algorithm: session.hashAlgorithm, ...result, path: arg }));
  },
};
