import { afterAll, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Network tests start real servers and real clients; 5 s is too tight on a busy 2-core box.
// Measured with Bun 1.4.5: a preload's setDefaultTimeout reaches only the first test file of a run,
// so `bun run test` and .ci/run also pass `--timeout 60000`, which covers every file.
setDefaultTimeout(30_000);

// The client keeps saved passwords in the user's state directory and its locks in the runtime
// directory (else /dev/shm/ftpkit-UID): tests (and the CLI processes they start, which inherit the
// environment) use throw-away ones, so a client a test kills on purpose leaves no lock on the machine.
const state = mkdtempSync(join(tmpdir(), "ftpkit-state-"));
const runtime = mkdtempSync(join(tmpdir(), "ftpkit-runtime-"));
process.env.XDG_STATE_HOME = state;
process.env.XDG_RUNTIME_DIR = runtime;
// A preload's afterAll runs once, after every file; an "exit" handler never ran under `bun test`
// (Bun 1.4.5), which left one state directory in the temp directory per run.
afterAll(() => {
  rmSync(state, { recursive: true, force: true });
  rmSync(runtime, { recursive: true, force: true });
});
