// The EXIT STATUS section `--help` ends with: what a script that reads $? needs without the README.
import { EXIT_STATUS, type FailureKind } from "../client/errors.ts";

/** The client's statuses in the words of the README's "Exit status" table, shortened to a line each. */
const MEANING: Record<FailureKind, string> = {
  usage: "bad usage: an unknown flag, a bad URL or value",
  local: "a local file or directory cannot be read or written (missing, permission, disk full, broken pipe)",
  network: "network: connection refused, unknown host, timeout, connection lost or ended by a 426 (after --retries)",
  tls: "TLS: certificate not trusted or not matching, handshake failed, server without TLS",
  auth: "login refused, or no password to give",
  protocol: "the server broke the protocol (malformed or endless replies, more bytes than it reported)",
  server: "the server refused: no such file, permission denied, over quota, too many connections",
  verify: "verification: the digest or size of what arrived does not match the server's",
};

/** The commands whose exit status says how they failed (README, "Exit status"). */
export const CLIENT_COMMANDS = ["get", "put", "sync", "resume", "ls"];

/** The lines of the section for the command the words name (`["get"]`, `["user", "add"]`). */
export function exitStatusHelp(words: readonly string[]): string {
  if (words.length === 0) return "";
  if (!CLIENT_COMMANDS.includes(words[0]!)) {
    const usage = `  2  ${MEANING.usage}\n`;
    if (words[0] === "test") return `EXIT STATUS\n\n  0  every required item passed\n  1  a required item failed, the scratch directory could not be removed (its path is said), or any other error\n${usage}  130, 143  interrupted by Ctrl-C or SIGTERM (the scratch directory is removed first; --json prints the items decided so far)\n`;
    return `EXIT STATUS\n\n  0  done\n  1  any other error\n${usage}`;
  }
  // ls moves no file: nothing to verify or resume.
  const listing = words[0] === "ls";
  const kinds = (Object.keys(EXIT_STATUS) as FailureKind[]).filter((k) => !(listing && k === "verify"));
  const rows: Array<[string, string]> = [
    ["0", listing ? "listed" : "done (every file verified, or reported as not verifiable)"],
    ["1", listing ? "any other failure" : "any other failure: a pending job with other options, a changed file, a lock held by another ftpkit"],
    ...kinds.sort((a, b) => EXIT_STATUS[a] - EXIT_STATUS[b]).map((k): [string, string] => [String(EXIT_STATUS[k]), MEANING[k]]),
    ["130, 143", listing ? "interrupted by Ctrl-C or SIGTERM" : "interrupted by Ctrl-C or SIGTERM (ftpkit resume continues; before anything was recorded: run the command again)"],
  ];
  const width = Math.max(...rows.map(([s]) => s.length));
  const lines = rows.map(([s, m]) => `  ${s.padStart(width)}  ${m}`);
  return `EXIT STATUS\n\n${lines.join("\n")}\n${listing ? "" : "\n  A tree job whose files failed in several ways exits with the lowest of 2-9 among them.\n"}`;
}
