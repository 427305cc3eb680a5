// Runs the load generator (bench/load.ts) as a child process, one measurement at a time, and reads
// the one JSON line it prints; the memory row also reads the server's PSS while it holds its sessions.
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { LoadResult, LoadSpec } from "./load.ts";
import { setCurrentLoad } from "./cleanup.ts";
import { BENCH_DIR, spawnPiped, treePssKiB, type RunningServer } from "./servers.ts";

const LOAD = join(BENCH_DIR, "load.ts");

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text();
}

function lastJson(out: string): LoadResult {
  const line = out.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) return { ok: false, error: `no result from the load generator: ${out.trim().slice(-300)}`, wallMs: 0, cpuMs: 0 };
  return JSON.parse(line) as LoadResult;
}

/** Kill a load generator (its whole process group) if it overruns its time. */
function killAfter(proc: Subprocess, ms: number): ReturnType<typeof setTimeout> {
  return setTimeout(() => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      proc.kill("SIGKILL");
    }
  }, ms);
}

export async function runLoad(spec: LoadSpec, timeoutMs: number): Promise<LoadResult> {
  const proc = spawnPiped([process.execPath, LOAD, JSON.stringify(spec)]);
  setCurrentLoad(proc);
  const timer = killAfter(proc, timeoutMs);
  const [out, err] = await Promise.all([readAll(proc.stdout), readAll(proc.stderr)]);
  await proc.exited;
  clearTimeout(timer);
  setCurrentLoad(undefined);
  const r = lastJson(out);
  if (!r.ok && err.trim()) r.error = `${r.error} (${err.trim().split("\n").slice(-1)[0]})`;
  return r;
}

/** The memory row: the generator opens N logged-in sessions, we read PSS, then it lets go. */
export async function runSessions(spec: Extract<LoadSpec, { kind: "sessions" }>, server: RunningServer): Promise<LoadResult> {
  await Bun.sleep(500);
  const baseline = treePssKiB(server.pid);
  const proc = spawnPiped([process.execPath, LOAD, JSON.stringify(spec)]);
  setCurrentLoad(proc);
  const timer = killAfter(proc, spec.holdMs + 120_000);
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let out = "";
  let loaded: number | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value, { stream: true });
    const m = /^READY (\d+)$/m.exec(out);
    if (m && loaded === undefined) {
      await Bun.sleep(1_000); // let the server finish its per-session setup
      loaded = treePssKiB(server.pid);
      proc.stdin.write("done\n");
      proc.stdin.end();
    }
  }
  await proc.exited;
  clearTimeout(timer);
  setCurrentLoad(undefined);
  const r = lastJson(out);
  if (!r.ok || loaded === undefined) return r.ok ? { ...r, ok: false, error: "sessions never became ready" } : r;
  const n = r.value ?? 0;
  return { ...r, value: (loaded - baseline) / n, unit: "KiB/session", detail: `${n} sessions, PSS ${baseline} → ${loaded} KiB` };
}
