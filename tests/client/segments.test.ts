// `ftpkit get --segments N`: one file over N ranged connections, verified whole; resumable per segment.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planSegments } from "../../client/segmented.ts";
import { cleanEnv, digest, FTPKIT, randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, startPyftpd, tempDir, waitFor } from "../helpers/peers.ts";
import { chownTo, proftpdBinary, proftpdSpeaksFrench, startProftpd } from "../helpers/system-ftpd.ts";
import { startFakeServer } from "./fake-server.ts";
import { sendsFile, startScriptedServer } from "./scripted-server.ts";

setDefaultTimeout(120_000);

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("--segments", () => {
  test("ranges cover the file exactly, at least 1 MiB each", () => {
    expect(planSegments(10 << 20, 4)).toEqual([
      { start: 0, end: 2621440, pos: 0 },
      { start: 2621440, end: 5242880, pos: 2621440 },
      { start: 5242880, end: 7864320, pos: 5242880 },
      { start: 7864320, end: 10485760, pos: 7864320 },
    ]);
    expect(planSegments(1500, 8)).toEqual([{ start: 0, end: 1500, pos: 0 }]);
  });

  test("4 segments from ftpkit: 4 ranged RETRs into one file, verified whole by HASH", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const data = randomFile(join(srv.home, "seg.bin"), 9 * 1024 * 1024 + 77);
    const r = await runFtpkit(["get", srv.url("/seg.bin"), "--segments", "4"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`sha256 ${digest(data)} (verified by HASH)`);
    expect(digest(readFileSync(join(work, "seg.bin")))).toBe(digest(data));
  });

  test("from pyftpdlib (no HASH): size-checked, byte-identical", async () => {
    const py = await startPyftpd();
    cleanups.push(async () => (await py.stop(), removeDir(py.root)));
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const data = randomFile(join(py.root, "seg.bin"), 5 * 1024 * 1024 + 1);
    const r = await runFtpkit(["get", py.url("/seg.bin"), "--segments", "3"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("size verified only");
    expect(digest(readFileSync(join(work, "seg.bin")))).toBe(digest(data));
  });

  // pyftpdlib under load (about 1 run in 150 with 7 segments): a segment that had its range reset its
  // data and control connections together; pyftpdlib, writing the 426 to the reset control connection,
  // closed it, gave its descriptor to a sibling's data connection accepted in the same epoll batch and
  // then handed it the old socket's pending event, which drops an idle data connection. The sibling got
  // "150 About to open data connection" and no reply after it: the client waited out the 60 s stall timeout.
  test("a segment whose data connection the server dropped and whose RETR it never answers is retried within seconds, not after the stall timeout", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(65_536)));
    const big = Buffer.concat(Array.from({ length: 48 }, () => data)); // 3 MiB: 3 segments of 1 MiB
    const fake = startFakeServer({ files: new Map([["/big.bin", big]]), feat: ["SIZE", "MDTM", "REST STREAM"], dropDataOnRetr: 2 });
    cleanups.push(() => fake.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const began = performance.now();
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/big.bin`, "--segments", "3"], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).toMatch(/segment \d+-\d+: .*no reply .* after the data connection closed; retrying \(attempt 1 of 3\)/);
    expect(r.code).toBe(0);
    expect(performance.now() - began).toBeLessThan(20_000);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(big));
  });

  test("a segment that has its range waits for the server's answer to the data connection it closed before the session goes (QUIT, not a reset)", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(65_536)));
    const big = Buffer.concat(Array.from({ length: 48 }, () => data));
    const fake = startFakeServer({ files: new Map([["/big.bin", big]]), feat: ["SIZE", "MDTM", "REST STREAM"], lateRetrReplyMs: 300 });
    cleanups.push(() => fake.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/big.bin`, "--segments", "3"], { cwd: work });
    expect(r.code).toBe(0);
    expect(fake.commands.filter((c) => c.startsWith("RETR"))).toHaveLength(3);
    // The replies of sessions reset without waiting for them are lost after the client exited.
    await waitFor(() => fake.lateRetrReplies.delivered + fake.lateRetrReplies.lost === 3, 5000, "the three RETR replies");
    expect(fake.lateRetrReplies).toEqual({ delivered: 3, lost: 0 });
    expect(fake.commands.filter((c) => c === "QUIT")).toHaveLength(3);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(big));
  });

  test("a server that answers REST with 350 and sends from byte 0 anyway (no HASH): found by the last range, the file comes over one stream, byte-identical", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(65_536)));
    const big = Buffer.concat(Array.from({ length: 48 }, (_, i) => Buffer.concat([Buffer.from([i]), data.subarray(1)]))); // 3 MiB, no 1 MiB repeats
    const srv = startScriptedServer({ feat: ["SIZE", "REST STREAM"], on: { SIZE: (c) => c.reply(213, String(big.length)), REST: (c) => c.reply(350, "Restarting"), RETR: sendsFile(big) } });
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/big.bin`, "--segments", "3", "--retries", "0"], { cwd: work, timeoutMs: 30_000 });
    // Before: exit 0, "size verified only", and bytes 1-3 MiB of the file were its first 2 MiB again.
    expect(r.stderr).toContain("[warn] the server ignores REST (after REST 2097152 it sent more than the file's 1048576 bytes from there): downloading in one stream instead of 3 segments");
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(big));
  });

  test("a server that ignores REST and never answers the RETRs whose data connection the client closed: the fallback to one stream starts at once, not after a 5 s wait for those replies", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(65_536)));
    // 48 MiB: what a closed range leaves unsent is more than the sockets' buffers hold, so the server sees the close.
    const big = Buffer.concat(Array.from({ length: 768 }, (_, i) => Buffer.concat([Buffer.from([i & 255, i >> 8]), data.subarray(2)])));
    const retr = async (c: Parameters<ReturnType<typeof sendsFile>>[0]) => {
      const d = await c.data();
      c.reply(150, "Opening data connection");
      // From byte 0 whatever REST said; cut short by the client, the RETR is never answered.
      if (!(await d.send(big))) return;
      d.end();
      c.reply(226, "Transfer complete");
    };
    const srv = startScriptedServer({ feat: ["SIZE", "REST STREAM"], on: { SIZE: (c) => c.reply(213, String(big.length)), REST: (c) => c.reply(350, "Restarting"), RETR: retr } });
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const began = performance.now();
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/big.bin`, "--segments", "3", "--retries", "0"], { cwd: work, timeoutMs: 30_000 });
    const took = performance.now() - began;
    expect(r.stderr).toContain("downloading in one stream instead of 3 segments");
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(big));
    // The whole run, start-up and the 48 MiB twice over loopback included (5 s more before: each closed range waited 5 s for its reply).
    expect(took).toBeLessThan(3000);
  });

  test("the digest is asked by the first connection done while another range still comes, not after the last byte", async () => {
    const big = Buffer.from(crypto.getRandomValues(new Uint8Array(4 << 20)));
    const offsets = new Map<object, number>();
    let hashCame!: () => void;
    const hashed = new Promise<void>((r) => (hashCame = r));
    /** Whether HASH came before the second range was sent (it is held back until then, 5 s at most). */
    let askedBeforeSecondRange = false;
    let secondRangeSent = false;
    const retr = async (c: Parameters<ReturnType<typeof sendsFile>>[0]) => {
      const from = offsets.get(c) ?? 0;
      const d = await c.data();
      c.reply(150, "Opening data connection");
      if (from > 0) await Promise.race([hashed, Bun.sleep(5000)]);
      const whole = await d.send(big.subarray(from));
      if (from > 0) secondRangeSent = true;
      d.end();
      c.reply(whole ? 226 : 426, whole ? "Transfer complete" : "Connection closed");
    };
    const srv = startScriptedServer({
      feat: ["SIZE", "REST STREAM", "HASH SHA-256*"],
      on: {
        SIZE: (c) => c.reply(213, String(big.length)),
        REST: (c, arg) => (offsets.set(c, Number(arg)), c.reply(350, "Restarting")),
        RETR: retr,
        HASH: (c, arg) => {
          askedBeforeSecondRange = !secondRangeSent;
          hashCame();
          c.reply(213, `SHA-256 0-${big.length} ${digest(big)} ${arg}`);
        },
      },
    });
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/big.bin`, "--segments", "2"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`sha256 ${digest(big)} (verified by HASH)`);
    expect(askedBeforeSecondRange).toBe(true);
    expect(srv.commands.filter((c) => c.startsWith("HASH"))).toHaveLength(1);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(big));
  });

  async function interruptedSegments() {
    const srv = await startFtpkitServer({ maxRate: "1M" });
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const data = randomFile(join(srv.home, "segk.bin"), 6 * 1024 * 1024);
    const journal = join(work, ".ftpkit", "transfers");
    const progressed = () => {
      if (!existsSync(journal)) return 0;
      const f = readdirSync(journal).find((n) => n.endsWith(".json"));
      if (!f) return 0;
      try {
        const rec = JSON.parse(readFileSync(join(journal, f), "utf8")) as { segments?: { start: number; pos: number }[] };
        return (rec.segments ?? []).reduce((n, s) => n + (s.pos - s.start), 0);
      } catch {
        return 0;
      }
    };
    const proc = spawnFtpkit(["get", srv.url("/segk.bin"), "--segments", "3"], { cwd: work });
    try {
      await waitFor(() => progressed() >= 1_000_000, 30_000, "segments to progress");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    return { srv, work, data, kept: progressed() };
  }

  test("kill -9 mid-download, then resume: every segment continues where it stopped", async () => {
    const { work, data, kept } = await interruptedSegments();
    // --list counts what the segments received, not the part file's size (it has the whole length).
    const listed = JSON.parse((await runFtpkit(["resume", "--list", "--json"], { cwd: work })).stdout) as { done: { bytes: number } }[];
    expect(listed[0]!.done.bytes).toBe(kept);
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 90_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("(verified by HASH)");
    const moved = Number(/\((\d+) moved in this run\)/.exec(r.stderr)?.[1]);
    expect(moved).toBeLessThanOrEqual(data.length - kept);
    expect(digest(readFileSync(join(work, "segk.bin")))).toBe(digest(data));
  });

  test("kill -9 as soon as every segment has written its first bytes (before the half-second save): each segment's position was saved (the last one's may be cut by the kill), and resume moves only what is missing", async () => {
    const srv = await startFtpkitServer();
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const data = randomFile(join(srv.home, "early.bin"), 8 * 1024 * 1024);
    const part = join(work, "early.bin.ftpkit-part");
    const ranges = planSegments(data.length, 4);
    // The part file has the whole length from the start (zeros): a range has written when its first bytes are the file's.
    const written = () => {
      if (sizeOf(part) !== data.length) return false;
      const fd = openSync(part, "r");
      try {
        const head = Buffer.alloc(64);
        return ranges.every((g) => readSync(fd, head, 0, 64, g.start) === 64 && head.equals(data.subarray(g.start, g.start + 64)));
      } finally {
        closeSync(fd);
      }
    };
    const proc = spawnFtpkit(["get", srv.url("/early.bin"), "--segments", "4", "--limit-rate", "2M"], { cwd: work });
    try {
      await waitFor(written, 30_000, "every segment's first bytes");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    const journal = join(work, ".ftpkit", "transfers");
    const rec = JSON.parse(readFileSync(join(journal, readdirSync(journal).find((n) => n.endsWith(".json"))!), "utf8")) as { segments?: { start: number; pos: number }[] };
    const kept = (rec.segments ?? []).reduce((n, g) => n + (g.pos - g.start), 0);
    const r = await runFtpkit(["resume", "--json", "--limit-rate", "0"], { cwd: work, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { bytesMoved: number; files: { result: string }[] };
    // Before: no position saved yet, the whole file came again.
    expect(report.bytesMoved).toBeLessThan(data.length);
    expect(report.bytesMoved).toBe(data.length - kept);
    // Each range saves in the same turn as its first write; the kill may land between the last
    // range's write and its save (seen under load), never after a later range's write.
    expect((rec.segments ?? []).filter((g) => g.pos > g.start).length).toBeGreaterThanOrEqual(3);
    expect(report.files[0]!.result).toMatch(/^verified by /);
    expect(digest(readFileSync(join(work, "early.bin")))).toBe(digest(data));
  });

  test("bytes changed on the server inside what a segment already fetched (same size and time): resume fetches that segment again, and the file ends verified", async () => {
    const { srv, work, data } = await interruptedSegments();
    const remote = join(srv.home, "segk.bin");
    const { atime, mtime } = statSync(remote);
    const changed = Buffer.from(data);
    changed.fill(0x5a, 1000, 1100);
    writeFileSync(remote, changed);
    utimesSync(remote, atime, mtime);
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 90_000 });
    expect(r.stderr).toMatch(/segment 0-\d+: the partial data differs from the server's bytes 0-\d+; fetching the segment again/);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("(verified by HASH)");
    expect(digest(readFileSync(join(work, "segk.bin")))).toBe(digest(changed));
  });

  test("a part file deleted since the interruption: every segment starts over (its recorded progress described zeros)", async () => {
    const { work, data } = await interruptedSegments();
    rmSync(join(work, "segk.bin.ftpkit-part"));
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 90_000 });
    expect(r.stderr).toContain("the partial file is gone or not at the file's size (cut short, or grown by another program): every segment starts over");
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "segk.bin")))).toBe(digest(data));
  });

  // In French too: ProFTPD translates its replies (mod_lang), but not the MaxClients* lines, which
  // are the only way to tell its "full" 530 from a refused password (client/errors.ts, tooManyClients).
  for (const { lang, label, skip } of [
    { lang: undefined, label: "", skip: proftpdBinary() === null },
    { lang: "fr_FR" as const, label: ", answering in French", skip: !proftpdSpeaksFrench() },
  ]) test.skipIf(skip)(`a server that refuses extra logins (ProFTPD MaxClientsPerHost 2, 530${label}): a refusal is only a note, and the download completes verified`, async () => {
    const pro = await startProftpd({ maxPerIp: 2, lang });
    cleanups.push(() => pro.stop());
    const work = tempDir("ftpkit-seg-530-");
    cleanups.push(() => removeDir(work));
    const data = randomFile(join(pro.home, "big.bin"), 4 * 1024 * 1024);
    chownTo(pro.home, "nobody");
    const r = await runFtpkit(["get", pro.url("/big.bin"), "--segments", "4"], { cwd: work, timeoutMs: 90_000 });
    // Whether ProFTPD refuses the third and fourth login at once depends on when it counts them; a
    // refusal is a note, never the job's failure.
    for (const line of r.stderr.trim().split("\n").slice(0, -1)) expect(line).toMatch(/could not open another connection \(.*530.*\); continuing with fewer segments at a time/);
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(data));
  });

  test("refusals of extra logins that come after the first ranges have ended: the sessions already open take those segments, and the download completes verified", async () => {
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(4 * 1024 * 1024)).buffer);
    // Two sessions at most, ever (ProFTPD's MaxClientsPerHost, slow to count one gone); its 530 comes late.
    const fake = startFakeServer({
      feat: ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*"],
      files: new Map([["/big.bin", data]]),
      busy: { at: "password", connections: Array.from({ length: 40 }, (_, i) => i + 3), delayMs: 400, reply: "530 Sorry, the maximum number of clients (2) from your host are already connected." },
    });
    cleanups.push(() => fake.stop());
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/big.bin`, "--segments", "4"], { cwd: work, timeoutMs: 60_000 });
    // Before: nothing downloaded when the refusals came, so each refused range tried again alone, was refused --retries times: exit 8.
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining("continuing with fewer segments at a time") });
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(data));
  });

  test("a file that grew on the server during the download is a changed file, as a single stream says: exit 9, the bytes that came kept aside, nothing to resume", async () => {
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(3 * 1024 * 1024)).buffer);
    const fake = startFakeServer({ feat: ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*;MD5"], files: new Map([["/grow.bin", data]]), growDuringRetr: Buffer.alloc(300_000, 0x61) });
    cleanups.push(() => fake.stop());
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/grow.bin`, "--segments", "3"], { cwd: work, timeoutMs: 60_000 });
    const aside = join(work, "grow.bin.ftpkit-corrupt");
    expect(r.stderr.trim()).toBe(`[error] the remote file changed during the download (size ${data.length} → ${data.length + 300_000}); the ${data.length} bytes that came are kept in ${aside}: get it again`);
    expect(r.code).toBe(9);
    expect(fake.commands.filter((c) => c.startsWith("RETR")).length).toBe(3);
    expect(readFileSync(aside).equals(data)).toBe(true);
    expect(readdirSync(work).filter((n) => n.startsWith("grow.bin"))).toEqual(["grow.bin.ftpkit-corrupt"]);
    expect((await runFtpkit(["resume", "--list"], { cwd: work })).stdout).toMatch(/^nothing to resume/);
  });

  test("a remote file changed since the interruption is refused on resume, not spliced from two versions", async () => {
    const { srv, work } = await interruptedSegments();
    randomFile(join(srv.home, "segk.bin"), 6 * 1024 * 1024);
    utimesSync(join(srv.home, "segk.bin"), new Date(), new Date(Date.now() + 120_000));
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 90_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the remote file changed since the interrupted download");
    expect(existsSync(join(work, "segk.bin"))).toBe(false);
  });

  test("resume checks the segments' partial data side by side, over as many connections as the job has segments, and the segments go on over those connections", async () => {
    const big = Buffer.from(crypto.getRandomValues(new Uint8Array(3 << 20))); // 3 segments of 1 MiB
    let interrupting = true;
    const rest = new WeakMap<object, number>();
    const ranges = new WeakMap<object, { start: number; end: number }>();
    /** Ranged HASHes the server is answering right now, and the most at once. */
    let hashing = 0;
    let most = 0;
    let allAsked!: () => void;
    const three = new Promise<void>((r) => (allAsked = r));
    const srv = startScriptedServer({
      feat: ["SIZE", "REST STREAM", "HASH SHA-256*"],
      on: {
        SIZE: (c) => c.reply(213, String(big.length)),
        REST: (c, arg) => (rest.set(c, Number(arg)), c.reply(350, "Restarting")),
        RETR: async (c) => {
          const from = rest.get(c) ?? 0;
          rest.delete(c);
          const d = await c.data();
          c.reply(150, "Opening data connection");
          // The first run: each range ends after 200,000 bytes (its segment kept for resume).
          const whole = await d.send(big.subarray(from, interrupting ? from + 200_000 : big.length));
          d.end();
          c.reply(whole && !interrupting ? 226 : 426, whole && !interrupting ? "Transfer complete" : "Connection closed; transfer aborted");
        },
        RANG: (c, arg) => {
          const [a, b] = arg.split(" ").map(Number);
          ranges.set(c, { start: a!, end: b! + 1 });
          c.reply(350, "Range set");
        },
        HASH: async (c, arg) => {
          const ranged = ranges.get(c);
          ranges.delete(c);
          const r = ranged ?? { start: 0, end: big.length };
          if (ranged) {
            // Held until three are being answered (a server reading three ranges), 3 s at most.
            most = Math.max(most, ++hashing);
            if (hashing === 3) allAsked();
            await Promise.race([three, Bun.sleep(3000)]);
            hashing--;
          }
          c.reply(213, `SHA-256 ${r.start}-${r.end} ${digest(big.subarray(r.start, r.end))} ${arg}`);
        },
      },
    });
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const first = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/big.bin`, "--segments", "3", "--retries", "0"], { cwd: work, timeoutMs: 30_000 });
    expect(first.stderr).toContain("the segments are kept");
    interrupting = false;
    const before = srv.commands.length;
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 60_000 });
    expect(r.stderr).toContain("partial data verified (600000 bytes, sha256 via ranged HASH); resuming");
    expect(r.code).toBe(0);
    // Before: one ranged HASH after another over the job's first connection (each waited out the 3 s).
    expect(most).toBe(3);
    // The connections that checked carry the segments on: three logins, not five.
    expect(srv.commands.slice(before).filter((c) => c.startsWith("USER"))).toHaveLength(3);
    expect(digest(readFileSync(join(work, "big.bin")))).toBe(digest(big));
  });

  test.skipIf(!Bun.which("prlimit"))("a size the part file cannot have (ulimit -f: EFBIG) is one line naming it, exit 3, and leaves nothing pending", async () => {
    // A server reporting 10 TB; the part file is made that long (sparse) before the ranges start.
    const srv = startScriptedServer({ feat: ["SIZE", "REST STREAM"], on: { SIZE: (c) => c.reply(213, "10000000000000"), REST: (c) => c.reply(350, "ok") } });
    cleanups.push(() => srv.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const proc = Bun.spawn(["prlimit", "--fsize=100000000", "bun", FTPKIT, "get", `ftp://u:p@127.0.0.1:${srv.port}/huge.bin`, "--segments", "2", "--retries", "0"], {
      cwd: work,
      env: { ...cleanEnv(), NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill(9), 30_000);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    // Before: "[error] EFBIG: file too large, ftruncate", with the empty part file and its record kept.
    expect(stderr.trim()).toBe(`[error] cannot write ${join(work, "huge.bin.ftpkit-part")}: file too large (the file system's limit, or ulimit -f)`);
    expect(code).toBe(3);
    expect(readdirSync(work)).toEqual([]);
  });
});
