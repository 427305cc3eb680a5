// APPE — RFC 959 §4.1.3: append to a file (created if missing); needs modify.
import type { CommandSpec } from "./types.ts";
import { storeFile } from "./stor.ts";

export const appe: CommandSpec = {
  verbs: ["APPE"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "APPE <file>: append to a file",
  handle: (ctx) => storeFile(ctx, true),
};
