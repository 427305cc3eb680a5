// `ftpkit serve`: SIGHUP, SIGTERM and SIGINT are caught from the first moment of each image, and held
// until the server (or the --workers primary) has its own handlers. Without a handler Bun's default
// ended the process: a `systemctl reload` (logrotate) landing while a server with 20,000 users
// started (~0.9 s before it listens) left it dead of SIGHUP, which Restart=on-failure does not
// restart. Imported by cli/ftpkit.ts right after early-interrupt.ts; loads only command-line.ts.
import { rawArgs } from "./command-line.ts";

const STOPS = { SIGINT: 2, SIGTERM: 15 } as const;
const SIGNALS = ["SIGHUP", "SIGTERM", "SIGINT"] as const;
export type EarlySignal = (typeof SIGNALS)[number];

/** Signals taken before the server's own handlers, in order, each once. */
const held: EarlySignal[] = [];
let installed = false;

function hold(signal: EarlySignal): void {
  // A second stop signal while starting (a second Ctrl-C, an impatient operator): nothing runs yet
  // that a clean stop would let finish, so the process ends now, as the signal's default would.
  if (signal !== "SIGHUP" && held.some((s) => s !== "SIGHUP")) process.exit(128 + STOPS[signal]);
  if (!held.includes(signal)) held.push(signal);
}
const handlers = new Map(SIGNALS.map((s) => [s, () => hold(s)] as const));

if (rawArgs[0] === "serve") {
  for (const [signal, handler] of handlers) process.on(signal, handler);
  installed = true;
  // A --workers worker tells its primary it may be signalled now (serve-workers.ts: SIGHUP reaches it).
  if (process.env.FTPKIT_WORKER !== undefined) process.send?.({ signalsCaught: true });
}

/** A SIGTERM or SIGINT came while starting: its name (the first), else null. */
export function heldStop(): EarlySignal | null {
  return held.find((s) => s !== "SIGHUP") ?? null;
}

/**
 * The server's own handlers take over: call it once they are installed (they are installed first,
 * so no moment is left without one). Returns what came meanwhile, for the caller to act on.
 */
export function takeEarlySignals(): EarlySignal[] {
  if (installed) for (const [signal, handler] of handlers) process.off(signal, handler);
  installed = false;
  return held.splice(0);
}
