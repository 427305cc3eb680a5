// The temp directories startServer makes (a root, a TLS key's folder): close() removes them, and so
// does the end of a process that never called it (process.exit, Ctrl-C or SIGTERM to a test run, the
// end of a `bun test` run, kill -9).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { constants } from "node:os";

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

/**
 * A watcher that outlives this process by a moment: `bun test` ends its run without the "exit" event
 * (a server a failed test never closed left its root behind), and kill -9 runs no handler at all. It
 * reads "+DIR" and "-DIR" lines until its standard input closes, which the kernel does when this
 * process ends, however it ends, then removes what is still live. Its own process group and ignored
 * signals keep it alive through the Ctrl-C that stops the test run.
 */
const WATCHER = `trap '' INT TERM HUP PIPE; awk '{ p = substr($0, 2); if (substr($0, 1, 1) == "+") live[p] = 1; else delete live[p] } END { for (p in live) print p }' | while IFS= read -r p; do rm -rf -- "$p"; done`;

let watcher: ChildProcess | null = null;

/** Tell the watcher (started with the first directory) what lives; a path with a line break is left to "exit". */
function tellWatcher(line: string): void {
  if (line.includes("\n")) return;
  if (!watcher) {
    try {
      watcher = spawn("/bin/sh", ["-c", WATCHER], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
    } catch {
      return; // no /bin/sh: the handlers below still cover exit and signals
    }
    watcher.on("error", () => {});
    watcher.stdin?.on("error", () => {});
    watcher.unref();
    (watcher.stdin as { unref?: () => void } | null)?.unref?.();
  }
  watcher.stdin?.write(`${line}\n`);
}

/** No directory left: the watcher ends (it has nothing to remove), so no idle process stays. */
function endWatcher(): void {
  watcher?.stdin?.end();
  watcher = null;
}

/** The signals listened to while a directory lives. */
let listened: NodeJS.Signals[] = [];

function install(): void {
  process.on("exit", removeAll);
  const ignored = ignoredSignals();
  listened = SIGNALS.filter((s) => !ignored.has(s));
  for (const s of listened) process.on(s, onSignal);
}

function uninstall(): void {
  process.off("exit", removeAll);
  for (const s of listened) process.off(s, onSignal);
  listened = [];
}

/**
 * The signals this process ignores (nohup's SIGHUP, SIGINT of a job a script put in the background):
 * they end nothing, so nothing is to be removed before them, and a listener would end the ignoring
 * for good: Bun sets the default action back when the last listener goes, and a server started under
 * nohup then died when its terminal closed. Linux shows them in /proc/self/status; elsewhere none.
 */
function ignoredSignals(): Set<NodeJS.Signals> {
  try {
    const mask = BigInt(`0x${/^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0"}`);
    return new Set(SIGNALS.filter((s) => ((mask >> BigInt(constants.signals[s] - 1)) & 1n) === 1n));
  } catch {
    return new Set();
  }
}

/** Remove `dir` when the process ends, unless {@link removeTempDir} did it first. */
export function trackTempDir(dir: string): void {
  if (live.size === 0) install();
  live.add(dir);
  tellWatcher(`+${dir}`);
}

/** Remove `dir` now; with no directory left, the process's signals are as they were. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  if (!live.delete(dir)) return;
  tellWatcher(`-${dir}`);
  if (live.size === 0) {
    uninstall();
    endWatcher();
  }
}
