// rclone as a real peer: uploads carry their modification time (MFMT), so `rclone sync` notices a
// changed file of the same size; and `rclone check --download` sees the bytes.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { SERVER_KINDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { run } from "./run.ts";

let ts: TestServer;
let local: string;
let obscured: string;

for (const kind of SERVER_KINDS) describe(kind.label("rclone"), () => {
  beforeEach(async () => {
    ts = await startTestServer({ workers: kind.workers });
    local = tempDir("ftpkit-rclone-");
    obscured ??= (await run(["rclone", "obscure", "alice-pw"])).stdout.trim();
  });

  afterEach(async () => {
    await ts.stop();
    removeDir(local);
  });

  const home = (p: string) => join(ts.home("alice"), p);

  function rclone(...args: string[]) {
    const remote = `:ftp,host=127.0.0.1,port=${ts.port},user=alice,pass=${obscured}:`;
    const full = args.map((a) => (a.startsWith("remote:") ? remote + a.slice(7) : a));
    return run(["rclone", "--config", "/dev/null", "--contimeout", "5s", "--timeout", "10s", "-v", ...full], { cwd: local, timeoutMs: 40_000 });
  }

  test("rclone copy sets the uploaded file's modification time with MFMT (no 'SetModTime is not supported')", async () => {
    mkdirSync(join(local, "src"));
    writeFileSync(join(local, "src/a.txt"), "version one\n");
    utimesSync(join(local, "src/a.txt"), new Date("2024-01-01T10:00:00Z"), new Date("2024-01-01T10:00:00Z"));
    const r = await rclone("copy", "src", "remote:up", "-vv", "--dump", "headers"); // --dump headers logs the FTP commands
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('FTP Tx: "MFMT 20240101100000 up/a.txt"');
    expect(r.stderr).not.toContain("SetModTime is not supported");
    expect(statSync(home("up/a.txt")).mtime.toISOString()).toBe("2024-01-01T10:00:00.000Z");
  });

  test("rclone sync replaces a changed file of the same size (it compares modification times)", async () => {
    mkdirSync(join(local, "src"));
    const file = join(local, "src/a.txt");
    writeFileSync(file, "version one\n");
    utimesSync(file, new Date("2024-01-01T10:00:00Z"), new Date("2024-01-01T10:00:00Z"));
    expect((await rclone("sync", "src", "remote:up")).code).toBe(0);
    writeFileSync(file, "version two\n"); // same size
    utimesSync(file, new Date("2024-06-01T10:00:00Z"), new Date("2024-06-01T10:00:00Z"));
    const r = await rclone("sync", "src", "remote:up");
    expect(r.code).toBe(0);
    expect(readFileSync(home("up/a.txt"), "utf8")).toBe("version two\n");
    expect(statSync(home("up/a.txt")).mtime.toISOString()).toBe("2024-06-01T10:00:00.000Z");
  });
});
