// LIST — RFC 959 §4.1.3: `ls -l` style lines over the data connection; needs read.
import type { CommandSpec, CommandContext } from "./types.ts";
import { formatListLine, type FileInfo } from "../../protocol/listing.ts";
import { virtualBasename } from "../../protocol/path.ts";
import { sendText } from "../data/transfer.ts";
import { listDirectory, listTarget, permFacts, resolveFor, statResolved } from "./shared.ts";
import { requireDataEndpoint, runTransfer } from "./transfer-runner.ts";
import type { Session } from "../session.ts";

/** Entries for LIST/NLST/STAT: a directory's contents, or the single file named. */
export async function entriesFor(session: Session, arg: string): Promise<{ vpath: string; entries: FileInfo[] }> {
  const r = resolveFor(session, listTarget(arg) || ".", "read");
  const st = await statResolved(session, r);
  if (st.type === "file") {
    return { vpath: r.vpath, entries: [{ name: virtualBasename(r.vpath), ...st, perm: permFacts(r.mount.perms, "file") }] };
  }
  return { vpath: r.vpath, entries: await listDirectory(session, r) };
}

export function sendListing(ctx: CommandContext, lines: string[], vpath: string): void {
  const body = lines.length ? lines.join("\r\n") + "\r\n" : "";
  runTransfer(
    ctx.session,
    ctx.verb,
    vpath,
    "Here comes the directory listing",
    async (conn, t) => {
      t.bytes = await sendText(conn, body);
      await conn.finish();
      return { code: 226, text: "Directory send OK", result: "ok" };
    },
    { logTransfer: false },
  );
}

export const list: CommandSpec = {
  verbs: ["LIST"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "LIST [path]: long directory listing",
  async handle(ctx) {
    requireDataEndpoint(ctx.session);
    const { vpath, entries } = await entriesFor(ctx.session, ctx.arg);
    const now = new Date();
    sendListing(ctx, entries.map((e) => formatListLine(e, now)), vpath);
  },
};
