// Bun's allocator (mimalloc) gives freed memory back to the kernel after a few milliseconds. An
// upload frees one socket chunk (up to 512 KiB, a fresh allocation each time) and allocates the
// next, so with that default the next chunk lands on pages that must be faulted in and zeroed
// again: 13–30 k minor faults and 1.7–2.4 s of server CPU per GiB uploaded (stor-100, loaded 2-core
// machine), against 0.1–8 k faults and 1.1–1.3 s with purging off (MIMALLOC_PURGE_DELAY=-1). Freed
// memory then stays with the process for reuse: its RSS stays at its peak instead of shrinking.
// (Longer delays, 1–10 s, and MIMALLOC_PURGE_DECOMMITS=0 measured no better than the default.)
// Downloads from S3 gain as well: a 1 GiB RETR cost 1.85–2.5 s of server CPU and 32–44 k faults with
// the default, 1.1–1.45 s and 6–18 k with a 1 s delay (A/B, same run).
// mimalloc reads its options once, at start-up: `serve` re-executes itself once with the setting
// (process.execve keeps the PID, stdio and everything else), unless the variable is already set,
// so an operator can still choose another value (or the default, with MIMALLOC_PURGE_DELAY=10).

export const PURGE_ENV = "MIMALLOC_PURGE_DELAY";

/** Re-execute this `serve` with purging off; returns only when it did not (already set, or not possible). */
export function reexecWithAllocatorTuning(): void {
  if (process.env[PURGE_ENV] !== undefined) return;
  const script = process.argv[1];
  // A `bun build --compile` executable names its embedded entry point in argv[1], which is not an OS argument.
  if (!script || script.startsWith("/$bunfs/") || typeof process.execve !== "function") return;
  try {
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [PURGE_ENV]: "-1" });
  } catch {
    // Not fatal: the server runs with the allocator's defaults.
  }
}
