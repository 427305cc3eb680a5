// CDUP — RFC 959 §4.1.1 (XCUP: RFC 775): go to the parent directory ("/" stays "/").
import type { CommandSpec } from "./types.ts";
import { changeDirectory } from "./cwd.ts";

export const cdup: CommandSpec = {
  verbs: ["CDUP", "XCUP"],
  auth: true,
  arg: "none",
  perm: "read",
  help: "CDUP: change to the parent directory",
  handle: ({ session }) => changeDirectory(session, ".."),
};
