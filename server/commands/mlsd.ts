// MLSD — RFC 3659 §7: machine-readable directory listing over the data connection; needs read.
import { requireDataEndpoint } from "../data/transfer-job.ts";
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { formatMlstFeature, formatMlsxLine, MLSX_FACTS } from "../../protocol/listing.ts";
import { heldBy, listDirectoryBatches, permFacts } from "./shared.ts";
import { sendListingBatches } from "./list.ts";

export const mlsd: CommandSpec = {
  verbs: ["MLSD"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "MLSD [dir]: machine-readable listing",
  // After login, facts no place of the user's can give are not offered: objects in S3 have neither
  // modes nor a directory identity.
  feat: (session) => formatMlstFeature(session.mlstFacts, session.mounts.length > 0 && session.mounts.every((m) => !m.storage.setMode) ? MLSX_FACTS.filter((f) => f !== "unique" && f !== "UNIX.mode") : MLSX_FACTS),
  async handle(ctx) {
    requireDataEndpoint(ctx.session);
    const r = ctx.session.fs.resolve(ctx.arg || ".", "read");
    const st = await ctx.session.fs.statResolved(r);
    if (st.type !== "dir") throw new FtpError(501, "Not a directory");
    const batches = await listDirectoryBatches(ctx.session, r);
    const cdir = formatMlsxLine({ name: ".", ...st, perm: permFacts(r.mount.perms, "dir", r.virtual) }, { typeFact: "cdir", facts: ctx.session.mlstFacts });
    sendListingBatches(ctx, [cdir], batches, (e) => formatMlsxLine(e, { facts: ctx.session.mlstFacts }), r.vpath, heldBy(batches));
  },
};
