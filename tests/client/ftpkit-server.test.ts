// The client against ftpkit's own server (a separate `ftpkit serve` process): HASH verification,
// ranged HASH when resuming after kill -9.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, waitFor, type FtpkitPeer } from "../helpers/peers.ts";
import { startFakeServer } from "./fake-server.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let fast: FtpkitPeer;
let slow: FtpkitPeer;
let work: string;

beforeAll(async () => {
  [fast, slow] = await Promise.all([startFtpkitServer(), startFtpkitServer({ maxRate: "256K" })]);
  work = tempDir();
});

afterAll(async () => {
  await Promise.all([fast.stop(), slow.stop()]);
  removeDir(work);
});

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);
/** Run `ftpkit args` and kill -9 it once `file` holds `bytes` bytes (a transfer cut off mid-way). */
async function killOnceWritten(args: string[], opts: { cwd: string; env?: Record<string, string> }, file: string, bytes: number): Promise<void> {
  const proc = spawnFtpkit(args, opts);
  try {
    await waitFor(() => sizeOf(file) >= bytes, 15_000, "bytes to land");
  } finally {
    proc.kill(9);
    await proc.exited;
  }
}

const records = (cwd: string) => {
  const d = join(cwd, ".ftpkit", "transfers");
  return existsSync(d) ? readdirSync(d) : [];
};

describe("against ftpkit serve", () => {
  // 5 MiB: past the server's 4 MiB hashing-thread threshold, which CRC-32 never takes.
  const cases = [[0, "sha256"], [1, "md5"], [777_777, "sha256"], [3 * 1024 * 1024 + 5, "md5"], [0, "crc32"], [5 * 1024 * 1024 + 3, "crc32"]] as const;
  for (const [size, hash] of cases) {
    test(`get and put ${size} bytes, verified by HASH (${hash})`, async () => {
      const name = `rt-${size}.bin`;
      const data = randomFile(join(fast.home, name), size);
      const g = await runFtpkit(["get", fast.url(`/${name}`), "--hash", hash], { cwd: work });
      expect(g.code).toBe(0);
      expect(g.stderr).toContain(`${hash} ${digest(data, hash)} (verified by HASH)`);
      expect(g.stderr).toContain(size === 1 ? `${name}: 1 byte in` : `${name}: ${size} bytes in`); // "1 byte", not "1 bytes"
      expect(digest(readFileSync(join(work, name)), hash)).toBe(digest(data, hash));
      const p = await runFtpkit(["put", name, fast.url(`/up-${name}`), "--hash", hash, "--active"], { cwd: work });
      expect(p.code).toBe(0);
      expect(p.stderr).toContain("(verified by HASH)");
      expect(digest(readFileSync(join(fast.home, `up-${name}`)), hash)).toBe(digest(data, hash));
    });
  }

  test("ls shows MLSD facts, and --json", async () => {
    randomFile(join(fast.home, "listed.bin"), 1234);
    const r = await runFtpkit(["ls", fast.url("/"), "--json"], { cwd: work });
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.stdout) as { name: string; size: number; type: string }[];
    expect(entries.find((e) => e.name === "listed.bin")).toMatchObject({ type: "file", size: 1234 });
    const text = await runFtpkit(["ls", fast.url("/listed.bin")], { cwd: work });
    expect(text.stdout).toMatch(/^-r\S* +1234 \w{3} [ \d]\d .* listed\.bin\n$/);
  });

  test("ls -l prints the default long lines; --names only the names (directories with /); the three formats exclude each other", async () => {
    mkdirSync(join(fast.home, "lsdir", "sub"), { recursive: true });
    writeFileSync(join(fast.home, "lsdir", "b.txt"), "b");
    writeFileSync(join(fast.home, "lsdir", "a b.txt"), "ab");
    const plain = await runFtpkit(["ls", fast.url("/lsdir")], { cwd: work });
    const long = await runFtpkit(["ls", "-l", fast.url("/lsdir")], { cwd: work });
    expect(long.code).toBe(0);
    expect(long.stdout).toBe(plain.stdout);
    expect(long.stdout).toMatch(/^-\S+ +2 .* a b\.txt\n/);
    const names = await runFtpkit(["ls", "--names", fast.url("/lsdir")], { cwd: work });
    expect(names.code).toBe(0);
    expect(names.stdout).toBe("a b.txt\nb.txt\nsub/\n");
    const both = await runFtpkit(["ls", "--names", "--json", fast.url("/lsdir")], { cwd: work });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("choose one of -l, --names and --json");
  });

  test("a single get and put with --json print a one-file report: on success with nothing on stderr, on failure with the error stderr shows", async () => {
    const data = randomFile(join(fast.home, "j.bin"), 4321);
    const g = await runFtpkit(["get", fast.url("/j.bin"), "j-copy.bin", "--json"], { cwd: work });
    expect(g.code).toBe(0);
    expect(g.stderr).toBe("");
    expect(JSON.parse(g.stdout)).toEqual({
      files: [{ path: join(work, "j-copy.bin"), url: fast.url("/j.bin", { password: false }), action: "copy", reason: "requested", bytes: 4321, digest: `sha256:${digest(data)}`, result: "verified by HASH" }],
      copied: 1,
      created: 0,
      skipped: 0,
      deleted: 0,
      failed: 0,
      bytesMoved: 4321,
    });
    const p = await runFtpkit(["put", "j-copy.bin", fast.url("/j-up/"), "--json", "--hash", "md5"], { cwd: work });
    expect(p.code).toBe(8); // j-up/ does not exist: the report says why, and so does stderr
    const failed = JSON.parse(p.stdout);
    expect(failed).toMatchObject({ copied: 0, failed: 1, bytesMoved: 0 });
    expect(failed.files).toHaveLength(1);
    expect(failed.files[0]).toMatchObject({ path: join(work, "j-copy.bin"), action: "copy", bytes: 0 });
    expect(failed.files[0].url).toEndWith("/j-up/j-copy.bin");
    expect(failed.files[0].result).toMatch(/^failed: STOR \/j-up\/j-copy\.bin: .*550/);
    expect(`failed: ${failed.error}`).toBe(failed.files[0].result); // the job's error, as a tree job's
    expect(p.stderr.trim()).toBe(`[error] ${failed.error}`);
    expect(p.stderr.trim().split("\n")).toHaveLength(1);
    mkdirSync(join(fast.home, "j-up"));
    const ok = await runFtpkit(["put", "j-copy.bin", fast.url("/j-up/"), "--json", "--hash", "md5"], { cwd: work });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).files[0]).toMatchObject({ bytes: 4321, digest: `md5:${digest(data, "md5")}`, result: "verified by HASH" });
    expect(digest(readFileSync(join(fast.home, "j-up", "j-copy.bin")))).toBe(digest(data));
  });

  for (const hash of ["sha256", "crc32"] as const) {
    test(`a killed get resumes after a ranged HASH (${hash}) of the partial file`, async () => {
      const cwd = tempDir("ftpkit-serve-resume-");
      try {
        const SIZE = 2_000_000;
        const data = randomFile(join(slow.home, "big.bin"), SIZE);
        const part = join(cwd, "big.bin.ftpkit-part");
        await killOnceWritten(["get", slow.url("/big.bin"), "--hash", hash], { cwd }, part, 300_000);
        const kept = sizeOf(part);
        expect(kept).toBeLessThan(SIZE);
        const r = await runFtpkit(["resume", "big.bin"], { cwd, env: { FTPKIT_PASSWORD: "secret" }, timeoutMs: 30_000 });
        expect(r.code).toBe(0);
        expect(r.stderr).toContain(`partial data verified (${kept} bytes, ${hash} via ranged HASH)`);
        expect(r.stderr).toMatch(new RegExp(`big\\.bin: ${SIZE} bytes \\(${SIZE - kept} moved in this run\\)`));
        expect(r.stderr).toContain(`${hash} ${digest(data, hash)} (verified by HASH)`);
        expect(digest(readFileSync(join(cwd, "big.bin")))).toBe(digest(data));
        expect(records(cwd)).toEqual([]);
      } finally {
        removeDir(cwd);
      }
    });
  }

  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    test(`${signal} during a get says how to continue and exits ${code}; resume then finishes it`, async () => {
      const cwd = tempDir("ftpkit-serve-signal-");
      try {
        const data = randomFile(join(slow.home, "sig.bin"), 1_000_000);
        const part = join(cwd, "sig.bin.ftpkit-part");
        const proc = spawnFtpkit(["get", slow.url("/sig.bin")], { cwd });
        await waitFor(() => sizeOf(part) >= 100_000, 15_000, "bytes to land");
        proc.kill(signal);
        const [stderr, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
        expect(exit).toBe(code);
        expect(stderr).toContain("interrupted: run `ftpkit resume` here to continue");
        expect(records(cwd)).toHaveLength(1);
        const r = await runFtpkit(["resume"], { cwd, timeoutMs: 30_000 });
        expect(r.code).toBe(0);
        expect(digest(readFileSync(join(cwd, "sig.bin")))).toBe(digest(data));
        expect(records(cwd)).toEqual([]);
      } finally {
        removeDir(cwd);
      }
    });
  }

  test("--json still prints the report when SIGTERM ends a get: the file cut short, its bytes so far", async () => {
    const cwd = tempDir("ftpkit-serve-signal-json-");
    try {
      const data = randomFile(join(slow.home, "sigj.bin"), 1_000_000);
      const part = join(cwd, "sigj.bin.ftpkit-part");
      const proc = spawnFtpkit(["get", slow.url("/sigj.bin"), "--json"], { cwd });
      await waitFor(() => sizeOf(part) >= 100_000, 15_000, "bytes to land");
      proc.kill("SIGTERM");
      const [stdout, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect(exit).toBe(143);
      const report = JSON.parse(stdout);
      expect(report).toMatchObject({ copied: 0, failed: 1, error: "interrupted by SIGTERM" });
      expect(report.files).toHaveLength(1);
      expect(report.files[0]).toMatchObject({ path: join(cwd, "sigj.bin"), result: "failed: interrupted by SIGTERM" });
      expect(report.files[0].bytes).toBeGreaterThanOrEqual(100_000);
      expect(report.files[0].bytes).toBeLessThan(data.length);
    } finally {
      removeDir(cwd);
    }
  });

  test("--json: SIGINT once a single get is done (while the server keeps the reply to QUIT) reports the file as copied", async () => {
    const cwd = tempDir("ftpkit-serve-signal-done-");
    const data = Buffer.from("all of it\n".repeat(1000));
    const fake = startFakeServer({ files: new Map([["/done.txt", data]]), feat: ["SIZE"], silentQuit: true });
    try {
      const proc = spawnFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/done.txt`, "--json"], { cwd });
      await waitFor(() => existsSync(join(cwd, "done.txt")), 15_000, "the file to be in place");
      proc.kill("SIGINT");
      const [stdout, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect(exit).toBe(130);
      const report = JSON.parse(stdout);
      expect(report).toMatchObject({ copied: 1, failed: 0, error: "interrupted by SIGINT" });
      expect(report.files[0]).toMatchObject({ path: join(cwd, "done.txt"), bytes: data.length, result: "size verified only" });
    } finally {
      fake.stop();
      removeDir(cwd);
    }
  });

  test("--json still prints the report when SIGINT ends a get -r: every planned file, moving or not started", async () => {
    const cwd = tempDir("ftpkit-serve-signal-tree-");
    try {
      const names = ["t1.bin", "t2.bin", "t3.bin", "t4.bin", "t5.bin"];
      mkdirSync(join(slow.home, "sigtree"), { recursive: true });
      const data = names.map((n) => randomFile(join(slow.home, "sigtree", n), 400_000));
      const proc = spawnFtpkit(["get", "-r", slow.url("/sigtree"), "out", "--parallel", "2", "--json"], { cwd });
      const parts = () => (existsSync(join(cwd, "out")) ? readdirSync(join(cwd, "out")).filter((n) => n.endsWith(".ftpkit-part")) : []);
      await waitFor(() => parts().some((p) => sizeOf(join(cwd, "out", p)) >= 50_000), 15_000, "bytes to land");
      proc.kill("SIGINT");
      const [stdout, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect(exit).toBe(130);
      const report = JSON.parse(stdout);
      expect(report.error).toBe("interrupted by SIGINT");
      expect(report.files.map((f: { path: string }) => f.path).sort()).toEqual(names);
      const cut = report.files.filter((f: { result: string }) => f.result === "failed: interrupted by SIGINT");
      expect(cut.length).toBeGreaterThanOrEqual(1);
      expect(cut.some((f: { bytes: number }) => f.bytes >= 50_000)).toBe(true);
      expect(report.files.filter((f: { result: string }) => f.result === "failed: not started (interrupted by SIGINT)").length).toBeGreaterThanOrEqual(1);
      expect(report.failed).toBe(names.length - report.copied);
      const r = await runFtpkit(["resume"], { cwd, timeoutMs: 60_000 });
      expect(r.code).toBe(0);
      names.forEach((n, i) => expect(digest(readFileSync(join(cwd, "out", n)))).toBe(digest(data[i]!)));
    } finally {
      removeDir(cwd);
    }
  });

  test("a file cut short on the server after the listing is reported as changed (exit 9), not retried as a dropped connection; the bytes that came are the new file's, kept aside", async () => {
    const cwd = tempDir("ftpkit-serve-changed-");
    try {
      mkdirSync(join(slow.home, "chg"), { recursive: true });
      randomFile(join(slow.home, "chg", "a.bin"), 300_000);
      writeFileSync(join(slow.home, "chg", "y.txt"), "123456");
      const proc = spawnFtpkit(["get", "-r", slow.url("/chg"), "out", "--parallel", "1"], { cwd });
      await waitFor(() => sizeOf(join(cwd, "out", "a.bin.ftpkit-part")) > 0, 15_000, "the first file to start");
      writeFileSync(join(slow.home, "chg", "y.txt"), "123");
      const [stderr, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(stderr).toMatch(/y\.txt: the remote file changed during the download \(size 6 → 3\); the 3 bytes that came are kept in \S*y\.txt\.ftpkit-corrupt: get it again/);
      expect(stderr).not.toContain("of the old one");
      expect(stderr).not.toContain("reconnecting");
      expect(readFileSync(join(cwd, "out", "y.txt.ftpkit-corrupt"), "utf8")).toBe("123");
      expect(exit).toBe(9);
    } finally {
      removeDir(cwd);
    }
  });

  test("a file replaced on the server (same size) while a get runs is reported as changed (exit 9), not as a corrupt download", async () => {
    const cwd = tempDir("ftpkit-serve-replaced-");
    try {
      randomFile(join(slow.home, "rep.bin"), 600_000);
      const proc = spawnFtpkit(["get", slow.url("/rep.bin")], { cwd });
      await waitFor(() => sizeOf(join(cwd, "rep.bin.ftpkit-part")) >= 100_000, 15_000, "bytes to land");
      randomFile(join(slow.home, "rep.new"), 600_000);
      utimesSync(join(slow.home, "rep.new"), new Date(), new Date(Date.now() + 120_000));
      renameSync(join(slow.home, "rep.new"), join(slow.home, "rep.bin"));
      const [stderr, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(stderr).toMatch(/the remote file changed during the download \(modified \d+ → \d+\); the 600000 bytes that came are kept in .*rep\.bin\.ftpkit-corrupt: get it again/);
      expect(exit).toBe(9);
    } finally {
      removeDir(cwd);
    }
  });

  test("a file appended to while a get runs is reported as changed (exit 9), what came kept aside, as against vsftpd", async () => {
    const cwd = tempDir("ftpkit-serve-grown-");
    try {
      const data = randomFile(join(slow.home, "grow.bin"), 600_000);
      const proc = spawnFtpkit(["get", slow.url("/grow.bin")], { cwd });
      await waitFor(() => sizeOf(join(cwd, "grow.bin.ftpkit-part")) >= 100_000, 15_000, "bytes to land");
      appendFileSync(join(slow.home, "grow.bin"), Buffer.alloc(100_000, 0x61));
      const [stderr, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(stderr).toMatch(/the remote file changed during the download \(size 600000 → 700000(, modified \d+ → \d+)?\); the \d+ bytes that came are kept in \S*grow\.bin\.ftpkit-corrupt: get it again/);
      expect(exit).toBe(9);
      const kept = readFileSync(join(cwd, "grow.bin.ftpkit-corrupt"));
      expect(kept.equals(data.subarray(0, kept.length))).toBe(true);
      expect(existsSync(join(cwd, "grow.bin"))).toBe(false);
    } finally {
      removeDir(cwd);
    }
  });

  test("a killed put resumes after a ranged HASH of the remote prefix", async () => {
    const cwd = tempDir("ftpkit-serve-resume-put-");
    try {
      const SIZE = 2_000_000;
      const data = randomFile(join(cwd, "up.bin"), SIZE);
      const remote = join(slow.home, "up.bin");
      await killOnceWritten(["put", "up.bin", slow.url("/up.bin", { password: false })], { cwd, env: { FTPKIT_PASSWORD: "secret" } }, remote, 300_000);
      // The server logs the upload once it has ended it (the killed client's bytes are on disk).
      await waitFor(() => /transfer .*verb=STOR path=\/up\.bin /.test(slow.log()), 10_000, "the server ends the killed upload");
      const r = await runFtpkit(["resume"], { cwd, env: { FTPKIT_PASSWORD: "secret" }, timeoutMs: 30_000 });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/remote partial data verified \(\d+ bytes, sha256 via ranged HASH\)/);
      expect(r.stderr).toMatch(/moved in this run/);
      expect(digest(readFileSync(remote))).toBe(digest(data));
    } finally {
      removeDir(cwd);
    }
  });

  test("a partial file that differs from the server's prefix is downloaded again from zero", async () => {
    const cwd = tempDir("ftpkit-serve-badprefix-");
    try {
      const data = randomFile(join(slow.home, "prefix.bin"), 400_000);
      const part = join(cwd, "prefix.bin.ftpkit-part");
      await killOnceWritten(["get", slow.url("/prefix.bin")], { cwd }, part, 50_000);
      // Damage the partial file (same length, different bytes).
      const bytes = readFileSync(part);
      bytes[10]! ^= 0xff;
      await Bun.write(part, bytes);
      const r = await runFtpkit(["resume"], { cwd, env: { FTPKIT_PASSWORD: "secret" }, timeoutMs: 30_000 });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("differs from the server's first");
      expect(digest(readFileSync(join(cwd, "prefix.bin")))).toBe(digest(data));
    } finally {
      removeDir(cwd);
    }
  });

  test("a 20 MiB file (hashed on the transfer thread) round-trips verified, and a killed get of it resumes", async () => {
    const cwd = tempDir("ftpkit-serve-thread-");
    try {
      const SIZE = 20 * 1024 * 1024 + 3;
      const data = randomFile(join(fast.home, "thread.bin"), SIZE);
      const g = await runFtpkit(["get", fast.url("/thread.bin")], { cwd });
      expect(g.code).toBe(0);
      expect(g.stderr).toContain(`sha256 ${digest(data)} (verified by HASH)`);
      const p = await runFtpkit(["put", "thread.bin", fast.url("/thread-up.bin")], { cwd });
      expect(p.code).toBe(0);
      expect(p.stderr).toContain("(verified by HASH)");
      expect(digest(readFileSync(join(fast.home, "thread-up.bin")))).toBe(digest(data));
      // Interrupted: the resumed prefix is hashed on the thread too, then checked by ranged HASH.
      randomFile(join(slow.home, "thread.bin"), SIZE);
      const part = join(cwd, "slow", "thread.bin.ftpkit-part");
      mkdirSync(join(cwd, "slow"));
      await killOnceWritten(["get", slow.url("/thread.bin")], { cwd: join(cwd, "slow") }, part, 300_000);
      const kept = sizeOf(part);
      // Finishing 20 MiB from the throttled server would take minutes: the resumed run is stopped once it
      // moves again, after its prefix check (the finished resume is covered by the 2 MB test above).
      const r = spawnFtpkit(["resume"], { cwd: join(cwd, "slow") });
      // Read as it comes: the line is printed once the first resumed bytes arrive, and a kill as
      // soon as the file grew could come before it was written (1 run in 6 saw it missing).
      let text = "";
      const reading = (async () => {
        for await (const chunk of r.stderr) text += new TextDecoder().decode(chunk);
      })();
      const said = `partial data verified (${kept} bytes, sha256 via ranged HASH)`;
      try {
        await waitFor(() => sizeOf(part) > kept + 100_000 && text.includes(said), 20_000, "the resumed download to move and say it verified the partial data");
      } finally {
        r.kill(9);
        await r.exited;
        await reading;
      }
      expect(text).toContain(said);
    } finally {
      removeDir(cwd);
    }
  });
});

