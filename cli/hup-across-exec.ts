// `ftpkit serve` re-executes itself tuned (tuning.ts). The exec resets its handlers, and the new image
// catches nothing until Bun has booted and early-serve-signals.ts has run (10-20 ms, 60-80 ms on a busy
// machine): a SIGHUP there (logrotate's reload) was a death, exit 129, which Restart=on-failure does
// not restart. An ignored signal stays ignored across execve, so SIGHUP is ignored from just before it
// until the new image's early handler replaces SIG_IGN. Nothing is lost: that image reads every file
// after the window. (Blocking it instead does not hold: Bun's event loop waits in epoll_pwait2 with an
// empty signal mask while it loads the modules, which delivered the pending SIGHUP to SIG_DFL.)
// Linux only; without a loadable libc, nothing changes.
import { dlopen, FFIType, ptr } from "bun:ffi";

const SIGHUP = 1;
const SIG_IGN = 1n;

function loadSigaction() {
  const libcs = ["libc.so.6", `libc.musl-${process.arch === "arm64" ? "aarch64" : "x86_64"}.so.1`];
  for (const name of libcs) {
    try {
      return dlopen(name, { sigaction: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } }).symbols.sigaction;
    } catch {
      // the next name, else none
    }
  }
  return null;
}

/** Ignores SIGHUP until the next image's handler; returns what puts the current handler back (execve failed). */
export function ignoreHupAcrossExec(): () => void {
  if (process.platform !== "linux") return () => {};
  const sigaction = loadSigaction();
  if (!sigaction) return () => {};
  // struct sigaction (152 bytes on glibc x86_64 and arm64): the handler first; an empty mask, no flags.
  const ignore = new BigUint64Array(32);
  ignore[0] = SIG_IGN;
  const previous = new Uint8Array(256);
  if (sigaction(SIGHUP, ptr(ignore), ptr(previous)) !== 0) return () => {};
  return () => void sigaction(SIGHUP, ptr(previous), null);
}
