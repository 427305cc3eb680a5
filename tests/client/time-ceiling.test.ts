// A remote time later than the local file system can keep (year 9999: ext4 stores 2446-05-10, the
// oldest ext4 inodes and XFS without bigtime 2038-01-19): a sync down sets the file's time, the disk
// clamps it, and the next sync must not take the clamp for a change.
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsFile, sendsListing, useScriptedServerWork } from "./scripted-server.ts";
import { sameTime } from "../../client/tree-plan.ts";

const t = useScriptedServerWork();

const DATA = Buffer.from("from the far future\n");

describe("a remote file dated 9999-12-31", () => {
  test("sync down twice: the second copies nothing, though the disk kept an earlier time", async () => {
    const server = t.start({
      feat: ["MLST type*;size*;modify*;", "SIZE", "MDTM"],
      on: {
        MLSD: sendsListing([`type=file;size=${DATA.length};modify=99991231235959; far.txt`]),
        SIZE: (c) => c.reply(213, String(DATA.length)),
        MDTM: (c) => c.reply(213, "99991231235959"),
        RETR: sendsFile(DATA),
      },
    });
    const url = `ftp://u:p@127.0.0.1:${server.port}/t`;
    const first = await runFtpkit(["sync", url, "dest", "--no-verify", "--json"], { cwd: t.work, timeoutMs: 30_000 });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ copied: 1 });
    expect(readFileSync(join(t.work, "dest/far.txt"), "utf8")).toBe(DATA.toString());
    // On ext4 (this suite's disks) the file keeps 2446-05-10T22:38:55Z; a disk without a ceiling keeps 9999.
    expect([15_032_385_535_000, 2_147_483_647_000, Date.UTC(9999, 11, 31, 23, 59, 59)]).toContain(statSync(join(t.work, "dest/far.txt")).mtimeMs);
    const second = await runFtpkit(["sync", url, "dest", "--no-verify", "--json"], { cwd: t.work, timeoutMs: 30_000 });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ copied: 0, skipped: 1 });
    expect(server.commands.filter((c) => c.startsWith("RETR"))).toHaveLength(1);
  });
});

describe("sameTime at a file system's ceiling", () => {
  const at = (iso: string) => ({ rel: "f", type: "file" as const, size: 1, mtimeMs: Date.parse(iso), precisionMs: 1000 });
  const cases: [string, string, boolean][] = [
    ["2446-05-10T22:38:55Z", "9999-12-31T23:59:59Z", true], // ext4
    ["2038-01-19T03:14:07Z", "2100-01-01T00:00:00Z", true], // 32-bit seconds
    ["2446-05-10T22:38:55Z", "2446-05-10T22:38:55.500Z", true], // the same second
    ["2446-05-10T22:38:55Z", "2020-01-01T00:00:00Z", false], // the other is earlier: a change
    ["2446-05-10T22:38:54Z", "9999-12-31T23:59:59Z", false], // no ceiling
    ["2000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", false],
  ];
  for (const [held, given, same] of cases) {
    test(`${held} and ${given}: ${same ? "the same" : "different"}, either way round`, () => {
      expect(sameTime(at(held), at(given))).toBe(same);
      expect(sameTime(at(given), at(held))).toBe(same);
    });
  }
});
