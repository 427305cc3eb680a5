// STOR — RFC 959 §4.1.3: receive a file. New names need write; overwriting or REST+STOR need modify.
import type { CommandSpec, CommandContext } from "./types.ts";
import { createHasher } from "../data/hashing.ts";
import { HashCache } from "../data/hash-cache.ts";
import { receiveFile } from "../data/transfer.ts";
import { requireDataEndpoint, startTransfer } from "../data/transfer-job.ts";
import { TransferAborted } from "../data/connection.ts";

/** How long a finished upload waits to see whether its client died with it (see below). */
const CLIENT_GONE_GRACE_MS = 25;

/** STOR and APPE share this: plan the write before the 150, open it once the data connection is up. */
export async function storeFile(ctx: CommandContext, append: boolean): Promise<void> {
  const { session } = ctx;
  const offset = session.restOffset;
  session.restOffset = 0;
  session.rangeEnd = null;
  requireDataEndpoint(session);
  const plan = await session.fs.planUpload(ctx.arg, { append, offset });
  const wholeFile = plan.mode.kind === "create" || plan.mode.kind === "truncate";
  const algorithm = session.hashAlgorithm;
  const hashing = session.hashWhileStreaming && wholeFile;
  const { r } = plan;
  startTransfer(session, { verb: ctx.verb, vpath: r.vpath, opening: "Ok to send data" }, async (t, conn) => {
    await using upload = await session.fs.openUpload(plan);
    const hasher = hashing ? createHasher(algorithm) : undefined;
    await receiveFile(conn, upload, {
      limiters: session.limiters,
      hasher,
      signal: t.signal,
      onBytes: (n) => t.progress(n),
    });
    // A client killed mid-upload ends its data connection with a FIN, like a finished one, and its
    // control connection at the same moment: give that close a moment to arrive before committing
    // (a reset, the other way a client dies, has already been refused by receiveFile).
    if (await session.closesWithin(CLIENT_GONE_GRACE_MS)) throw new TransferAborted("client gone");
    await upload.commit();
    conn.close();
    if (hasher) {
      const st = await r.mount.storage.stat(r.key).catch(() => null);
      if (st && st.size === upload.written) {
        session.server.hashCache.set(HashCache.key(`${r.mount.id}/${r.key}`, st.size, st.mtime, algorithm), hasher.hex());
      }
    }
    return { code: 226, text: "Transfer complete", result: "ok" };
  });
}

export const stor: CommandSpec = {
  verbs: ["STOR"],
  auth: true,
  arg: "required",
  perm: "write",
  help: "STOR <file>: upload a file",
  handle: (ctx) => storeFile(ctx, false),
};
