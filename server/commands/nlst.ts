// NLST — RFC 959 §4.1.3: names only, one per line; needs read.
import { requireDataEndpoint } from "../data/transfer-job.ts";
import type { CommandSpec } from "./types.ts";
import { sendEntries } from "./list.ts";

export const nlst: CommandSpec = {
  verbs: ["NLST"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "NLST [path]: list names",
  async handle(ctx) {
    requireDataEndpoint(ctx.session);
    await sendEntries(ctx, ctx.arg, (e) => e.name);
  },
};
