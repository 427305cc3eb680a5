// sync --checksum in a download: a file found the same whose destination is a symbolic link gets no
// time through the link (its target may be outside the tree).
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { lstatSync, mkdirSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit, startFtpkitServer } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";

setDefaultTimeout(60_000);

const owned = useCleanups("ftpkit-checksum-links-");

describe("sync --checksum, a destination file that is a symbolic link", () => {
  test("found the same: its target's time is not changed, the link stays, and the warning says why", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = owned.workDir();
    mkdirSync(join(srv.home, "t"));
    writeFileSync(join(srv.home, "t/a.txt"), "same\n");
    writeFileSync(join(srv.home, "t/plain.txt"), "also\n");
    const old = new Date("2001-01-01T00:00:00Z");
    mkdirSync(join(work, "outside"));
    writeFileSync(join(work, "outside/a"), "same\n");
    utimesSync(join(work, "outside/a"), old, old);
    mkdirSync(join(work, "dest"));
    symlinkSync("../outside/a", join(work, "dest/a.txt"));
    writeFileSync(join(work, "dest/plain.txt"), "also\n");
    utimesSync(join(work, "dest/plain.txt"), old, old);
    const r = await runFtpkit(["sync", srv.url("/t"), "dest", "--checksum"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("0 copied (0 verified by digest), 2 skipped, 0 deleted, 0 failed");
    expect(statSync(join(work, "outside/a")).mtime.toISOString()).toBe(old.toISOString());
    expect(lstatSync(join(work, "dest/a.txt")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(work, "dest/a.txt"))).toBe("../outside/a");
    expect(r.stderr).toContain("a.txt: the same as the source, but a symbolic link in the destination: its time was not set (nothing is written through a link there)");
    // A plain file found the same still gets the source's time.
    expect(statSync(join(work, "dest/plain.txt")).mtimeMs).toBe(Math.floor(statSync(join(srv.home, "t/plain.txt")).mtimeMs / 1000) * 1000);
  });
});
