// RETR — RFC 959 §4.1.3: send a file (from REST's offset, to RANG's end); needs read.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { createHasher } from "../data/hashing.ts";
import { sendFile } from "../data/transfer.ts";
import { asciiSendConnection } from "../data/ascii.ts";
import { ASCII_NO_RESUME } from "./type.ts";
import { resolveFor } from "./shared.ts";
import { requireDataEndpoint, runTransfer } from "./transfer-runner.ts";

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
    const r = resolveFor(session, ctx.arg, "read");
    const st = await r.mount.storage.stat(r.key);
    if (st.type !== "file") throw new FtpError(550, "Not a regular file");
    if (start > st.size) throw new FtpError(554, "Restart offset beyond end of file");
    const ascii = session.type === "A";
    if (ascii && (start > 0 || rangeEnd !== null)) throw new FtpError(550, ASCII_NO_RESUME);
    const file = await r.mount.storage.openRead(r.key);
    const end = Math.min(rangeEnd ?? file.size, file.size);
    // Hash while streaming only for whole files and clients that asked for a digest (OPTS HASH).
    const hasher = session.hashWhileStreaming && !ascii && start === 0 && end === file.size ? createHasher(session.hashAlgorithm) : undefined;
    const algorithm = session.hashAlgorithm;
    try {
      runTransfer(
        session,
        "RETR",
        r.vpath,
        `Opening ${ascii ? "ASCII" : "BINARY"} mode data connection for ${r.vpath.slice(r.vpath.lastIndexOf("/") + 1)} (${end - start} bytes)`,
        async (conn, t) => {
          try {
            await sendFile(ascii ? asciiSendConnection(conn) : conn, file, start, end, {
              limiters: session.limiters,
              hasher,
              signal: t.signal,
              onBytes: (n) => {
                t.bytes += n;
                session.lastActivity = Date.now();
              },
            });
          } finally {
            file.close();
          }
          await conn.finish();
          if (hasher) session.server.hashCache.remember(`${r.mount.id}/${r.key}`, st, await r.mount.storage.stat(r.key).catch(() => null), algorithm, hasher.hex());
          return { code: 226, text: "Transfer complete", result: "ok" };
        },
        { size: end - start },
      );
    } catch (err) {
      file.close();
      throw err;
    }
  },
};
