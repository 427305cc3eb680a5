// --exclude patterns that could never match a path of a tree (a ".", ".." or empty segment, as in
// `./cache`) are refused before anything moves: with sync --delete they removed what they named.
import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit, startFtpkitServer } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";

setDefaultTimeout(60_000);

const owned = useCleanups("ftpkit-exclude-");

test('an --exclude with a ".", ".." or empty segment (./cache) is refused, exit 2, before sync --delete removes what it names', async () => {
  const srv = await startFtpkitServer();
  owned.later(() => srv.stop());
  const work = owned.workDir();
  mkdirSync(join(srv.home, "t"));
  writeFileSync(join(srv.home, "t", "a.txt"), "a\n");
  mkdirSync(join(work, "local", "cache"), { recursive: true });
  writeFileSync(join(work, "local", "cache", "c.bin"), "c\n");
  for (const bad of ["./cache", "cache/../cache", "x//cache", ".."]) {
    const r = await runFtpkit(["sync", srv.url("/t"), "local", "--delete", "--exclude", bad], { cwd: work });
    expect(r.stderr).toContain(`--exclude ${JSON.stringify(bad)} would exclude nothing: paths are matched from the tree's root, and have no ".", ".." or empty segment`);
    expect(r.code).toBe(2);
    expect(readFileSync(join(work, "local/cache/c.bin"), "utf8")).toBe("c\n");
  }
  const hinted = await runFtpkit(["get", "-r", srv.url("/t"), "local", "--exclude=./cache"], { cwd: work });
  expect(hinted.code).toBe(2);
  expect(hinted.stderr).toContain(": write /cache");
  // What it meant: kept.
  const r = await runFtpkit(["sync", srv.url("/t"), "local", "--delete", "--exclude", "/cache"], { cwd: work });
  expect(r.code).toBe(0);
  expect(readFileSync(join(work, "local/cache/c.bin"), "utf8")).toBe("c\n");
  expect(readFileSync(join(work, "local/a.txt"), "utf8")).toBe("a\n");
});
