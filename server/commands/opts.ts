// OPTS — RFC 2389 §4: UTF8 (Windows Explorer needs 200), HASH algorithm selection, MLST facts.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { parseHashAlgorithm } from "../../protocol/hash.ts";
import { MLSX_FACTS, parseMlstOpts } from "../../protocol/listing.ts";

export const opts: CommandSpec = {
  verbs: ["OPTS"],
  auth: false,
  arg: "required",
  help: "OPTS UTF8 ON | OPTS HASH <algorithm> | OPTS MLST <facts>",
  feat: "UTF8",
  handle({ session, arg }) {
    const [name = "", ...rest] = arg.trim().split(/\s+/);
    const value = rest.join(" ");
    switch (name.toUpperCase()) {
      case "UTF8":
      case "UTF-8":
        // Names are UTF-8 only (README): a client asking to leave it must hear no, or it sends names
        // in its own code page and meets 553 (vsftpd answers 501 too). ON, or nothing: 200.
        if (value && value.toUpperCase() !== "ON") throw new FtpError(501, "Always in UTF8 mode: it cannot be turned off");
        session.reply(200, "Always in UTF8 mode");
        return;
      case "HASH":
        if (!value) {
          session.reply(200, session.hashAlgorithm);
          return;
        }
        try {
          session.hashAlgorithm = parseHashAlgorithm(value);
        } catch {
          throw new FtpError(501, "Unknown hash algorithm");
        }
        session.hashWhileStreaming = true;
        session.reply(200, session.hashAlgorithm);
        return;
      case "MLST": {
        // RFC 3659 §7.9: the reply names the facts now selected; MLSD/MLST then send only those.
        const facts = parseMlstOpts(value);
        session.mlstFacts = facts;
        const list = MLSX_FACTS.filter((f) => facts.has(f));
        session.reply(200, list.length ? `MLST OPTS ${list.join(";")};` : "MLST OPTS");
        return;
      }
      default:
        throw new FtpError(501, "Option not understood");
    }
  },
};
