// PWD — RFC 959 §4.1.3 (XPWD: RFC 775): the virtual cwd, quoted per Appendix II.
import type { CommandSpec } from "./types.ts";
import { quotePath } from "../../protocol/path.ts";

export const pwd: CommandSpec = {
  verbs: ["PWD", "XPWD"],
  auth: true,
  arg: "none",
  help: "PWD: print the current directory",
  handle({ session }) {
    session.reply(257, `${quotePath(session.cwd)} is the current directory`);
  },
};
