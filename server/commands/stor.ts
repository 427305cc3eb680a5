// STOR — RFC 959 §4.1.3: receive a file. New names need write; overwriting or REST+STOR need modify.
import type { CommandSpec, CommandContext } from "./types.ts";
import { AsciiUpload } from "../data/ascii.ts";
import { ASCII_NO_RESUME } from "./type.ts";
import { createHasher } from "../../protocol/digest.ts";
import { HashCache } from "../data/hash-cache.ts";
import { receiveFile } from "../data/transfer.ts";
import { requireDataEndpoint, startTransfer } from "../data/transfer-job.ts";
import { TransferAborted } from "../data/connection.ts";
import { FtpError } from "../../protocol/errors.ts";
import { canonicalIp, isLoopback } from "../../protocol/address.ts";

/**
 * How long a finished upload waits to see whether its client died with it (see below). A killed
 * client's kernel sends the FINs of its control and data connections microseconds apart. On loopback
 * both have arrived by the time the data connection's end is handled, so one turn of the event loop
 * sees the control close (the kill -9 tests pass with 0 ms and fail without the check); from
 * anywhere else (or through a balancer) the second FIN may still be on the wire. Every upload pays
 * this wait before its 226: 25 ms made a 1,000-file `mirror -R` through 8 connections take 3.9 s
 * against vsftpd's 1.6–2.0 s.
 */
const CLIENT_GONE_GRACE_MS = { loopback: 0, remote: 5 };

/** The grace for this session: loopback only for a client connected straight to us (no balancer between). */
function clientGoneGrace(session: CommandContext["session"]): number {
  const proxied = session.server.options.proxyFrom !== undefined;
  const direct = canonicalIp(session.socket.remoteAddress ?? "");
  return !proxied && isLoopback(direct) ? CLIENT_GONE_GRACE_MS.loopback : CLIENT_GONE_GRACE_MS.remote;
}

/** STOR and APPE share this: plan the write before the 150, open it once the data connection is up. */
export async function storeFile(ctx: CommandContext, append: boolean): Promise<void> {
  const { session } = ctx;
  const offset = session.restOffset;
  session.restOffset = 0;
  session.rangeEnd = null;
  requireDataEndpoint(session);
  const ascii = session.type === "A";
  if (ascii && offset > 0) throw new FtpError(550, ASCII_NO_RESUME);
  const plan = await session.fs.planUpload(ctx.arg, { append, offset });
  if (!(await session.server.events.allowUpload(session, plan.r))) throw new FtpError(550, "Upload refused by the server's policy");
  const wholeFile = plan.mode.kind === "create" || plan.mode.kind === "truncate";
  const algorithm = session.hashAlgorithm;
  const hashing = session.hashWhileStreaming && wholeFile && !ascii;
  const { r } = plan;
  startTransfer(session, { verb: ctx.verb, vpath: r.vpath, opening: "Ok to send data" }, async (t, conn) => {
    await using upload = await session.fs.openUpload(plan);
    // Hashed on the storage's hashing thread when it has one, else inline on this session's thread.
    const along = hashing ? upload.hashAlong(algorithm) : undefined;
    const hasher = hashing && !along ? createHasher(algorithm) : undefined;
    // TYPE A: CRLF arrives, LF is stored (and charged to the quota).
    const sink = ascii ? new AsciiUpload(upload) : upload;
    await receiveFile(conn, sink, {
      limiters: session.limiters,
      hasher,
      signal: t.signal,
      onBytes: (n) => t.progress(n),
    });
    // A client killed mid-upload ends its data connection with a FIN, like a finished one, and its
    // control connection at the same moment: give that close a moment to arrive before committing
    // (a reset, the other way a client dies, has already been refused by receiveFile).
    if (await session.closesWithin(clientGoneGrace(session))) throw new TransferAborted("client gone");
    if (sink instanceof AsciiUpload) await sink.flush();
    // The digest first: the upload's descriptor stays open until the hashing thread is done with it.
    const hex = along ? await along().catch(() => undefined) : hasher?.hex();
    await upload.commit();
    conn.close();
    if (hex) {
      const st = await r.mount.storage.stat(r.key).catch(() => null);
      if (st && st.size === upload.written) {
        session.server.hashCache.set(HashCache.key(`${r.mount.id}/${r.key}`, st, algorithm), hex);
        if (algorithm === "SHA-256") t.sha256 = hex;
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
