// A plain `ftpkit get` gives the file the remote modification time (MDTM), as lftp's get, wget and
// ftpkit's own tree jobs do: in one stream, in segments, after a resume; only from a server that
// offers MDTM in FEAT, and without an error from one that does not.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, waitFor } from "../helpers/peers.ts";
import { startFakeServer } from "./fake-server.ts";
import { sendsFile, startScriptedServer } from "./scripted-server.ts";
import { chownTo, startVsftpd, vsftpdAvailable } from "../helpers/system-ftpd.ts";

setDefaultTimeout(60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function workDir(): string {
  const dir = tempDir("ftpkit-remote-time-");
  cleanups.push(() => removeDir(dir));
  return dir;
}

/** The remote files' time: whole seconds (MDTM's precision), years back. */
const WHEN = new Date("2021-03-04T05:06:07Z");
const mtimeOf = (p: string) => statSync(p).mtime.getTime();

describe("ftpkit get keeps the remote modification time (ftpkit's server)", () => {
  test("a plain get, one in --segments, and one killed and resumed all land with the remote time", async () => {
    const srv = await startFtpkitServer({ maxRate: "512K" });
    cleanups.push(() => srv.stop());
    const work = workDir();
    writeFileSync(join(srv.home, "small.txt"), "hello\n");
    const seg = randomFile(join(srv.home, "seg.bin"), 3 * 1024 * 1024);
    const big = randomFile(join(srv.home, "big.bin"), 1_500_000);
    for (const f of ["small.txt", "seg.bin", "big.bin"]) utimesSync(join(srv.home, f), WHEN, WHEN);

    const plain = await runFtpkit(["get", srv.url("/small.txt")], { cwd: work });
    expect(plain.code).toBe(0);
    expect(mtimeOf(join(work, "small.txt"))).toBe(WHEN.getTime());

    const segmented = await runFtpkit(["get", srv.url("/seg.bin"), "--segments", "3"], { cwd: work });
    expect(segmented.code).toBe(0);
    expect(digest(readFileSync(join(work, "seg.bin")))).toBe(digest(seg));
    expect(mtimeOf(join(work, "seg.bin"))).toBe(WHEN.getTime());

    const part = join(work, "big.bin.ftpkit-part");
    const proc = spawnFtpkit(["get", srv.url("/big.bin")], { cwd: work });
    try {
      await waitFor(() => existsSync(part) && statSync(part).size >= 200_000, 20_000, "part of the download");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    expect(existsSync(join(work, "big.bin"))).toBe(false);
    const resumed = await runFtpkit(["resume"], { cwd: work });
    expect(resumed.code).toBe(0);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(big));
    expect(mtimeOf(join(work, "big.bin"))).toBe(WHEN.getTime());
  });

  test("standard output carries the bytes, nothing else changes (no file, no error)", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = workDir();
    writeFileSync(join(srv.home, "s.txt"), "to stdout\n");
    utimesSync(join(srv.home, "s.txt"), WHEN, WHEN);
    const r = await runFtpkit(["get", srv.url("/s.txt"), "-"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("to stdout\n");
    expect(existsSync(join(work, "s.txt"))).toBe(false);
  });
});

describe("which servers' time is taken", () => {
  const FEAT = ["HASH SHA-256*;MD5", "SIZE", "REST STREAM"];
  /** What the fake server's MDTM answers for every file. */
  const FAKE_MDTM = Date.UTC(2026, 0, 1, 12, 0, 0);

  test("MDTM in FEAT: its time, also for a download that dropped and was resumed", async () => {
    const fake = startFakeServer({ files: new Map([["/f.bin", Buffer.alloc(200_000, 7)]]), feat: [...FEAT, "MDTM"], dropRetrAfter: 50_000 });
    cleanups.push(() => fake.stop());
    const work = workDir();
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: work });
    expect(r.code).toBe(4);
    const again = await runFtpkit(["resume"], { cwd: work, env: { FTPKIT_PASSWORD: "p" } });
    expect(again.code).toBe(0);
    expect(mtimeOf(join(work, "f.bin"))).toBe(FAKE_MDTM);
  });

  test("no MDTM in FEAT: the file keeps the time of the download, one note says so, and the get succeeds", async () => {
    const fake = startFakeServer({ files: new Map([["/f.bin", Buffer.alloc(10_000, 7)]]), feat: FEAT });
    cleanups.push(() => fake.stop());
    const work = workDir();
    const before = Date.now() - 2000; // a filesystem's own clock granularity
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`], { cwd: work });
    expect(r.code).toBe(0);
    expect(mtimeOf(join(work, "f.bin"))).toBeGreaterThan(before);
    expect(r.stderr.split("no MDTM").length - 1).toBe(1);
    // -q: not even the note.
    const quiet = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "g.bin", "-q"], { cwd: work });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe("");
  });

  test("an MDTM with a field out of range (month 13, day 40) is no time: the file keeps the time of the download, not a date it rolls into", async () => {
    const srv = startScriptedServer({
      feat: ["SIZE", "MDTM"],
      on: { SIZE: (c) => c.reply(213, "10"), MDTM: (c) => c.reply(213, "20261340256161"), RETR: sendsFile(Buffer.from("0123456789")) },
    });
    cleanups.push(() => srv.stop());
    const work = workDir();
    const before = Date.now() - 2000;
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/f`], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server gives no modification time (MDTM failed): the file keeps the time of the download");
    // Before: 2027-02-10T02:02:01Z, what Date.UTC made of it.
    expect(mtimeOf(join(work, "f"))).toBeGreaterThan(before);
    expect(mtimeOf(join(work, "f"))).toBeLessThan(Date.now() + 2000);
  });
});

describe.skipIf(!vsftpdAvailable())("ftpkit get keeps the remote modification time (vsftpd)", () => {
  test("a plain get of a file with a known time", async () => {
    const s = await startVsftpd();
    cleanups.push(() => s.stop());
    const work = workDir();
    writeFileSync(join(s.home, "v.txt"), "vsftpd\n");
    utimesSync(join(s.home, "v.txt"), WHEN, WHEN);
    chownTo(join(s.home, "v.txt"), "ftpkittest");
    const r = await runFtpkit(["get", s.url("/v.txt")], { cwd: work });
    expect(r.code).toBe(0);
    expect(readFileSync(join(work, "v.txt"), "utf8")).toBe("vsftpd\n");
    expect(mtimeOf(join(work, "v.txt"))).toBe(WHEN.getTime());
  });
});
