import { setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Network tests start real servers and real clients; 5 s is too tight on a busy 2-core box.
// Measured with Bun 1.4.5: a preload's setDefaultTimeout reaches only the first test file of a run,
// so `bun run test` and .ci/run also pass `--timeout 60000`, which covers every file.
setDefaultTimeout(30_000);

// The client keeps saved passwords and locks in the user's state directory: tests (and the CLI
// processes they start, which inherit the environment) use a throw-away one, never the real home's.
const state = mkdtempSync(join(tmpdir(), "ftpkit-state-"));
process.env.XDG_STATE_HOME = state;
process.on("exit", () => rmSync(state, { recursive: true, force: true }));
