// ACCT, SMNT, REIN — RFC 959 verbs ftpkit knows but does not offer: 502, not "unknown" (500).
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";

export const notImplemented: CommandSpec = {
  verbs: ["ACCT", "SMNT", "REIN"],
  auth: false,
  arg: "optional",
  notImplemented: true,
  help: "ACCT, SMNT, REIN: not implemented",
  handle({ verb }) {
    throw new FtpError(502, `${verb} not implemented`);
  },
};
