// Tree jobs at scale and under stress: 1,000 small files, --checksum, 421 back-off, kill -9 then
// `ftpkit resume`; and the URL rule and multi-line HASH against ProFTPD (mod_digest) and vsftpd.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, startPyftpd, tempDir, waitFor } from "../helpers/peers.ts";
import { chownTo, proftpdBinary, startProftpd, startVsftpd, vsftpdAvailable } from "../helpers/system-ftpd.ts";
import { finishedFiles, snapshot } from "../helpers/trees.ts";
import { startFakeServer } from "./fake-server.ts";
import type { FakeOptions } from "./fake-server-options.ts";

setDefaultTimeout(180_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function workDir(): string {
  const d = tempDir("ftpkit-tree2-");
  cleanups.push(() => removeDir(d));
  return d;
}

function smallFiles(dir: string, n: number, size: number): void {
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `d${i % 10}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.dat`), Buffer.from(crypto.getRandomValues(new Uint8Array(size))));
  }
}

describe("many files", () => {
  test("1,000 small files: get -r --parallel 8 and put -r, every file verified", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = workDir();
    smallFiles(join(srv.home, "many"), 1000, 2048);
    const down = await runFtpkit(["get", "-r", srv.url("/many"), "many", "--parallel", "8", "--json"], { cwd: work, timeoutMs: 150_000 });
    expect(down.code).toBe(0);
    const report = JSON.parse(down.stdout) as { copied: number; failed: number; files: { action: string; result: string }[] };
    expect(report.copied).toBe(1000);
    expect(report.files.filter((f) => f.action === "copy" && f.result === "verified by HASH")).toHaveLength(1000);
    expect(snapshot(join(work, "many"))).toEqual(snapshot(join(srv.home, "many")));
    const up = await runFtpkit(["put", "-r", "many", srv.url("/many-up"), "--parallel", "8"], { cwd: work, timeoutMs: 150_000 });
    expect(up.code).toBe(0);
    expect(up.stderr).toMatch(/1000 copied \(1000 verified by digest\), 0 skipped, 0 deleted, 0 failed/);
    expect(snapshot(join(srv.home, "many-up"))).toEqual(snapshot(join(work, "many")));
  });

  test("a server allowing 2 connections per address: --parallel 8 backs off to fewer and finishes", async () => {
    const srv = await startFtpkitServer({ args: ["--max-per-ip", "2"] });
    cleanups.push(() => srv.stop());
    const work = workDir();
    smallFiles(join(srv.home, "few"), 40, 1000);
    const r = await runFtpkit(["get", "-r", srv.url("/few"), "few", "--parallel", "8"], { cwd: work, timeoutMs: 60_000 });
    expect(r.stderr).toContain("the server refused more connections (421); continuing with fewer");
    expect(r.code).toBe(0);
    expect(snapshot(join(work, "few"))).toEqual(snapshot(join(srv.home, "few")));
  });
});

describe("--checksum", () => {
  test("detects a same-size, same-mtime change by HASH; without it the change is missed", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = workDir();
    mkdirSync(join(srv.home, "cs"));
    writeFileSync(join(srv.home, "cs/data.csv"), "1,2,3\n");
    writeFileSync(join(srv.home, "cs/same.csv"), "same\n");
    expect((await runFtpkit(["sync", srv.url("/cs"), "cs"], { cwd: work })).code).toBe(0);
    // Same size, same modification time, different bytes.
    const local = join(work, "cs/data.csv");
    const { mtime } = statSync(local);
    writeFileSync(local, "9,9,9\n");
    utimesSync(local, mtime, mtime);
    const plain = await runFtpkit(["sync", srv.url("/cs"), "cs", "--dry-run"], { cwd: work });
    expect(plain.stdout).toMatch(/^dry run: 0 to copy/m);
    const checked = await runFtpkit(["sync", srv.url("/cs"), "cs", "--checksum"], { cwd: work });
    expect(checked.code).toBe(0);
    expect(readFileSync(local, "utf8")).toBe("1,2,3\n");
    expect(checked.stderr).toMatch(/1 copied .* 1 skipped/);
  });

  test("a file --checksum finds the same but dated differently gets the source's time: the next sync without --checksum copies nothing (both ways)", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = workDir();
    const old = new Date("2020-05-05T05:05:05Z");
    // Down: the local copy has the server's bytes, but another time.
    mkdirSync(join(srv.home, "down"));
    writeFileSync(join(srv.home, "down/a.txt"), "same\n");
    mkdirSync(join(work, "down"));
    writeFileSync(join(work, "down/a.txt"), "same\n");
    utimesSync(join(work, "down/a.txt"), old, old);
    const down = await runFtpkit(["sync", srv.url("/down"), "down", "--checksum", "--json"], { cwd: work });
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout)).toMatchObject({ copied: 0, skipped: 1 });
    expect(statSync(join(work, "down/a.txt")).mtimeMs).toBe(Math.floor(statSync(join(srv.home, "down/a.txt")).mtimeMs / 1000) * 1000);
    const downAgain = await runFtpkit(["sync", srv.url("/down"), "down", "--json"], { cwd: work });
    expect(JSON.parse(downAgain.stdout)).toMatchObject({ copied: 0, skipped: 1 });
    // Up: the remote copy has the local bytes, but another time (set by MFMT).
    mkdirSync(join(work, "up"));
    writeFileSync(join(work, "up/b.txt"), "same\n");
    utimesSync(join(work, "up/b.txt"), old, old);
    mkdirSync(join(srv.home, "up"));
    writeFileSync(join(srv.home, "up/b.txt"), "same\n");
    const up = await runFtpkit(["sync", "up", srv.url("/up"), "--checksum", "--json"], { cwd: work });
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ copied: 0, skipped: 1 });
    expect(statSync(join(srv.home, "up/b.txt")).mtime.toISOString()).toBe(old.toISOString());
    const upAgain = await runFtpkit(["sync", "up", srv.url("/up"), "--json"], { cwd: work });
    expect(JSON.parse(upAgain.stdout)).toMatchObject({ copied: 0, skipped: 1 });
  });

  test("a server without HASH: says so and compares size and time instead", async () => {
    const py = await startPyftpd();
    cleanups.push(async () => (await py.stop(), removeDir(py.root)));
    const work = workDir();
    mkdirSync(join(py.root, "cs"));
    writeFileSync(join(py.root, "cs/a.txt"), "abc\n");
    expect((await runFtpkit(["sync", py.url("/cs"), "cs"], { cwd: work })).code).toBe(0);
    const r = await runFtpkit(["sync", py.url("/cs"), "cs", "--checksum", "--dry-run"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("--checksum: the server offers no hash; comparing sizes and modification times instead");
    expect(r.stdout).toMatch(/^dry run: 0 to copy/m);
  });
});


/** Run `ftpkit ARGS` in `cwd` until `ready()` holds, then kill -9 it, as a crash or a power cut would. */
async function killedWhen(args: string[], opts: { cwd: string; env?: Record<string, string> }, ready: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const proc = spawnFtpkit(args, opts);
  try {
    await waitFor(ready, timeoutMs, what);
  } finally {
    proc.kill(9);
    await proc.exited;
  }
}

describe("kill -9 in the middle of a tree, then ftpkit resume", () => {
  test("get -r: finished files are not moved again, the partial one continues, every file ends verified", async () => {
    const srv = await startFtpkitServer({ maxRate: "512K" });
    cleanups.push(() => srv.stop());
    const work = workDir();
    smallFiles(join(srv.home, "k"), 12, 150_000);
    const journal = join(work, ".ftpkit", "transfers");
    const doneLines = () => finishedFiles(work).length;
    await killedWhen(["get", "-r", srv.url("/k"), "k", "--parallel", "2"], { cwd: work }, () => doneLines() >= 3, "three finished files");
    const finished = doneLines();
    expect(finished).toBeLessThan(12);
    // No password given: the one the job started with was kept for it.
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`${12 - finished} copied \\(${12 - finished} verified by digest\\), ${finished} skipped, 0 deleted, 0 failed`));
    expect(snapshot(join(work, "k"))).toEqual(snapshot(join(srv.home, "k")));
    expect(existsSync(journal)).toBe(false); // no record, and no empty journal left
  });

  test("get -r: a finished file changed since on the server (same size, new time), or overwritten locally, is copied again by the resume", async () => {
    const srv = await startFtpkitServer({ maxRate: "512K" });
    cleanups.push(() => srv.stop());
    const work = workDir();
    smallFiles(join(srv.home, "k"), 12, 150_000);
    const finished = () => finishedFiles(work);
    await killedWhen(["get", "-r", srv.url("/k"), "k", "--parallel", "2"], { cwd: work }, () => finished().length >= 2, "two finished files");
    const [changedThere, overwrittenHere] = finished() as [string, string];
    const there = join(srv.home, "k", changedThere);
    writeFileSync(there, Buffer.alloc(statSync(there).size, 0x41));
    const later = new Date(Date.now() + 3600_000);
    utimesSync(there, later, later);
    writeFileSync(join(work, "k", overwrittenHere), Buffer.alloc(statSync(join(work, "k", overwrittenHere)).size, 0x42));
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(snapshot(join(work, "k"))).toEqual(snapshot(join(srv.home, "k")));
  });

  test("sync up: a finished file changed since on the server (same size, new time) is copied again by the resume, and a sync after it copies nothing", async () => {
    const srv = await startFtpkitServer({ maxRate: "512K" });
    cleanups.push(() => srv.stop());
    const work = workDir();
    smallFiles(join(work, "src"), 12, 150_000);
    const finished = () => finishedFiles(work);
    await killedWhen(["sync", "src", srv.url("/up"), "--parallel", "2"], { cwd: work }, () => finished().length >= 2, "two finished files");
    const there = join(srv.home, "up", finished()[0]!);
    writeFileSync(there, Buffer.alloc(statSync(there).size, 0x41));
    // A new time to the second: the rewrite alone often fell in the second the sources were made, the
    // time the upload gave the copy, and a same-size file of the same second is unchanged to a sync.
    const later = new Date(Date.now() + 3600_000);
    utimesSync(there, later, later);
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(snapshot(join(srv.home, "up"))).toEqual(snapshot(join(work, "src")));
    const again = await runFtpkit(["sync", "src", srv.url("/up"), "--dry-run"], { cwd: work });
    expect(again.stdout).toMatch(/^dry run: 0 to copy/m);
  });

  test("get -r: the part files of files deleted on the server since are removed by the resume, not left forever", async () => {
    const srv = await startFtpkitServer({ maxRate: "512K" });
    cleanups.push(() => srv.stop());
    const work = workDir();
    smallFiles(join(srv.home, "k"), 6, 400_000);
    const parts = () => (existsSync(join(work, "k")) ? (readdirSync(join(work, "k"), { recursive: true }) as string[]).filter((n) => n.endsWith(".ftpkit-part")) : []);
    await killedWhen(["get", "-r", srv.url("/k"), "k", "--parallel", "2"], { cwd: work }, () => parts().length >= 1, "a partial download");
    const left = parts();
    for (const p of left) rmSync(join(srv.home, "k", p.slice(0, -".ftpkit-part".length)));
    // Part files the job did not start are not its own: one made by hand, one of another download.
    writeFileSync(join(work, "k", "mine.ftpkit-part"), "mine\n");
    writeFileSync(join(work, "k", "d0", "other.dat.ftpkit-part"), "another job's\n");
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    for (const p of left) expect(r.stderr).toContain(`${p.slice(0, -".ftpkit-part".length)}: removed its partial download (the source no longer has it)`);
    expect(parts().sort()).toEqual(["d0/other.dat.ftpkit-part", "mine.ftpkit-part"]);
    for (const p of parts()) rmSync(join(work, "k", p));
    expect(snapshot(join(work, "k"))).toEqual(snapshot(join(srv.home, "k")));
  });

  /**
   * A put -r killed while a file was half uploaded (pyftpdlib writes an upload under its own name as
   * it comes), whose local file is then deleted: the server, the work directory, and that file's name.
   */
  async function cutShortUploadThenDeleted() {
    const py = await startPyftpd();
    cleanups.push(async () => (await py.stop(), removeDir(py.root)));
    const work = workDir();
    mkdirSync(join(work, "src"));
    const names = ["a.bin", "b.bin", "c.bin"];
    for (const n of names) writeFileSync(join(work, "src", n), Buffer.from(crypto.getRandomValues(new Uint8Array(400_000))));
    const partial = () => names.find((n) => existsSync(join(py.root, "dst", n)) && statSync(join(py.root, "dst", n)).size > 50_000 && statSync(join(py.root, "dst", n)).size < 400_000);
    await killedWhen(["put", "-r", "src", py.url("/dst", { password: false }), "--parallel", "1", "--limit-rate", "200K"], { cwd: work, env: { FTPKIT_PASSWORD: py.password } }, () => partial() !== undefined, "an upload under way", 30_000);
    const cut = partial()!;
    rmSync(join(work, "src", cut));
    const rest = names.filter((n) => n !== cut);
    const restArrived = () => rest.every((n) => digest(readFileSync(join(py.root, "dst", n))) === digest(readFileSync(join(work, "src", n))));
    return { py, work, cut, restArrived };
  }

  test("put -r resumed after a local file whose upload was cut short was deleted: that file fails (named, exit 3 as for a single put), the rest arrives, and it is reported once", async () => {
    const { py, work, cut, restArrived } = await cutShortUploadThenDeleted();
    const env = { FTPKIT_PASSWORD: py.password };
    const r = await runFtpkit(["resume", "--limit-rate", "0"], { cwd: work, env, timeoutMs: 60_000 });
    expect(r.stderr).toContain(`${cut}: its upload was interrupted and the local file is gone since; the partial copy on the server is left as it is`);
    expect(r.stderr).toMatch(/2 copied .*, 0 skipped, 0 deleted, 1 failed/);
    expect(r.code).toBe(3);
    expect(restArrived()).toBe(true);
    expect(statSync(join(py.root, "dst", cut)).size).toBeLessThan(400_000); // left as it is
    // Reported once, the job is done with: a later resume does not fail on it again.
    const again = await runFtpkit(["resume"], { cwd: work, env, timeoutMs: 60_000 });
    expect(again.stderr).toContain("nothing to resume");
    expect(again.code).toBe(0);
  });

  test("put -r --dry-run after the same names the deleted file as failing, exits 3 as the run would, and changes nothing", async () => {
    const { py, work, cut } = await cutShortUploadThenDeleted();
    const env = { FTPKIT_PASSWORD: py.password };
    const sizeBefore = statSync(join(py.root, "dst", cut)).size;
    const dry = await runFtpkit(["put", "-r", "src", py.url("/dst", { password: false }), "--dry-run", "--json"], { cwd: work, env, timeoutMs: 60_000 });
    expect(dry.code).toBe(3);
    const report = JSON.parse(dry.stdout) as { failed: number; planned: { copy: number }; files: { path: string; action: string; result: string }[] };
    expect(report.files.find((f) => f.path === cut)).toMatchObject({ action: "copy", result: "failed: its upload was interrupted and the local file is gone since; the partial copy on the server is left as it is" });
    // The two files left are what it plans to copy; the one that fails is counted as failed, not as planned too.
    expect(report).toMatchObject({ failed: 1, planned: { copy: 2 } });
    const text = await runFtpkit(["put", "-r", "src", py.url("/dst", { password: false }), "--dry-run"], { cwd: work, env, timeoutMs: 60_000 });
    expect(text.stdout).toContain("dry run: 2 to copy,");
    expect(text.code).toBe(3);
    expect(statSync(join(py.root, "dst", cut)).size).toBe(sizeBefore);
    // The dry run forgot nothing: the real run still reports the file, once.
    const r = await runFtpkit(["resume", "--limit-rate", "0"], { cwd: work, env, timeoutMs: 60_000 });
    expect(r.stderr).toContain(`${cut}: its upload was interrupted and the local file is gone since`);
    expect(r.code).toBe(3);
  });

  test("put -r run again with --json after the same: the deleted file is a failed entry, exit 3, and no job is left pending", async () => {
    const { py, work, cut, restArrived } = await cutShortUploadThenDeleted();
    const env = { FTPKIT_PASSWORD: py.password };
    const r = await runFtpkit(["put", "-r", "src", py.url("/dst", { password: false }), "--json", "--limit-rate", "0"], { cwd: work, env, timeoutMs: 60_000 });
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout) as { failed: number; copied: number; files: { path: string; action: string; result: string }[] };
    expect(report).toMatchObject({ failed: 1, copied: 2 });
    expect(report.files.find((f) => f.path === cut)).toMatchObject({ action: "copy", result: "failed: its upload was interrupted and the local file is gone since; the partial copy on the server is left as it is" });
    expect(restArrived()).toBe(true);
    expect((await runFtpkit(["resume", "--list"], { cwd: work })).stdout).toBe("nothing to resume\n");
  });

  test("put -r: a deleted file's partial upload is reported once, also while another failure keeps the job pending", async () => {
    // The first STOR keeps 50,000 bytes under the file's name, then drops (as a kill would leave it).
    const opts: FakeOptions = { feat: ["SIZE"], dropStorAfter: 50_000 };
    const fake = startFakeServer(opts);
    cleanups.push(() => fake.stop());
    const work = workDir();
    mkdirSync(join(work, "src", "sub"), { recursive: true });
    for (const n of ["a.bin", "b.bin", "sub/c.bin"]) writeFileSync(join(work, "src", n), Buffer.alloc(200_000, n));
    const url = `ftp://u:p@127.0.0.1:${fake.port}/dst`;
    const first = await runFtpkit(["put", "-r", "src", url, "--parallel", "1", "--retries", "0"], { cwd: work });
    expect(first.code).toBe(4);
    const cut = ["a.bin", "b.bin"].find((n) => fake.files.get(`/dst/${n}`)?.length === 50_000)!;
    rmSync(join(work, "src", cut));
    // A directory the server now refuses to list fails too (exit 8), and keeps the job pending.
    opts.listing550 = "/dst/sub";
    const env = { FTPKIT_PASSWORD: "p" };
    const r = await runFtpkit(["resume"], { cwd: work, env });
    expect(r.stderr).toContain(`${cut}: its upload was interrupted and the local file is gone since`);
    expect(r.code).toBe(3);
    const again = await runFtpkit(["resume"], { cwd: work, env });
    expect(again.stderr).not.toContain(cut);
    expect(again.code).toBe(8);
    opts.listing550 = undefined;
    const last = await runFtpkit(["resume"], { cwd: work, env });
    expect(last.stderr).not.toContain(cut);
    expect(last.code).toBe(0);
    expect(fake.files.get(`/dst/${cut}`)?.length).toBe(50_000); // left as it is
  });

  test("put -r: resumes the upload tree the same way", async () => {
    const srv = await startFtpkitServer({ maxRate: "512K" });
    cleanups.push(() => srv.stop());
    const work = workDir();
    smallFiles(join(work, "up"), 10, 150_000);
    const proc = spawnFtpkit(["put", "-r", "up", srv.url("/up"), "--parallel", "2"], { cwd: work });
    try {
      await waitFor(() => existsSync(join(srv.home, "up")) && readdirSync(join(srv.home, "up")).length >= 3, 60_000, "uploads to start");
      await Bun.sleep(800);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/0 failed/);
    expect(snapshot(join(srv.home, "up"))).toEqual(snapshot(join(work, "up")));
  });
});

describe("other servers: URL paths start at the login directory", () => {
  test.skipIf(proftpdBinary() === null)("ProFTPD with mod_digest: multi-line HASH replies verify get and put; paths are relative to the home; executables stay executable both ways", async () => {
    const pro = await startProftpd();
    cleanups.push(() => pro.stop());
    const work = workDir();
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(104_857)));
    writeFileSync(join(pro.home, "big100.bin"), data);
    chownTo(pro.home, "nobody");
    const g = await runFtpkit(["get", pro.url("/big100.bin")], { cwd: work });
    expect(g.stderr).toContain("(verified by HASH)");
    expect(g.code).toBe(0);
    expect(digest(readFileSync(join(work, "big100.bin")))).toBe(digest(data));
    const p = await runFtpkit(["put", "big100.bin", pro.url("/copy.bin")], { cwd: work });
    expect(p.stderr).toContain("(verified by HASH)");
    expect(p.code).toBe(0);
    expect(digest(readFileSync(join(pro.home, "copy.bin")))).toBe(digest(data));
    // --hash crc32: mod_digest's CRC32 digests are the same hex as ours, both ways.
    const gc = await runFtpkit(["get", pro.url("/big100.bin"), "crc.bin", "--hash", "crc32"], { cwd: work });
    expect(gc.stderr).toContain(`crc32 ${digest(data, "crc32")} (verified by HASH)`);
    const pc = await runFtpkit(["put", "crc.bin", pro.url("/crc-up.bin"), "--hash", "crc32"], { cwd: work });
    expect(pc.stderr).toContain(`crc32 ${digest(data, "crc32")} (verified by HASH)`);
    expect(pc.code).toBe(0);
    // `ls ftp://host/` lists the login directory, not the machine's root.
    const ls = await runFtpkit(["ls", pro.url("/"), "--json"], { cwd: work });
    expect((JSON.parse(ls.stdout) as { name: string }[]).map((e) => e.name).sort()).toEqual(["big100.bin", "copy.bin", "crc-up.bin"]);
    // // reaches an absolute path.
    const abs = await runFtpkit(["get", `ftp://user:secret@127.0.0.1:${pro.port}/${pro.home}/big100.bin`, "abs.bin"], { cwd: work });
    expect(abs.code).toBe(0);
    expect(digest(readFileSync(join(work, "abs.bin")))).toBe(digest(data));
    // Executables both ways: SITE CHMOD up, MLSD's UNIX.mode (ProFTPD's 0755 form) down.
    mkdirSync(join(work, "tools"));
    writeFileSync(join(work, "tools", "run.sh"), "#!/bin/sh\n");
    chmodSync(join(work, "tools", "run.sh"), 0o750);
    const up = await runFtpkit(["put", "-r", "tools", pro.url("/tools")], { cwd: work });
    expect(up.code).toBe(0);
    expect(statSync(join(pro.home, "tools", "run.sh")).mode & 0o777).toBe(0o750);
    const down = await runFtpkit(["get", "-r", pro.url("/tools"), "tools-back"], { cwd: work });
    expect(down.code).toBe(0);
    expect(statSync(join(work, "tools-back", "run.sh")).mode & 0o111).toBe(0o110 & ~process.umask());
  });

  test.skipIf(proftpdBinary() === null)("ProFTPD, whose HASH ignores RANG and keeps it set: a part file that cannot be checked is started over and the file still arrives whole", async () => {
    const pro = await startProftpd();
    cleanups.push(() => pro.stop());
    const work = workDir();
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(300_000)));
    mkdirSync(join(pro.home, "t"));
    writeFileSync(join(pro.home, "t", "f.bin"), data);
    chownTo(pro.home, "nobody");
    // A part file an earlier run left (nothing recorded what the remote file was then).
    mkdirSync(join(work, "t"));
    writeFileSync(join(work, "t", "f.bin.ftpkit-part"), data.subarray(0, 1000));
    const r = await runFtpkit(["get", "-r", pro.url("/t"), "t", "--retries", "0"], { cwd: work });
    expect(r.stderr).toContain("cannot verify the partial data");
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "t", "f.bin")))).toBe(digest(data));
  });

  test.skipIf(!vsftpdAvailable())("vsftpd (not chrooted): get, ls and put use the login directory, // and %2F reach absolute paths", async () => {
    const vs = await startVsftpd();
    cleanups.push(() => vs.stop());
    const work = workDir();
    writeFileSync(join(vs.home, "big100.bin"), "vsftpd data\n");
    chownTo(vs.home, vs.user);
    const g = await runFtpkit(["get", vs.url("/big100.bin")], { cwd: work });
    expect(g.code).toBe(0);
    expect(readFileSync(join(work, "big100.bin"), "utf8")).toBe("vsftpd data\n");
    const ls = await runFtpkit(["ls", vs.url("/"), "--json"], { cwd: work });
    expect((JSON.parse(ls.stdout) as { name: string }[]).map((e) => e.name)).toEqual(["big100.bin"]);
    const abs = await runFtpkit(["get", `ftp://${vs.user}:${vs.password}@127.0.0.1:${vs.port}/%2F${vs.home.slice(1)}/big100.bin`, "abs.bin"], { cwd: work });
    expect(abs.code).toBe(0);
    const p = await runFtpkit(["put", "abs.bin", vs.url("/")], { cwd: work });
    expect(p.code).toBe(0);
    expect(readFileSync(join(vs.home, "abs.bin"), "utf8")).toBe("vsftpd data\n");
  });
});
