// MLSD — RFC 3659 §7: machine-readable directory listing over the data connection; needs read.
import { requireDataEndpoint } from "../data/transfer-job.ts";
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { formatMlsxLine } from "../../protocol/listing.ts";
import { listDirectoryBatches, permFacts, resolveFor, statResolved } from "./shared.ts";
import { sendListingBatches } from "./list.ts";

export const mlsd: CommandSpec = {
  verbs: ["MLSD"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "MLSD [dir]: machine-readable listing",
  feat: "MLST type*;size*;sizd*;modify*;perm*;",
  async handle(ctx) {
    requireDataEndpoint(ctx.session);
    const r = resolveFor(ctx.session, ctx.arg || ".", "read");
    const st = await statResolved(ctx.session, r);
    if (st.type !== "dir") throw new FtpError(501, "Not a directory");
    const batches = await listDirectoryBatches(ctx.session, r);
    const cdir = formatMlsxLine({ name: ".", ...st, perm: permFacts(r.mount.perms, "dir") }, { typeFact: "cdir" });
    sendListingBatches(ctx, [cdir], batches, (e) => formatMlsxLine(e), r.vpath);
  },
};
