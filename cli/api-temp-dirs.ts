// The temp directories startServer makes (a root, a TLS key's folder): close() removes them, and so
// does the end of a process that never called it (process.exit, Ctrl-C or SIGTERM to a test run).
import { rmSync } from "node:fs";

/** Signals whose default action ends the process without its "exit" event. */
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

const live = new Set<string>();

function removeAll(): void {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener owns this signal (a script's own graceful stop): it decides whether the process
  // ends, and "exit" removes the directories if it does. Alone, ours must not stop the signal's
  // default action, only come before it: remove, step aside, and send the signal again.
  if (process.listenerCount(signal) > 1) return;
  removeAll();
  uninstall();
  process.kill(process.pid, signal);
}

function install(): void {
  process.on("exit", removeAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  process.off("exit", removeAll);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Remove `dir` when the process ends, unless {@link removeTempDir} did it first. */
export function trackTempDir(dir: string): void {
  if (live.size === 0) install();
  live.add(dir);
}

/** Remove `dir` now; with no directory left, the process's signals are as they were. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  if (live.delete(dir) && live.size === 0) uninstall();
}
