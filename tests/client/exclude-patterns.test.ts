// --exclude patterns that could never match a path of a tree (a ".", ".." or empty segment, as in
// `./cache`) are refused before anything moves: with sync --delete they removed what they named.
// A pattern that ends in "/" matches directories only, as in rsync.
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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

test('an --exclude that ends in "/" leaves out directories only, on either side: "build/" keeps a file named build, "*/" keeps the top-level files', async () => {
  const srv = await startFtpkitServer();
  owned.later(() => srv.stop());
  const work = owned.workDir();
  mkdirSync(join(srv.home, "t", "build"), { recursive: true });
  mkdirSync(join(srv.home, "t", "sub"), { recursive: true });
  writeFileSync(join(srv.home, "t", "build", "out.o"), "o\n");
  writeFileSync(join(srv.home, "t", "sub", "build"), "a file named build\n");
  writeFileSync(join(srv.home, "t", "top.txt"), "top\n");
  const got = await runFtpkit(["get", "-r", srv.url("/t"), "down", "--exclude", "build/"], { cwd: work });
  expect(got.code).toBe(0);
  expect(readFileSync(join(work, "down/sub/build"), "utf8")).toBe("a file named build\n");
  expect(existsSync(join(work, "down/build"))).toBe(false);
  // Before: "*/" was "*", and nothing was copied (exit 0).
  const tops = await runFtpkit(["get", "-r", srv.url("/t"), "tops", "--exclude=*/"], { cwd: work });
  expect(tops.code).toBe(0);
  expect(readdirSync(join(work, "tops"))).toEqual(["top.txt"]);
  // The local side of an upload: the same.
  const put = await runFtpkit(["put", "-r", join(work, "down"), srv.url("/up"), "--exclude", "sub/"], { cwd: work });
  expect(put.code).toBe(0);
  expect(readdirSync(join(srv.home, "up")).sort()).toEqual(["top.txt"]);
});
