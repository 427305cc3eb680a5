// Runtime settings that Bun reads only at start-up, so a command that wants them re-executes itself
// once (process.execve keeps the PID, stdio and everything else) before anything else is loaded.
//
// Allocator (server and client). Bun's allocator (mimalloc) gives freed memory back to the kernel
// after a few milliseconds. A socket hands every received chunk over in a fresh allocation (up to
// 512 KiB), so with that default the next chunk lands on pages that must be faulted in and zeroed again.
// - Server: an upload frees one chunk and allocates the next: 13–30 k minor faults and 1.7–2.4 s of
//   server CPU per GiB uploaded (stor-100, loaded 2-core machine), against 0.1–8 k faults and
//   1.1–1.3 s with purging off (MIMALLOC_PURGE_DELAY=-1). Downloads from S3 gain as well: a 1 GiB
//   RETR cost 1.85–2.5 s of server CPU and 32–44 k faults with the default, 1.1–1.45 s and 6–18 k
//   with a 1 s delay (A/B, same run).
// - Client: a 1 GiB `get` (6 interleaved rounds against ftpkit serve): 1.02–2.23 s with the default,
//   0.99–1.20 s with purging off; verified 2.13–4.09 s against 1.48–1.88 s. `put` gains ~5%.
// Freed memory then stays with the process for reuse: its RSS stays at its peak instead of shrinking.
// (Longer delays, 1–10 s, and MIMALLOC_PURGE_DECOMMITS=0 measured no better than the default.)
//
// Optimizing JIT (client only). A client command lives a second or two, and its JavaScript is glue
// around system calls: JavaScriptCore's DFG compiler spent ~14% of a tree job's CPU samples on its
// own thread (a third busy thread on a 2-core machine, beside the server and the client's loop), for
// code that runs a few thousand times. With BUN_JSC_useDFGJIT=0 (the baseline JIT still compiles
// hot code) a 1,000-file `get -r` took 0.76–0.87 s against 0.87–0.94 s, and `put -r` 0.92–1.02 s
// against 0.99–1.19 s (interleaved runs); a 1 GiB get measured the same. The server, which runs
// for days, keeps every tier.
//
// A setting already in the environment is left as it is (an operator can choose the default, e.g.
// MIMALLOC_PURGE_DELAY=10); once MIMALLOC_PURGE_DELAY is set, the process does not re-execute.

import { stdoutClosedAtStart } from "../client/closed-stdout.ts";
import { undecodableArgs } from "./raw-args.ts";

export const PURGE_ENV = "MIMALLOC_PURGE_DELAY";

export type Tuning = Record<string, string>;

export const SERVER_TUNING: Tuning = { [PURGE_ENV]: "-1" };
export const CLIENT_TUNING: Tuning = { [PURGE_ENV]: "-1", BUN_JSC_useDFGJIT: "0" };

/** Whether this image was started tuned (or the operator chose the allocator setting): it does not re-execute. */
export function alreadyTuned(): boolean {
  return process.env[PURGE_ENV] !== undefined;
}

/**
 * Re-execute this command with `tuning`; returns only when it did not (already done, or not possible).
 * `stdoutClosed`: whether standard output was closed at start, when the caller has read it already.
 */
export function reexecTuned(tuning: Tuning, stdoutClosed?: boolean): void {
  if (alreadyTuned()) return;
  if (!process.argv[1] || typeof process.execve !== "function") return;
  // A standard output closed at start (`>&-`) is told by its close-on-exec (client/closed-stdout.ts),
  // which process.execve clears (closed again, the execve fails with EBADF): that run stays in this image.
  if (stdoutClosed ?? stdoutClosedAtStart()) return;
  // An argument that is not UTF-8 would reach the new image as U+FFFD's bytes, a name like any other:
  // this image keeps the run, and refuses it (refuseUrlAsLocal).
  if (undecodableArgs?.size) return;
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [name, value] of Object.entries(tuning)) env[name] ??= value;
  try {
    process.execve(process.execPath, [...selfCommand(process.execArgv), ...process.argv.slice(2)], env);
  } catch {
    // Not fatal: the command runs with Bun's defaults.
  }
}

/**
 * The command that starts this program again, to be followed by its arguments (`serve …`): bun and
 * the script (after `bunArgs`), or a `bun build --compile` executable alone, which names its embedded
 * entry point in argv[1] ("/$bunfs/…"): that is not an OS argument, and given to the executable it
 * reads as the command ("Unknown command /$bunfs/root/ftpkit").
 */
export function selfCommand(bunArgs: string[] = []): string[] {
  const script = process.argv[1] ?? "";
  return script.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, ...bunArgs, script];
}

/**
 * Whether a client command line moves enough to pay for the re-execution (~30 ms): every get, sync
 * and resume (a 1 GiB get gains from the allocator setting), and a put of a tree or a glob. A single
 * put reads into one reused buffer and measured the same either way (1.42–1.53 s against 1.39–1.59 s).
 */
export function clientWantsTuning(argv: readonly string[]): boolean {
  const [command, ...rest] = argv;
  if (command === "get" || command === "sync" || command === "resume") return true;
  if (command !== "put") return false;
  // A guess from the raw arguments (citty has not parsed them yet): a wrong one costs only speed.
  // LOCAL is usually the first argument that is not a flag.
  const local = rest.find((a) => !a.startsWith("-")) ?? "";
  return rest.some((a) => a === "-r" || a === "--recursive") || /[*?[]/.test(local.replace(/\/+$/, "").split("/").pop()!);
}
