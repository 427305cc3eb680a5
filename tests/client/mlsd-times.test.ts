// A MLSD line whose modify fact cannot be read (month 13, as a broken server sends it) keeps its
// entry, with its time unknown: ls shows no time, a tree job compares it by size and says so once.
import { describe, expect, test } from "bun:test";
import { statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { sendsFile, sendsListing, startScriptedServer } from "./scripted-server.ts";

const owned = useCleanups("ftpkit-mlsd-times-");

/** A server listing /d as good.txt (a valid time) and bad1.txt, bad2.txt (month 13); every file is "abc". */
function server() {
  const srv = startScriptedServer({
    feat: ["MLST type*;size*;modify*;", "SIZE"],
    on: {
      MLSD: sendsListing(["type=file;size=3;modify=20260101120000; good.txt", "type=file;size=3;modify=20261301120000; bad1.txt", "type=file;size=3;modify=20261345999999; bad2.txt"]),
      MLST: (c, arg) => c.write(`250-Listing ${arg}\r\n type=dir; ${arg}\r\n250 End\r\n`),
      RETR: sendsFile(Buffer.from("abc")),
      SIZE: (c) => c.reply(213, "3"),
      CWD: (c) => c.reply(250, "ok"),
    },
  });
  owned.later(() => srv.stop());
  return { url: (path: string) => `ftp://u:p@127.0.0.1:${srv.port}${path}` };
}

const warnings = (stderr: string) => stderr.split("\n").filter((l) => l.includes("listed with a time that cannot be read"));

describe("a modify fact out of range in MLSD", () => {
  test("ls lists the entries without a time (--json: null) and warns once", async () => {
    const srv = server();
    const work = owned.workDir();
    const r = await runFtpkit(["ls", srv.url("/d/")], { cwd: work });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^-rw- +3 {14}bad1\.txt$/);
    expect(lines[2]).toMatch(/ Jan  1  2026 good\.txt$/);
    expect(warnings(r.stderr)).toEqual(['[warn] 2 entries are listed with a time that cannot be read (the first: "bad1.txt", modify="20261301120000"): shown without a time']);
    const json = JSON.parse((await runFtpkit(["ls", "--json", srv.url("/d/")], { cwd: work })).stdout) as { name: string; mtime: string | null }[];
    expect(json.map((e) => [e.name, e.mtime])).toEqual([["bad1.txt", null], ["bad2.txt", null], ["good.txt", "2026-01-01T12:00:00.000Z"]]);
  });

  test("sync copies them (dated when copied, not 1970), warns once, and the next sync skips them by size", async () => {
    const srv = server();
    const work = owned.workDir();
    const before = Date.now() - 60_000;
    const first = await runFtpkit(["sync", srv.url("/d"), "out", "--no-verify"], { cwd: work });
    expect(first.code).toBe(0);
    expect(first.stderr).toContain("3 copied");
    expect(warnings(first.stderr)).toEqual(["[warn] 2 remote entries are listed with a time that cannot be read (the first: bad1.txt, modify=\"20261301120000\"): compared by size only, and a copy is dated when it is made"]);
    expect(statSync(join(work, "out", "bad1.txt")).mtimeMs).toBeGreaterThan(before);
    expect(statSync(join(work, "out", "good.txt")).mtime.toISOString()).toBe("2026-01-01T12:00:00.000Z");
    // Older local copies of the same size: still the same by size (a time to compare is not there).
    utimesSync(join(work, "out", "bad2.txt"), new Date(1000), new Date(1000));
    const again = await runFtpkit(["sync", srv.url("/d"), "out", "--no-verify"], { cwd: work });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("0 copied (0 verified by digest), 3 skipped");
  });
});
