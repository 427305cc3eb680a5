// Bun's allocator (mimalloc) gives freed memory back to the kernel after a few milliseconds. A
// socket hands every received chunk over in a fresh allocation (up to 512 KiB), so with that default
// the next chunk lands on pages that must be faulted in and zeroed again.
// - Server: an upload frees one chunk and allocates the next: 13–30 k minor faults and 1.7–2.4 s of
//   server CPU per GiB uploaded (stor-100, loaded 2-core machine), against 0.1–8 k faults and
//   1.1–1.3 s with purging off (MIMALLOC_PURGE_DELAY=-1). Downloads from S3 gain as well: a 1 GiB
//   RETR cost 1.85–2.5 s of server CPU and 32–44 k faults with the default, 1.1–1.45 s and 6–18 k
//   with a 1 s delay (A/B, same run).
// - Client: a 1 GiB `get` (6 interleaved rounds against ftpkit serve): 1.02–2.23 s with the default,
//   0.99–1.20 s with purging off; verified 2.13–4.09 s against 1.48–1.88 s. `put` gains ~5%.
// Freed memory then stays with the process for reuse: its RSS stays at its peak instead of shrinking.
// (Longer delays, 1–10 s, and MIMALLOC_PURGE_DECOMMITS=0 measured no better than the default.)
// mimalloc reads its options once, at start-up: the process re-executes itself once with the setting
// (process.execve keeps the PID, stdio and everything else), unless the variable is already set,
// so an operator can still choose another value (or the default, with MIMALLOC_PURGE_DELAY=10).

export const PURGE_ENV = "MIMALLOC_PURGE_DELAY";

/** Re-execute this command with purging off; returns only when it did not (already set, or not possible). */
export function reexecWithAllocatorTuning(): void {
  if (process.env[PURGE_ENV] !== undefined) return;
  const script = process.argv[1];
  if (!script || typeof process.execve !== "function") return;
  // A `bun build --compile` executable names its embedded entry point in argv[1] ("/$bunfs/…"),
  // which is not an OS argument: the executable itself is run again with the user's arguments.
  const compiled = script.startsWith("/$bunfs/");
  const args = compiled ? process.argv.slice(2) : [...process.execArgv, ...process.argv.slice(1)];
  try {
    process.execve(process.execPath, [process.execPath, ...args], { ...process.env, [PURGE_ENV]: "-1" });
  } catch {
    // Not fatal: the command runs with the allocator's defaults.
  }
}
