// LIST — RFC 959 §4.1.3: `ls -l` style lines over the data connection; needs read.
import type { CommandSpec, CommandContext } from "./types.ts";
import { formatListLine, type FileInfo } from "../../protocol/listing.ts";
import { virtualBasename } from "../../protocol/path.ts";
import { sendText } from "../data/transfer.ts";
import { TransferAborted } from "../data/connection.ts";
import { listDirectoryBatches, listTarget, permFacts, resolveFor, statResolved } from "./shared.ts";
import { requireDataEndpoint, startTransfer } from "../data/transfer-job.ts";
import type { Session } from "../session.ts";

/** Entries for STAT, in batches: a directory is read as the reply is sent, a file is one batch. */
export async function entryBatchesFor(session: Session, arg: string): Promise<AsyncIterable<FileInfo[]> | Iterable<FileInfo[]>> {
  const r = resolveFor(session, listTarget(arg) || ".", "read");
  const st = await statResolved(session, r);
  if (st.type === "file") return [[{ name: virtualBasename(r.vpath), ...st, perm: permFacts(r.mount.perms, "file") }]];
  return listDirectoryBatches(session, r);
}

/**
 * LIST/NLST/MLSD of a path: a directory is streamed (its entries stat'ed in batches, each batch
 * sent while the next is stat'ed), a file is one line. Errors reading the directory still come
 * before the 150.
 */
export async function sendEntries(ctx: CommandContext, arg: string, format: (e: FileInfo) => string): Promise<void> {
  const r = resolveFor(ctx.session, listTarget(arg) || ".", "read");
  const st = await statResolved(ctx.session, r);
  if (st.type === "file") {
    const e: FileInfo = { name: virtualBasename(r.vpath), ...st, perm: permFacts(r.mount.perms, "file") };
    return sendListing(ctx, [format(e)], r.vpath);
  }
  sendListingBatches(ctx, [], await listDirectoryBatches(ctx.session, r), format, r.vpath);
}

/** Send `head` lines, then each batch formatted as it arrives. */
export function sendListingBatches(
  ctx: CommandContext,
  head: string[],
  batches: AsyncIterable<FileInfo[]> | Iterable<FileInfo[]>,
  format: (e: FileInfo) => string,
  vpath: string,
): void {
  // Each batch is formatted only once the previous one has been taken by the client's socket:
  // a client that never reads holds one batch, not the whole listing.
  startTransfer(ctx.session, { verb: ctx.verb, vpath, opening: "Here comes the directory listing", log: false }, async (t, conn) => {
    if (head.length) t.progress(await sendText(conn, head.join("\r\n") + "\r\n"));
    for await (const batch of batches) {
      if (t.aborted) throw new TransferAborted("aborted");
      let text = "";
      for (const e of batch) text += format(e) + "\r\n";
      if (text) t.progress(await sendText(conn, text));
    }
    await conn.finish();
    return { code: 226, text: "Directory send OK", result: "ok" };
  });
}

export function sendListing(ctx: CommandContext, lines: string[], vpath: string): void {
  sendListingBatches(ctx, lines, [], (e) => e.name, vpath);
}

export const list: CommandSpec = {
  verbs: ["LIST"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "LIST [path]: long directory listing",
  async handle(ctx) {
    requireDataEndpoint(ctx.session);
    const now = new Date();
    await sendEntries(ctx, ctx.arg, (e) => formatListLine(e, now));
  },
};
