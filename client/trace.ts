// The FTP conversation, for --verbose (the CLI) and the API's `trace` option: each command and
// reply as it goes, tagged with its connection, so a tree job's interleaved connections can be told
// apart and a stuck one named. The server's text is shown escaped, line by line (printableName): a
// reply cannot drive the terminal. PASS never shows its argument (FtpClient masks it before this sees it).
import { printableName } from "../protocol/printable.ts";
import { stderrOut } from "./report.ts";

/** Where trace lines go. */
export type Trace = (line: string) => void;

/**
 * The CLI's writer: standard error, one line each, written before returning where stderr is not a
 * terminal (stderrOut): a failed job exits (process.exit) right after its error, and behind a slow
 * reader the conversation's last lines (the failing exchange) and the error itself were lost.
 */
export function stderrTrace(line: string): void {
  stderrOut().write(`${line}\n`);
}

let connections = 0;

/** The trace of one new control connection: its lines carry "[n] ", n counting the process's connections. */
export function connectionTrace(trace: Trace | undefined): Trace | undefined {
  if (!trace) return undefined;
  const tag = `[${++connections}] `;
  return (line) => trace(tag + line.split("\n").map(printableName).join(`\n${tag}`));
}
