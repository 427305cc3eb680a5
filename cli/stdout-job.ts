// Commands whose job is what they print on standard output (a listing, a --json report, a dry run's
// plan, a checklist, --help): with it closed at start (`>&-`, where Bun puts a /dev/null) they ran and
// exited 0 with the output lost. They are refused before they start, as `get URL -` is
// (client/stdio-transfer.ts), but after their arguments are checked: a bad one is exit 2 either way.
// Where stdout only accompanies the job (a transfer's summary, cert's file names) it is not checked.
import { stdoutClosedAtStart } from "../client/closed-stdout.ts";
import { CliError } from "./args.ts";
import { CLIENT_COMMANDS } from "./exit-help.ts";

/** True when `flags` (the words before "--") hold the boolean flag `long` or its one-letter `short`, alone or grouped (`-rn`). */
function hasFlag(flags: readonly string[], long: string, short?: string): boolean {
  return flags.some((w) => w === long || (short !== undefined && /^-[A-Za-z]+$/.test(w) && w.includes(short)));
}

/**
 * What the command `words` names prints on standard output as its job ("the listing"), or null when
 * its output there is only a by-product. `get URL -` (the file itself) is checked where it opens.
 */
export function stdoutJob(words: readonly string[]): string | null {
  const flags = words.includes("--") ? words.slice(0, words.indexOf("--")) : words;
  const json = flags.includes("--json");
  switch (words[0]) {
    case "ls":
      return "the listing";
    case "user":
      return words[1] === "list" ? "the list of users" : null;
    case "test":
      return json ? "the --json report" : "the checklist";
    case "resume":
      return flags.includes("--list") ? "the list of pending transfers" : json ? "the --json report" : null;
    case "get":
    case "put":
    case "sync":
      // `get URL - --json` is refused as it is: stdout carries the file.
      if (words[0] === "get" && flags.includes("-")) return null;
      if (hasFlag(flags, "--dry-run", "n")) return "the --dry-run plan";
      return json ? "the --json report" : null;
    default:
      return null;
  }
}

/** The line that refuses a command whose output `what` would be lost to a standard output closed at start. */
export function closedStdoutMessage(what: string): string {
  return `cannot write to standard output: it was closed (>&-), and ${what} goes there; send it to /dev/null to discard it`;
}

/** A command refused for a standard output closed at start: exit 3 for the client's commands (a local write failure), 1 for the rest. */
export class ClosedStdoutError extends CliError {
  readonly exitStatus: number;
  constructor(what: string, command: string | undefined) {
    super(closedStdoutMessage(what));
    this.exitStatus = CLIENT_COMMANDS.includes(command ?? "") ? 3 : 1;
  }
}

/**
 * Throws ClosedStdoutError when the job of the command `words` names is its standard output and
 * that was closed at start. Each such command calls it once its arguments are checked and before its
 * job starts; `check` first checks what the job would itself check before any I/O (a URL's syntax).
 */
export function refuseClosedStdout(words: readonly string[], check?: () => unknown): void {
  const what = stdoutJob(words);
  if (what === null || !stdoutClosedAtStart()) return;
  check?.();
  throw new ClosedStdoutError(what, words[0]);
}
