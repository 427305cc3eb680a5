// RETR — RFC 959 §4.1.3: send a file (from REST's offset, to RANG's end); needs read.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { createHasher } from "../data/hashing.ts";
import { HashCache } from "../data/hash-cache.ts";
import { sendFile } from "../data/transfer.ts";
import { requireDataEndpoint, startTransfer } from "../data/transfer-job.ts";

export const retr: CommandSpec = {
  verbs: ["RETR"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "RETR <file>: download a file",
  async handle(ctx) {
    const { session } = ctx;
    const start = session.restOffset;
    const rangeEnd = session.rangeEnd;
    session.restOffset = 0;
    session.rangeEnd = null;
    requireDataEndpoint(session);
    const { r, st } = await session.fs.planRead(ctx.arg);
    if (start > st.size) throw new FtpError(554, "Restart offset beyond end of file");
    const end = Math.min(rangeEnd ?? st.size, st.size);
    const algorithm = session.hashAlgorithm;
    const name = r.vpath.slice(r.vpath.lastIndexOf("/") + 1);
    const opening = `Opening BINARY mode data connection for ${name} (${end - start} bytes)`;
    startTransfer(session, { verb: "RETR", vpath: r.vpath, opening, size: end - start }, async (t, conn, resources) => {
      const file = resources.adopt(await session.fs.openPlanned(r), (f) => f.close());
      const last = Math.min(end, file.size);
      // Hash while streaming only for whole files and clients that asked for a digest (OPTS HASH).
      const hasher = session.hashWhileStreaming && start === 0 && last === file.size ? createHasher(algorithm) : undefined;
      await sendFile(conn, file, start, last, { limiters: session.limiters, hasher, signal: t.signal, onBytes: (n) => t.progress(n) });
      await conn.finish();
      if (hasher) session.server.hashCache.set(HashCache.key(`${r.mount.id}/${r.key}`, st.size, st.mtime, algorithm), hasher.hex());
      return { code: 226, text: "Transfer complete", result: "ok" };
    });
  },
};
