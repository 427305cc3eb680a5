// Downloads and tree jobs against a disk that refuses to store more: a local one that fills up (ENOSPC from a real
// 512 KiB tmpfs; mounting needs root, as in CI), and a server account over its quota (552). The job
// stops starting files, says why, and does not send a refused file again.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000);

const isRoot = process.getuid?.() === 0;
let server: FtpkitPeer;
let work: string;
let small = "";

beforeAll(async () => {
  server = await startFtpkitServer();
  work = tempDir("ftpkit-disk-full-");
  mkdirSync(join(server.home, "many"), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(server.home, "many", `f${String(i).padStart(2, "0")}.bin`), Buffer.from(crypto.getRandomValues(new Uint8Array(64 * 1024))));
});

afterAll(async () => {
  await server.stop();
  for (let i = 0; small && i < 20 && Bun.spawnSync(["umount", small]).exitCode !== 0; i++) await Bun.sleep(100);
  if (small && Bun.spawnSync(["mountpoint", "-q", small]).exitCode === 0) Bun.spawnSync(["umount", "-l", small]);
  removeDir(work);
});

describe("a local disk that fills up during a single get", () => {
  test.skipIf(!isRoot)("what was written is kept with the hint to make room and resume; after that, resume finishes it verified", async () => {
    const disk = join(work, "small-one");
    mkdirSync(disk);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", disk]).exitCode).toBe(0);
    try {
      writeFileSync(join(server.home, "one.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(65536))).toString("hex").repeat(6)); // 768 KiB
      const r = await runFtpkit(["get", server.url("/one.bin"), join(disk, "one.bin")], { cwd: work });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/cannot write \S+\/one\.bin\.ftpkit-part: disk full; \d+ bytes kept: make room, then run `ftpkit resume`/);
      expect(readdirSync(disk)).toEqual(["one.bin.ftpkit-part"]);
      expect(Bun.spawnSync(["mount", "-o", "remount,size=2m", disk]).exitCode).toBe(0);
      const again = await runFtpkit(["resume"], { cwd: work });
      expect(again.code).toBe(0);
      expect(again.stderr).toContain("partial data verified");
      expect(readFileSync(join(disk, "one.bin"))).toEqual(readFileSync(join(server.home, "one.bin")));
    } finally {
      for (let i = 0; i < 20 && Bun.spawnSync(["umount", disk]).exitCode !== 0; i++) await Bun.sleep(100);
    }
  });
});

describe("a local disk that fills up during a single get --json", () => {
  test.skipIf(!isRoot)("the report's bytes are the bytes kept in the part file, as the message says (the part of a chunk the disk took counts)", async () => {
    const disk = join(work, "small-json");
    mkdirSync(disk);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", disk]).exitCode).toBe(0);
    try {
      writeFileSync(join(server.home, "json.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(65536))).toString("hex").repeat(6)); // 768 KiB
      const r = await runFtpkit(["get", server.url("/json.bin"), join(disk, "json.bin"), "--json"], { cwd: work });
      expect(r.code).toBe(3);
      const kept = statSync(join(disk, "json.bin.ftpkit-part")).size;
      const report = JSON.parse(r.stdout) as { bytesMoved: number; files: { bytes: number; result: string }[] };
      expect(report.files[0]!.result).toContain(`disk full; ${kept} bytes kept: make room`);
      // Before: fewer (223,232 or 128,000 of 524,288 in runs here): the chunk the disk cut short was left out.
      expect({ bytes: report.files[0]!.bytes, bytesMoved: report.bytesMoved }).toEqual({ bytes: kept, bytesMoved: kept });
    } finally {
      for (let i = 0; i < 20 && Bun.spawnSync(["umount", disk]).exitCode !== 0; i++) await Bun.sleep(100);
    }
  });
});

describe("a local disk that fills up during get -r", () => {
  test.skipIf(!isRoot)("a file cut short by the full disk keeps its bytes, and the summary says once to make room and resume", async () => {
    const disk = join(work, "small-tree");
    mkdirSync(disk);
    mkdirSync(join(server.home, "big"), { recursive: true });
    writeFileSync(join(server.home, "big", "a.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(65536))).toString("hex").repeat(6)); // 768 KiB
    for (const n of ["b.bin", "c.bin"]) writeFileSync(join(server.home, "big", n), "small\n");
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", disk]).exitCode).toBe(0);
    try {
      const r = await runFtpkit(["get", "-r", server.url("/big"), join(disk, "big"), "--parallel", "1"], { cwd: work });
      expect(r.code).toBe(3);
      const summary = r.stderr.split("\n").find((l) => l.includes("items failed"))!;
      expect(summary).toMatch(/the local disk refused: cannot write \S+\/a\.bin\.ftpkit-part: disk full; \d+ bytes kept: make room, then run `ftpkit resume`$/);
      expect(summary.match(/make room/g)).toHaveLength(1);
    } finally {
      for (let i = 0; i < 20 && Bun.spawnSync(["umount", disk]).exitCode !== 0; i++) await Bun.sleep(100);
    }
  });

  test.skipIf(!isRoot)("the job stops starting files once the disk is full, says so, and reports the rest as not started", async () => {
    small = join(work, "small");
    mkdirSync(small);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", small]).exitCode).toBe(0);
    const r = await runFtpkit(["get", "-r", server.url("/many"), join(small, "many"), "--parallel", "2", "--json"], { cwd: work });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/items failed: the local disk refused: cannot write \S+\.ftpkit-part: disk full.*; make room, then run `ftpkit resume`/);
    const summary = r.stderr.split("\n").find((l) => l.includes("items failed"))!;
    expect(summary.match(/make room/g)).toHaveLength(1); // said once, not by the disk's message and the summary both
    const report = JSON.parse(r.stdout) as { copied: number; failed: number; files: { path: string; result: string }[] };
    const full = report.files.filter((f) => /: disk full/.test(f.result) && !f.result.includes("not started"));
    const notStarted = report.files.filter((f) => f.result.startsWith("failed: not started (the local disk refused: cannot write "));
    expect(report.copied).toBeGreaterThan(0);
    expect(full.length).toBeGreaterThan(0);
    // 40 × 64 KiB cannot fit in 512 KiB: most files were never started once the disk said so.
    expect(notStarted.length).toBeGreaterThan(20);
    expect(report.copied + report.failed).toBe(40);
    // Nothing half-written stays behind for a file that never started.
    const left = readdirSync(join(small, "many"));
    for (const f of notStarted) expect(left).not.toContain(`${f.path}.ftpkit-part`);
  });

  test.skipIf(!isRoot)("a read-only destination: the first file it refuses stops the job, the rest are reported as not started, and the line says to make it writable", async () => {
    const ro = join(work, "read-only");
    mkdirSync(ro);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", ro]).exitCode).toBe(0);
    try {
      mkdirSync(join(ro, "many"));
      expect(Bun.spawnSync(["mount", "-o", "remount,ro", ro]).exitCode).toBe(0);
      const r = await runFtpkit(["get", "-r", server.url("/many"), join(ro, "many"), "--parallel", "1", "--json"], { cwd: work });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/the local disk refused: cannot create \S+\.ftpkit-part: read-only file system; make it writable, then run `ftpkit resume`\n/);
      expect(r.stderr).not.toContain("make room"); // it has room: the advice was wrong
      const report = JSON.parse(r.stdout) as { copied: number; failed: number; files: { result: string }[] };
      expect(report.failed).toBe(40);
      // One file met the refusal; none after it was tried.
      expect(report.files.filter((f) => /read-only file system/.test(f.result) && !f.result.includes("not started"))).toHaveLength(1);
      expect(report.files.filter((f) => f.result.startsWith("failed: not started (the local disk refused"))).toHaveLength(39);
    } finally {
      for (let i = 0; i < 20 && Bun.spawnSync(["umount", ro]).exitCode !== 0; i++) await Bun.sleep(100);
    }
  });
});

describe("a server account over its quota during put -r", () => {
  let quoted: FtpkitPeer;
  beforeAll(async () => {
    quoted = await startFtpkitServer({ quota: 200 * 1024 });
  });
  afterAll(async () => {
    await quoted.stop();
  });

  test("after the server's 552 no file is sent again or started; the summary says the server refused", async () => {
    const r = await runFtpkit(["put", "-r", join(server.home, "many"), quoted.url("/many"), "--parallel", "2", "--json"], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/items failed: the server refused to store more: STOR \S+: .*\(552\); make room, then run `ftpkit resume`/);
    expect(r.stderr).not.toContain("reconnecting");
    const report = JSON.parse(r.stdout) as { copied: number; failed: number; files: { result: string }[] };
    expect(report.copied).toBeGreaterThan(0);
    expect(report.copied).toBeLessThan(4); // 200 KiB hold three files of 64 KiB
    expect(report.files.filter((f) => f.result.startsWith("failed: not started (the server refused to store more")).length).toBeGreaterThan(30);
  });
});

describe("a full disk under the working directory, where the resume records go", () => {
  test.skipIf(!isRoot)("get -r into another disk fails with one line naming the record and the cause, and leaves no temp file", async () => {
    const disk = join(work, "small-cwd");
    mkdirSync(disk);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", disk]).exitCode).toBe(0);
    try {
      // Fill it to the last byte.
      try {
        writeFileSync(join(disk, "filler"), Buffer.alloc(1 << 20));
      } catch (err) {
        expect((err as { code?: string }).code).toBe("ENOSPC");
      }
      const r = await runFtpkit(["get", "-r", server.url("/many"), join(work, "elsewhere")], { cwd: disk });
      expect(r.code).toBe(3);
      // Before: "[error] ENOSPC: no space left on device, write", and a .json.PID.tmp left in the journal.
      expect(r.stderr.trim()).toMatch(/^\[error\] cannot write \S+\/\.ftpkit\/transfers\/\S+: disk full/);
      const journal = join(disk, ".ftpkit", "transfers");
      const left = (() => {
        try {
          return readdirSync(journal);
        } catch {
          return [];
        }
      })();
      expect(left.filter((n) => n.endsWith(".tmp"))).toEqual([]);
    } finally {
      for (let i = 0; i < 20 && Bun.spawnSync(["umount", disk]).exitCode !== 0; i++) await Bun.sleep(100);
    }
  });
});

describe("a full disk under the journal", () => {
  test.skipIf(!isRoot)("get stops before moving a byte, naming the journal's key file, and leaves nothing half-made there", async () => {
    const disk = join(work, "small-state");
    mkdirSync(disk);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", disk]).exitCode).toBe(0);
    try {
      mkdirSync(join(disk, "ftpkit"), { mode: 0o700 });
      // Fill it: the write that does not fit stops at what the disk took.
      try {
        writeFileSync(join(disk, "filler"), Buffer.alloc(64 * 1024));
      } catch {
        // ENOSPC, as wanted
      }
      writeFileSync(join(server.home, "state.bin"), "some bytes\n");
      const r = await runFtpkit(["get", server.url("/state.bin"), join(work, "state.bin")], { cwd: work, env: { XDG_STATE_HOME: disk } });
      expect(r.code).toBe(3);
      // Before: "ENOSPC: no space left on device, write", no file named, and an empty journal.key.PID.RANDOM left.
      expect(r.stderr).toMatch(/cannot write \S+\/journal\.key: disk full/);
      expect(readdirSync(join(disk, "ftpkit")).filter((n) => n.startsWith("journal.key"))).toEqual([]);
      expect(readdirSync(work)).not.toContain("state.bin");
    } finally {
      for (let i = 0; i < 20 && Bun.spawnSync(["umount", disk]).exitCode !== 0; i++) await Bun.sleep(100);
    }
  });
});
