// A hook's stderr reaches the server's stderr, but only so much of it: a hook that floods it cannot
// fill the disk under a redirected stderr (or the journal).
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOOK_STDERR_MAX } from "../../server/ops/hooks.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { tempDir } from "../tls/helpers.ts";
import { SourcedWire, until } from "./helpers.ts";

const t = cleanedAfterEach();

describe("hook output", () => {
  test("a hook's message reaches stderr; 5 MB of it are cut at the cap, logged, and the hook's pipe closed", async () => {
    t.dir = tempDir();
    await makeUsersFile(t.dir, [{ name: "alice", password: "alice-pw" }]);
    const script = join(t.dir, "noisy.sh");
    // Finite (5 MB), so that without a cap the test only grows by that much.
    writeFileSync(script, `#!/bin/sh\necho "scan: clean $FTPKIT_PATH" >&2\nhead -c 5000000 /dev/zero | tr '\\0' x >&2\n`, { mode: 0o755 });
    const srv = await spawnServe(["--users", "users.ini", "--hook", `mkdir=${script}`], { cwd: t.dir });
    t.pid = srv.proc.pid;
    const w = await SourcedWire.connect(srv.port, "127.0.0.1");
    t.wires.push(w);
    expect((await w.login("alice", "alice-pw")).pass?.code).toBe(230);
    expect((await w.cmd("MKD d1"))?.code).toBe(257);
    await until(() => /hook (output cut|ok)/.test(srv.stdout()) || srv.stderr().length >= 5_000_000, 15_000, "the hook to be cut or to finish");
    expect(srv.stderr()).toContain("scan: clean /d1");
    expect(srv.stderr().length).toBeLessThanOrEqual(HOOK_STDERR_MAX + 1000);
    // Cut mid-line, the passed-on output still ends its line: what comes after it starts a line of its own.
    await until(() => srv.stderr().endsWith("\n"), 10_000, "the cut output's line end");
    expect(srv.stdout()).toMatch(/WARN +hook output cut hookEvent=mkdir hook=\S+noisy\.sh path=\/d1 reason="more than 65536 bytes on stderr"/);
    // The hook ended on its closed pipe, long before its 30 s timeout.
    await until(() => /WARN +hook failed hookEvent=mkdir/.test(srv.stdout()), 10_000, "the hook's end");
  }, 30_000);
});
