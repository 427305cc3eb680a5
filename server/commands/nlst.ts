// NLST — RFC 959 §4.1.3: names only, one per line; needs read.
import { requireDataEndpoint } from "./transfer-runner.ts";
import type { CommandSpec } from "./types.ts";
import { entriesFor, sendListing } from "./list.ts";

export const nlst: CommandSpec = {
  verbs: ["NLST"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "NLST [path]: list names",
  async handle(ctx) {
    requireDataEndpoint(ctx.session);
    const { vpath, entries } = await entriesFor(ctx.session, ctx.arg);
    sendListing(ctx, entries.map((e) => e.name), vpath);
  },
};
