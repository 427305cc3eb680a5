// Commands whose job is what they print on standard output (a listing, a --json report, a dry run's
// plan): with it closed at start (`>&-`, where Bun puts a /dev/null) they ran and exited 0 with the
// output lost. They are refused before they start, as `get URL -` is (client/stdio-transfer.ts).
// Where stdout only accompanies the job (a transfer's summary, cert's file names) it is not checked.

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
      return json ? "the --json report" : null;
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
