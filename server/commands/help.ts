// HELP — RFC 959 §4.1.3: generated from the command table.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const help: CommandSpec = {
  verbs: ["HELP"],
  auth: false,
  arg: "optional",
  help: "HELP [command]: list commands or describe one",
  handle({ session, arg }) {
    const table = session.server.commandTable();
    if (arg.trim()) {
      const spec = table.get(arg.trim().toUpperCase());
      if (!spec) throw new FtpError(502, "Unknown command");
      session.reply(214, spec.help);
      return;
    }
    // A command whose FEAT line this session is not offered (MFMT where no place can set times) is
    // not listed either: HELP and FEAT tell a client the same.
    const offered = (spec: CommandSpec) => typeof spec.feat !== "function" || [spec.feat(session)].flat().length > 0;
    const verbs = [...table.keys()].filter((v) => !table.get(v)!.notImplemented && offered(table.get(v)!)).sort();
    const absent = [...table.keys()].filter((v) => table.get(v)!.notImplemented).sort();
    const rows: string[] = [];
    for (let i = 0; i < verbs.length; i += 8) rows.push(verbs.slice(i, i + 8).map((v) => v.padEnd(5)).join(" "));
    if (absent.length) rows.push(`Not implemented (502): ${absent.join(" ")}`);
    session.reply(214, ["The following commands are recognized:", ...rows, "Help OK"]);
  },
};
