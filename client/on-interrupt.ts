// What a running job must do the moment Ctrl-C or SIGTERM ends it, before the process exits (the
// CLI's handler, cli/interrupt.ts, runs these first): a stream's upload resets its data connection,
// since the FIN an exiting process sends would tell the server the input ended and the file is
// complete; and a stream says in one line what it cut short (it has no journal to resume from).
import { writeSync } from "node:fs";
import { printableMessage } from "../protocol/printable.ts";

export type InterruptSignal = "SIGINT" | "SIGTERM";

const hooks = new Set<(signal: InterruptSignal) => void>();

/** Run `hook` if a signal ends the process while the returned Disposable lives (`using`). */
export function whenInterrupted(hook: (signal: InterruptSignal) => void): Disposable {
  hooks.add(hook);
  return {
    [Symbol.dispose]() {
      hooks.delete(hook);
    },
  };
}

/** Called by the signal handler: every hook, each once; one that fails does not stop the others. */
export function runInterruptHooks(signal: InterruptSignal): void {
  for (const hook of [...hooks]) {
    hooks.delete(hook);
    try {
      hook(signal);
    } catch {
      /* exiting anyway */
    }
  }
}

/**
 * One line on stderr, written before the handler's process.exit (synchronously: a pipe's buffered
 * write could be lost), with control characters escaped as every message is.
 */
export function sayInterrupted(line: string): void {
  said = true;
  writeSync(2, `${printableMessage(line)}\n`);
}

let said = false;

/** Whether a job said itself what the interruption cut short (sayInterrupted). */
export function interruptionSaid(): boolean {
  return said;
}

/**
 * Ctrl-C at a question read in raw mode arrives as a byte, not as SIGINT: end the run as the signal
 * would (the CLI's handler runs the hooks, prints a --json report, exits 130). The handler's exit
 * waits for standard error (cli/exit.ts) and writes its last line (how to resume) after it: exiting
 * here at once dropped both. Without that handler (the package's API), exit 130 now.
 */
export function endAsInterrupted(): Promise<never> {
  process.emit("SIGINT", "SIGINT");
  if (!handlerExits) process.exit(130);
  return new Promise<never>(() => {});
}

/** Whether the CLI's SIGINT handler is there to end the process (a host program's own handler may not). */
let handlerExits = false;

/** Said by the CLI's signal handlers (cli/interrupt.ts) as they are installed: they exit, once stderr has taken its messages. */
export function signalHandlerExits(): void {
  handlerExits = true;
}
