// Cleanup: every process we start is tracked and stopped by PID, also on Ctrl-C and errors.
// The servers and extra stops are added by the driver, the running load generator by load-runner.ts.
import type { Subprocess } from "bun";
import { stopServer, type RunningServer } from "./servers.ts";

export const running = new Set<RunningServer>();
export const extraStops = new Set<() => Promise<void>>();
let currentLoad: Subprocess | undefined;
let stopping = false;

/** The load generator now running (undefined between runs): stopEverything kills its process group. */
export function setCurrentLoad(proc: Subprocess | undefined): void {
  currentLoad = proc;
}

export async function stopEverything(): Promise<void> {
  if (currentLoad && currentLoad.exitCode === null) {
    try {
      process.kill(-currentLoad.pid, "SIGKILL");
    } catch {
      currentLoad.kill("SIGKILL");
    }
  }
  for (const stop of extraStops) await stop().catch(() => {});
  extraStops.clear();
  for (const s of running) await stopServer(s).catch(() => {});
  running.clear();
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${sig}: stopping servers…`);
    void stopEverything().finally(() => process.exit(130));
  });
}
