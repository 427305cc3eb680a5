// Pure-FTPd (Debian's pure-ftpd) as a server peer of the client: no HASH/XSHA of any kind (files are
// checked by size), MLSD, virtual users (puredb), chrooted or not, and its own way of ending a RETR
// whose data connection the client closed: a second 150 ("150 0.072 seconds (measured here), …").
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, tempDir, TLS_CERT, TLS_KEY, waitFor } from "../helpers/peers.ts";
import { chownTo, pureFtpdMissing, startPureFtpd } from "../helpers/system-ftpd.ts";

setDefaultTimeout(60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const missing = pureFtpdMissing();
if (missing) test.skip(`Pure-FTPd tests skipped: ${missing}`, () => {});

/** A tree with nested and empty directories, UTF-8 and space names. */
function makeTree(root: string): void {
  mkdirSync(join(root, "a", "b", "c"), { recursive: true });
  mkdirSync(join(root, "empty"));
  mkdirSync(join(root, "with space", "é ü"), { recursive: true });
  writeFileSync(join(root, "a", "one.txt"), "one\n");
  randomFile(join(root, "a", "b", "c", "mid.bin"), 3 * 1024 * 1024 + 3);
  writeFileSync(join(root, "with space", "é ü", "naïve file.txt"), "naïve\n");
  writeFileSync(join(root, "with space", "日本語.txt"), "日本語\n");
  writeFileSync(join(root, "zero"), "");
}

/** Every path under `root` (directories end in /) and each file's digest. */
function snapshot(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[])
    .sort()
    .map((rel) => (statSync(join(root, rel)).isDirectory() ? `${rel}/` : `${rel} ${digest(readFileSync(join(root, rel)))}`));
}

describe.skipIf(missing !== null)("Pure-FTPd", () => {
  test("chrooted (its home is /): put -r, get -r and sync --delete both ways keep nested and empty directories, UTF-8 and space names", async () => {
    const pure = await startPureFtpd({ chroot: true });
    cleanups.push(() => pure.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    makeTree(join(work, "src"));
    const put = await runFtpkit(["put", "-r", "src", pure.url("tree")], { cwd: work });
    expect(put.code).toBe(0);
    expect(put.stderr).toContain("put -r /tree: 5 files");
    expect(snapshot(join(pure.home, "tree"))).toEqual(snapshot(join(work, "src")));
    const get = await runFtpkit(["get", "-r", pure.url("tree"), "back"], { cwd: work });
    expect(get.code).toBe(0);
    expect(snapshot(join(work, "back"))).toEqual(snapshot(join(work, "src")));
    // One file gone, one new, one empty directory gone: each side follows the other with --delete.
    removeDir(join(work, "src", "empty"));
    writeFileSync(join(work, "src", "a", "new.txt"), "new\n");
    removeDir(join(work, "src", "a", "one.txt"));
    const up = await runFtpkit(["sync", "--delete", "src", pure.url("tree")], { cwd: work });
    expect(up.code).toBe(0);
    expect(snapshot(join(pure.home, "tree"))).toEqual(snapshot(join(work, "src")));
    const down = await runFtpkit(["sync", "--delete", pure.url("tree"), "back"], { cwd: work });
    expect(down.code).toBe(0);
    expect(snapshot(join(work, "back"))).toEqual(snapshot(join(work, "src")));
    const again = await runFtpkit(["sync", "--delete", "src", pure.url("tree")], { cwd: work });
    expect(again.stderr).toMatch(/0 copied .*, \d+ skipped, 0 deleted, 0 failed/);
  });

  test("--segments 4: each segment's cut-short RETR ends with Pure-FTPd's second 150, and the download does not wait 5 s for a reply that never comes", async () => {
    const pure = await startPureFtpd();
    cleanups.push(() => pure.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const data = randomFile(join(pure.home, "seg.bin"), 12 * 1024 * 1024 + 5);
    chownTo(pure.home, "nobody");
    const began = performance.now();
    const r = await runFtpkit(["get", pure.url("seg.bin"), "--segments", "4"], { cwd: work, timeoutMs: 30_000 });
    const took = performance.now() - began;
    expect(r.stderr).toContain("size verified only");
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "seg.bin")))).toBe(digest(data));
    // Before: every segment but the last waited SEGMENT_REPLY_MS (5 s) for a 226 or 426.
    expect(took).toBeLessThan(4000);
  });
});

describe.skipIf(missing !== null)("Pure-FTPd's truncated listings (-L, 10,000 entries by default)", () => {
  test("sync --delete from a directory listed only in part fails and deletes no local file; get -r says why and exits non-zero", async () => {
    const pure = await startPureFtpd({ listLimit: 30 });
    cleanups.push(() => pure.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    mkdirSync(join(pure.home, "many"));
    mkdirSync(join(work, "mirror"));
    for (let i = 0; i < 40; i++) {
      writeFileSync(join(pure.home, "many", `f${i}.txt`), `${i}\n`);
      writeFileSync(join(work, "mirror", `f${i}.txt`), `${i}\n`);
    }
    chownTo(pure.home, "nobody");
    const sync = await runFtpkit(["sync", "--delete", pure.url("many"), "mirror"], { cwd: work });
    expect(sync.stderr).toContain("is incomplete, the server cut it short (Output truncated to 30 matches (226))");
    expect(sync.code).not.toBe(0);
    expect(readdirSync(join(work, "mirror")).length).toBe(40);
    const get = await runFtpkit(["get", "-r", pure.url("many"), "copy"], { cwd: work });
    expect(get.stderr).toContain("pure-ftpd -L");
    expect(get.code).not.toBe(0);
  });
});

describe.skipIf(missing !== null)("Pure-FTPd requiring TLS (-Y 3)", () => {
  test("a login in clear text refused with its 421 fails at once (exit 6, no retry) and says to use --tls; with --tls it works", async () => {
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const pem = join(work, "pure-ftpd.pem");
    writeFileSync(pem, readFileSync(TLS_KEY, "utf8") + readFileSync(TLS_CERT, "utf8"), { mode: 0o600 });
    const pure = await startPureFtpd({ tls: pem, requireTls: true });
    cleanups.push(() => pure.stop());
    writeFileSync(join(pure.home, "a.txt"), "hello\n");
    chownTo(pure.home, "nobody");
    const began = performance.now();
    const clear = await runFtpkit(["ls", pure.url("")], { cwd: work });
    expect(clear.stderr).toContain("Please reconnect using TLS security mechanisms. (421); the server wants an encrypted session: use --tls");
    expect(clear.stderr).not.toContain("retrying");
    expect(clear.code).toBe(6);
    // Before: read as a full server's 421, retried 3 times with back-off (3.5 s), exit 8.
    expect(performance.now() - began).toBeLessThan(3000);
    const tls = await runFtpkit(["get", pure.url("a.txt"), "--tls", "--ca", TLS_CERT], { cwd: work });
    expect(tls.code).toBe(0);
    expect(readFileSync(join(work, "a.txt"), "utf8")).toBe("hello\n");
  });
});

describe.skipIf(missing !== null)("kill -9 in the middle of get -r from Pure-FTPd (no HASH), then ftpkit resume", () => {
  /** get -r of one 24 MiB file at 4 MiB/s, killed once its part file holds 4 MiB or more. */
  async function interrupted(pure: Awaited<ReturnType<typeof startPureFtpd>>, work: string): Promise<{ data: Uint8Array; kept: number }> {
    mkdirSync(join(pure.home, "t"));
    const data = randomFile(join(pure.home, "t", "big.bin"), 24 * 1024 * 1024);
    chownTo(pure.home, "nobody");
    const part = join(work, "t", "big.bin.ftpkit-part");
    const proc = spawnFtpkit(["get", "-r", pure.url("t"), "t", "--limit-rate", "4M"], { cwd: work });
    try {
      await waitFor(() => existsSync(part) && statSync(part).size >= 4 * 1024 * 1024, 20_000, "4 MiB of the part file");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    return { data, kept: statSync(part).size };
  }

  test("a part file whose remote file the listing shows unchanged (size, time to the second) continues at its end", async () => {
    const pure = await startPureFtpd();
    cleanups.push(() => pure.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const { data, kept } = await interrupted(pure, work);
    const r = await runFtpkit(["resume", "--limit-rate", "1G"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    // At the last byte the journal vouches for as ftpkit's: kill -9 leaves at most a step past it
    // (bytes another program may have added, so they come again).
    const at = Number(/t\/big\.bin: cannot verify the partial data \(the server offers no ranged hash\); resuming at byte (\d+), the last one recorded as ftpkit's/.exec(r.stderr)?.[1]);
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThanOrEqual(kept);
    // Before: "starting it over", and all 24 MiB came again.
    const moved = Number(/(\d+(?:\.\d+)?) MiB moved/.exec(r.stderr)?.[1]);
    expect(moved * 1024 * 1024).toBeLessThan(data.length - at + 100 * 1024);
    expect(digest(readFileSync(join(work, "t", "big.bin")))).toBe(digest(data));
  });

  test("one changed since (same size, another time) starts over: no old start spliced to a new end", async () => {
    const pure = await startPureFtpd();
    cleanups.push(() => pure.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    await interrupted(pure, work);
    const now = randomFile(join(pure.home, "t", "big.bin"), 24 * 1024 * 1024);
    const later = new Date(Date.now() + 3600_000);
    utimesSync(join(pure.home, "t", "big.bin"), later, later);
    const r = await runFtpkit(["resume", "--limit-rate", "1G"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("starting it over");
    expect(digest(readFileSync(join(work, "t", "big.bin")))).toBe(digest(now));
  });
});

describe.skipIf(missing !== null)("Pure-FTPd's quota (pure-pw -N)", () => {
  test("an upload over quota, whose data connection Pure-FTPd resets before its 552, fails at once with the 552, not as a lost connection sent again --retries times", async () => {
    const pure = await startPureFtpd({ quotaBytes: 1024 * 1024 });
    cleanups.push(() => pure.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    mkdirSync(join(work, "up"));
    randomFile(join(work, "up", "big.bin"), 8 * 1024 * 1024);
    const began = performance.now();
    const r = await runFtpkit(["put", "-r", "up", pure.url("up")], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).toContain("the server refused to store more: STOR");
    expect(r.stderr).toContain("Quota exceeded");
    expect(r.stderr).not.toContain("reconnecting");
    expect(r.code).not.toBe(0);
    expect(performance.now() - began).toBeLessThan(5000);
  });
});
