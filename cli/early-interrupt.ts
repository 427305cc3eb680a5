// Ctrl-C (SIGINT) or SIGTERM in the first moments of get, put or sync, before the job's own handler
// (cli/interrupt.ts) is installed: without a handler the signal killed the process with no word, and
// `ftpkit resume` then found nothing. Imported by cli/ftpkit.ts right after raw-args.ts, in each image
// of the tuned re-execution (an execve puts the signals back to their defaults). Loads only the
// command line's reading (command-line.ts).
import { jsonReport, rawArgs } from "./command-line.ts";

const SIGNALS = [["SIGINT", 2], ["SIGTERM", 15]] as const;

/** What a get, put or sync interrupted before it recorded anything says (also cli/interrupt.ts). */
export function nothingRecordedLine(signal: string): string {
  return `interrupted by ${signal} before the job started: nothing was transferred or recorded by this run; run the command again`;
}

const installed: Array<[string, () => void]> = [];

if (["get", "put", "sync"].includes(rawArgs[0] ?? "")) {
  for (const [signal, number] of SIGNALS) {
    const said = async () => {
      // The one report a --json run prints whatever ends it: the job's, had it begun (client/report.ts).
      const report = { files: [], copied: 0, created: 0, skipped: 0, deleted: 0, failed: 1, bytesMoved: 0, error: `interrupted by ${signal}` };
      if (jsonReport) await Bun.write(Bun.stdout, `${JSON.stringify(report, null, 2)}\n`).catch(() => {});
      await Bun.write(Bun.stderr, `${nothingRecordedLine(signal)}\n`).catch(() => {});
      process.exit(128 + number);
    };
    process.once(signal, said);
    installed.push([signal, said]);
  }
}

/** The job's own handler takes over (cli/interrupt.ts). */
export function dropEarlyInterrupt(): void {
  for (const [signal, said] of installed.splice(0)) process.off(signal, said);
}
