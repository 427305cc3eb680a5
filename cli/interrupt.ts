// Ctrl-C (SIGINT) or SIGTERM during a client job: what is pending stays on disk (the part file, the
// journal), so say how to continue it, then exit as the signal would have (128 + its number).
import { dirname } from "node:path";
import { journalDir, pendingDirs, recordedInThisRun } from "../client/journal.ts";
import { interruptedReport, printJsonOnce, printReport, reportPrinted, stderrOut } from "../client/report.ts";
import { sayUnsaidWarnings } from "../client/messages.ts";
import { exitAfterMessages } from "./exit.ts";
import { interruptionSaid, runInterruptHooks, signalHandlerExits } from "../client/on-interrupt.ts";
import { dropEarlyInterrupt, nothingRecordedLine } from "./early-interrupt.ts";

const SIGNALS = [["SIGINT", 2], ["SIGTERM", 15]] as const;

/**
 * `ls` keeps no state to resume, but the warnings it said reach stderr before the exit, as get's do
 * (without a handler the signal killed it with them); with `json` a script still gets its one JSON
 * answer: the error.
 */
export function listingOnInterrupt(json: boolean, quiet: boolean): void {
  signalHandlerExits();
  for (const [signal, number] of SIGNALS) {
    process.once(signal, () => {
      if (json) printJsonOnce({ error: `interrupted by ${signal}` });
      sayUnsaidWarnings(quiet);
      void exitAfterMessages(128 + number);
    });
  }
}

/**
 * With `json`, the job's report so far goes to stdout first, so a script always gets one. The
 * warnings said before the signal reach stderr before the exit (exitAfterMessages), and so do those
 * still waiting for the command's end (sayUnsaidWarnings; not with -q).
 */
export function hintOnInterrupt(json: boolean, quiet: boolean): void {
  signalHandlerExits();
  dropEarlyInterrupt();
  // `resume` continues records on disk, left there whatever it is interrupted at.
  const freshJob = process.argv[2] !== "resume";
  for (const [signal, number] of SIGNALS) {
    process.once(signal, () => {
      // First what cannot wait for the exit: a stream's upload resets its data connection.
      runInterruptHooks(signal);
      if (json && !reportPrinted()) printReport(interruptedReport(signal));
      sayUnsaidWarnings(quiet);
      void exitAfterMessages(128 + number, () => {
        // <dir>/.ftpkit/transfers, or this directory's journal in the state directory (an unwritable cwd).
        const where = pendingDirs().map((journal) => (journal === journalDir() ? process.cwd() : dirname(dirname(journal))));
        if (where.length === 0) {
          // Interrupted before the job recorded anything (connecting, listing, planning): it said nothing
          // and `ftpkit resume` then said "nothing to resume". A stream says its own line.
          if (freshJob && !recordedInThisRun() && !interruptionSaid()) stderrOut().write(`${stderrOut().isTTY ? "\n" : ""}${nothingRecordedLine(signal)}\n`);
          return;
        }
        const place = where.length === 1 && where[0] === process.cwd() ? "here" : `in ${where.join(", ")}`;
        // A progress bar may be mid-line on a terminal.
        stderrOut().write(`${stderrOut().isTTY ? "\n" : ""}interrupted: run \`ftpkit resume\` ${place} to continue\n`);
      });
    });
  }
}
