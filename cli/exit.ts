// The client's early exits (Ctrl-C or SIGTERM, a standard output that fails, a failed job) end with
// process.exit, which drops what process.stderr still holds: behind a reader that is behind (a
// paused `| less`, a slow log shipper, a pipe's 64 KiB full) the job's last warnings were lost.
import { stderrWritten } from "../client/report.ts";

let exiting = false;

/**
 * Exit with `status` once the messages written so far have reached standard error (at most
 * STDERR_EXIT_WAIT_MS), then `last` (a line written synchronously) — once: a second call (a
 * signal during a failure's exit) waits for the first, which exits.
 */
export async function exitAfterMessages(status: number, last?: () => void): Promise<never> {
  if (exiting) return new Promise<never>(() => {});
  exiting = true;
  process.exitCode = status;
  await stderrWritten();
  last?.();
  process.exit(status);
}
