// ftpkit resume [LOCAL]: continue interrupted transfers recorded in ./.ftpkit/transfers.
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { CliError, clientArgs, clientOptions } from "../args.ts";
import { checkArgs } from "../args-check.ts";
import { quietForJson } from "../single-file.ts";
import { pendingTransfers, resumeTransfers, type PendingTransfer } from "../../client/resume.ts";
import { journalDir } from "../../client/journal.ts";
import { forgetOrphanedPasswords } from "../../client/state.ts";
import { journalsElsewhere, whereElse } from "../../client/journal-index.ts";
import { formatSize } from "../../protocol/size.ts";
import { stderrStream } from "../../client/report.ts";
import { printableJson } from "../../protocol/printable.ts";
import { refuseClosedStdout } from "../stdout-job.ts";

/** One line of --list: what, where from and to, since when, how far. */
function describePending(p: PendingTransfer): string {
  const verb = p.sync ? "sync" : `${p.direction}${p.kind === "tree" ? " -r" : ""}`;
  const route = p.direction === "get" ? `${p.url} → ${p.local}` : `${p.local} → ${p.url}`;
  const far = p.done === null ? "" : "files" in p.done ? `; ${p.done.files} file(s) done` : `; ${formatSize(p.done.bytes)} received`;
  return `${verb} ${route}${p.tls ? " over TLS" : ""} (started ${p.startedAt}${far})`;
}

export default defineCommand({
  meta: {
    name: "resume",
    description: "Continue interrupted transfers (all recorded in this directory, or the one for LOCAL); a transfer begun over TLS resumes over TLS",
  },
  args: {
    local: { type: "positional", required: false, description: "The local file of the transfer to continue", valueHint: "LOCAL" },
    list: { type: "boolean", description: "List the interrupted transfers recorded here, or LOCAL's (--json: as JSON), and continue none" },
    json: { type: "boolean", description: "Print the JSON report the resumed job prints with --json (each file: action, bytes, digest, result; several jobs' files in one report, a tree's under its directory); with --list, the list as JSON" },
    ...clientArgs,
  },
  async run({ args, rawArgs, cmd }) {
    checkArgs(rawArgs, cmd.args, args._);
    // An empty LOCAL (an unset variable) named the working directory: "nothing to resume" while jobs waited.
    if (args.local === "") throw new CliError("LOCAL is empty: name a file or directory a pending transfer writes or reads, or give none for every job here");
    refuseClosedStdout(["resume", ...rawArgs]);
    if (args.list) {
      // With LOCAL: that transfer only, wherever it was started (a script asks whether one job is pending).
      const only = args.local === undefined ? undefined : resolve(args.local);
      forgetOrphanedPasswords();
      let pending = pendingTransfers({ only });
      let elsewhere = journalsElsewhere(journalDir());
      if (only !== undefined) {
        for (const place of pending.length === 0 ? elsewhere : []) {
          pending = pendingTransfers({ journal: place.journal, only });
          if (pending.length > 0) break;
        }
        elsewhere = [];
      }
      if (args.json) {
        process.stdout.write(printableJson(pending) + "\n");
        // stdout keeps the list of this directory's jobs; where others wait goes to stderr.
        if (elsewhere.length > 0) stderrStream().write(`${whereElse(elsewhere)}\n`);
      } else {
        if (pending.length === 0) process.stdout.write(elsewhere.length > 0 ? "nothing to resume here\n" : "nothing to resume\n");
        for (const p of pending) process.stdout.write(describePending(p) + "\n");
        if (elsewhere.length > 0) process.stdout.write(`${whereElse(elsewhere)}\n`);
      }
      return;
    }
    await resumeTransfers(args.local, quietForJson(clientOptions(args), args.json), { json: args.json === true });
  },
});
