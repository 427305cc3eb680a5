// --limit-rate limits the whole job: a tree job's files and connections, and a segmented download's
// segments, draw from one limiter. (A lower bound on the time taken: a slower machine only adds to it.)
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { existsSync, statSync } from "node:fs";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, waitFor } from "../helpers/peers.ts";
import { pacedSlice, TokenBucket } from "../../client/rate-limit.ts";

setDefaultTimeout(60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("--limit-rate", () => {
  test("a tree job over 4 connections, and a download in 4 segments, each take at least bytes / rate", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    mkdirSync(join(srv.home, "t"));
    for (let i = 0; i < 8; i++) randomFile(join(srv.home, "t", `f${i}.bin`), 64 * 1024);
    let t = performance.now();
    const tree = await runFtpkit(["get", "-r", srv.url("/t"), "t", "--parallel", "4", "--limit-rate", "256K"], { cwd: work });
    const treeSeconds = (performance.now() - t) / 1000;
    expect(tree.code).toBe(0);
    // 512 KiB at 256 KiB/s: 2 s, less the limiter's first burst (1/10 s of the rate).
    expect(treeSeconds).toBeGreaterThan(1.6);
    const big = randomFile(join(srv.home, "big.bin"), 2 * 1024 * 1024);
    t = performance.now();
    const seg = await runFtpkit(["get", srv.url("/big.bin"), "--segments", "4", "--limit-rate", "1M"], { cwd: work });
    const segSeconds = (performance.now() - t) / 1000;
    expect(seg.code).toBe(0);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(big));
    expect(segSeconds).toBeGreaterThan(1.6);
  });

  test("a rate far below a chunk per stall timeout still completes: the limiter's own pauses are not a stall (get and put)", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    // 24 KiB at 8 KiB/s: a received chunk, or a 64 KiB upload slice, used to mean a pause of over a
    // second, longer than --stall-timeout 1, and the transfer failed as stalled.
    const data = randomFile(join(srv.home, "slow.bin"), 24 * 1024);
    const slow = ["--limit-rate", "8K", "--stall-timeout", "1", "--retries", "0"];
    const got = await runFtpkit(["get", srv.url("/slow.bin"), "slow.bin", ...slow], { cwd: work, timeoutMs: 30_000 });
    expect(got.stderr).not.toContain("stalled");
    expect(got.code).toBe(0);
    expect(digest(readFileSync(join(work, "slow.bin")))).toBe(digest(data));
    const put = await runFtpkit(["put", "slow.bin", srv.url("/up.bin"), ...slow], { cwd: work, timeoutMs: 30_000 });
    expect(put.stderr).not.toContain("stalled");
    expect(put.code).toBe(0);
    expect(digest(readFileSync(join(srv.home, "up.bin")))).toBe(digest(data));
  });

  test("an interrupted download limited to 500K/s resumes at that rate, without the flag again", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const data = randomFile(join(srv.home, "r.bin"), 1_500_000);
    const proc = spawnFtpkit(["get", srv.url("/r.bin"), "--limit-rate", "500K"], { cwd: work });
    const part = join(work, "r.bin.ftpkit-part");
    try {
      await waitFor(() => existsSync(part) && statSync(part).size >= 200_000, 20_000, "part of the download");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    const kept = statSync(part).size;
    const t = performance.now();
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 30_000 });
    const seconds = (performance.now() - t) / 1000;
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "r.bin")))).toBe(digest(data));
    // What was left, at 500 KiB/s, less the limiter's first burst.
    expect(seconds).toBeGreaterThan(((data.length - kept) / (500 * 1024)) * 0.85);
  });
});

// The bucket's grant schedule on a clock of our own: no timing in the assertions, so nothing to flake.
describe("the --limit-rate bucket, on a test clock", () => {
  const K = 1024;
  const rates = [1 * K, 8 * K, 64 * K, 500 * K, 1024 * K];

  /**
   * An upload as the pump runs it: ask for a slice, wait what the bucket says, send it. Returns the
   * bytes sent by `until` ms (a slice counts once it is sent).
   */
  function sendUntil(bucket: TokenBucket, clock: { t: number }, slice: number, until: number): number {
    let sent = 0;
    for (;;) {
      const wait = bucket.take(slice);
      if (clock.t + wait > until) return sent;
      clock.t += wait;
      sent += slice;
    }
  }

  /** A download as the throttle runs it: a chunk arrives, is counted, and the connection pauses for what it overdrew. */
  function receiveUntil(bucket: TokenBucket, clock: { t: number }, chunk: number, until: number): number {
    let received = 0;
    while (clock.t <= until) {
      received += chunk;
      clock.t += bucket.take(chunk);
    }
    return received;
  }

  test.each(rates)("an upload at %p B/s moves at most 1/10 s of the rate beyond it in the first second", (rate) => {
    const clock = { t: 1_000_000 };
    const bucket = new TokenBucket(rate, () => clock.t);
    const sent = sendUntil(bucket, clock, pacedSlice(rate), 1_000_000 + 1000);
    // The bucket began with a second's worth (or 16 KiB) besides the second itself: up to twice the rate.
    expect(sent).toBeLessThanOrEqual(rate * 1.1);
    expect(sent).toBeGreaterThanOrEqual(rate - pacedSlice(rate));
  });

  test.each(rates)("a download at %p B/s receives at most 1/10 s of the rate and one chunk beyond it in the first second", (rate) => {
    const chunk = 64 * K; // what one data event may bring
    const clock = { t: 0 };
    const bucket = new TokenBucket(rate, () => clock.t);
    const received = receiveUntil(bucket, clock, chunk, 1000);
    expect(received).toBeLessThanOrEqual(rate * 1.1 + chunk);
  });

  test.each(rates)("at %p B/s an idle minute saves no more than 1/10 s of the rate, and ten seconds keep the rate", (rate) => {
    const clock = { t: 0 };
    const bucket = new TokenBucket(rate, () => clock.t);
    const slice = pacedSlice(rate);
    sendUntil(bucket, clock, slice, 5000);
    clock.t += 60_000; // a tree job waiting on a listing, a server slow to answer
    const start = clock.t;
    expect(sendUntil(bucket, clock, slice, start + 1000)).toBeLessThanOrEqual(rate * 1.1);
    // Over ten seconds the burst is a small share: the long-run rate is the one asked for.
    const tenSeconds = sendUntil(bucket, clock, slice, start + 11_000);
    expect(tenSeconds).toBeLessThanOrEqual(rate * 10.1);
    expect(tenSeconds).toBeGreaterThanOrEqual(rate * 10 - slice);
  });

  test("0 is no limit", () => {
    const bucket = new TokenBucket(0, () => 0);
    expect(bucket.take(1 << 30)).toBe(0);
  });
});
