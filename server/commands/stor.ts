// STOR — RFC 959 §4.1.3: receive a file. New names need write; overwriting or REST+STOR need modify.
import type { CommandSpec, CommandContext } from "./types.ts";
import type { Session } from "../session.ts";
import type { UploadClaim, UploadPlan } from "../vfs/vfs.ts";
import { AsciiUpload } from "../data/ascii.ts";
import { ASCII_NO_RESUME } from "./type.ts";
import { createHasher } from "../../protocol/digest.ts";
import { HashCache } from "../data/hash-cache.ts";
import { receiveFile } from "../data/transfer.ts";
import { requireDataEndpoint, startTransfer } from "../data/transfer-job.ts";
import { TransferAborted } from "../data/connection.ts";
import { FtpError } from "../../protocol/errors.ts";

/**
 * How long a finished upload waits to see whether its client died with it. A killed client's kernel
 * closes its data and control connections one after the other, and may run other processes in
 * between: on loopback with both cores busy the two FINs came 5 to 25 ms apart, and the 0 ms once
 * allowed for loopback let killed S3 uploads become objects (CI; 2 in 15 with the cores busy, 5 in
 * 25 with 5 ms, none in 30 with 20 ms). Only uploads whose commit would change what is stored, or
 * that a hook acts on, wait; the wait runs alongside the upload's own sealing and digest.
 */
const CLIENT_GONE_GRACE_MS = 20;

/**
 * Plans an upload other than STOR's and APPE's, and says in the 150 what it stores (STOU). `claim`:
 * the planner took the upload's claim itself (STOU reserves the name it chose, so a concurrent STOU
 * cannot choose it too); storeFile owns it from then on.
 */
export type UploadPlanner = (session: Session, arg: string) => Promise<{ plan: UploadPlan; opening: string; claim: UploadClaim | null }>;

/** STOR, APPE and STOU share this: plan the write (and lock an existing in-place target) before the 150, open it once the data connection is up. */
export async function storeFile(ctx: CommandContext, append: boolean, planner?: UploadPlanner): Promise<void> {
  const { session } = ctx;
  const offset = session.restOffset;
  const ranged = session.rangeEnd !== null;
  session.restOffset = 0;
  session.rangeEnd = null;
  // RANG is for RETR and HASH here. Taken as a REST, a STOR after it cut the file at the upload's end
  // (the bytes past the range were lost) and wrote past the range; ProFTPD refuses APPE after RANG too.
  if (ranged) throw new FtpError(550, "RANG applies to RETR and HASH, not to uploads; use REST to resume one");
  requireDataEndpoint(session);
  const ascii = session.type === "A";
  if (ascii && offset > 0) throw new FtpError(550, ASCII_NO_RESUME);
  const planned = planner ? await planner(session, ctx.arg) : { plan: await session.fs.planUpload(ctx.arg, { append, offset }), opening: "Ok to send data", claim: undefined };
  const { plan } = planned;
  try {
    if (!(await session.server.events.allowUpload(session, plan.r))) throw new FtpError(550, "Upload refused by the server's policy");
  } catch (err) {
    planned.claim?.[Symbol.dispose]();
    throw err;
  }
  const wholeFile = plan.mode.kind === "create" || plan.mode.kind === "truncate";
  const algorithm = session.hashAlgorithm;
  const hashing = session.hashWhileStreaming && wholeFile && !ascii;
  const { r } = plan;
  // An existing file written in place (APPE, REST+STOR) is locked now, so a second writer gets its
  // 450 before any 150 (as vsftpd refuses); the transfer owns the lock until the upload takes it, or
  // lets it go when no data connection comes (its timeout), on ABOR, QUIT or the session's end.
  const claim = planned.claim !== undefined ? planned.claim : await session.fs.claimUpload(plan);
  startTransfer(session, { verb: ctx.verb, vpath: r.vpath, opening: planned.opening, upload: true, held: claim }, async (t, conn) => {
    // The signal: a client that hangs up while an object store copies what APPE keeps stops the copy.
    await using upload = await session.fs.openUpload(plan, claim, t.signal);
    // Hashed on the storage's hashing thread when it has one, else inline on this session's thread.
    const along = hashing ? upload.hashAlong(algorithm) : undefined;
    const hasher = hashing && !along ? createHasher(algorithm) : undefined;
    // TYPE A: CRLF arrives, LF is stored (and charged to the quota).
    const sink = ascii ? new AsciiUpload(upload) : upload;
    // Nothing stored yet: an upload refused at its first chunk (its quota) stored 0 bytes, and the
    // log, xferlog and hooks said the bytes received instead.
    t.stored = 0;
    await receiveFile(conn, sink, {
      limiters: session.limiters,
      hasher,
      signal: t.signal,
      onBytes: (n) => t.progress(n),
      onStored: (n) => (t.stored! += n),
      directReads: !ascii,
    });
    // A client killed mid-upload ends its data connection with a FIN, like a finished one, and its
    // control connection about then (a reset, the other way a client dies, was refused above). Where
    // committing changes what is stored (an overwrite, an object store) or a hook acts on the file,
    // give that close a moment to arrive; bytes written in place stay either way, but for a drop box's
    // uploader (dropOnFailure), whose aborted upload is removed. (A close after QUIT is no death:
    // endSession lets the transfer finish first, so it never shows here.)
    const dropsOnFailure = plan.mode.kind === "create" && plan.mode.dropOnFailure === true;
    const watch = !upload.inPlace || dropsOnFailure || session.server.events.actsOnUploads();
    const gone = watch ? session.closesWithin(CLIENT_GONE_GRACE_MS) : Promise.resolve(session.closed);
    if (sink instanceof AsciiUpload) await sink.flush();
    // The digest first: the upload's descriptor stays open until the hashing thread is done with it.
    const hex = along ? await along().catch(() => undefined) : hasher?.hex();
    await upload.seal();
    if (await gone) throw new TransferAborted("client gone");
    await session.fs.confirmCredit(plan, upload);
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
