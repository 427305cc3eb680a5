// The client's own state: damaged journal records, the lock per file, the stall timeout, and the
// password and TLS trust kept for `ftpkit resume`.
import { afterEach, beforeEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getFile } from "../../client/operations.ts";
import { scanRecords, saveRecord, type TransferRecord } from "../../client/journal.ts";
import { acquireLock, lockDir, stateDir } from "../../client/state.ts";
import { digest, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, transferOptions, waitFor, type FtpkitPeer } from "../helpers/peers.ts";
import { startFakeServer } from "./fake-server.ts";
import type { FakeServer } from "./fake-server-options.ts";

setDefaultTimeout(60_000);

let work: string;
let fake: FakeServer | null = null;
let slow: FtpkitPeer | null = null;

beforeEach(() => {
  work = tempDir();
});
afterEach(async () => {
  fake?.stop();
  fake = null;
  await slow?.stop();
  slow = null;
  removeDir(work);
});

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);

/** The pid a lock names ("PID:START" or a bare pid): a link to it, or (an earlier ftpkit's lock) a file holding it. */
function lockHolder(path: string): string {
  return (lstatSync(path).isSymbolicLink() ? readlinkSync(path) : readFileSync(path, "utf8").trim()).split(":")[0]!;
}

/**
 * Leave a lock naming `pid` as a killed run would: a link, or in an earlier ftpkit's form, a file.
 * `start` (the process's start time, /proc/PID/stat field 22) is added as "PID:START" when given.
 */
function plantLock(path: string, pid: number, form: "link" | "file" = "link", start?: string): void {
  rmSync(path, { force: true });
  const target = start === undefined ? String(pid) : `${pid}:${start}`;
  if (form === "link") symlinkSync(target, path);
  else writeFileSync(path, `${target}\n`);
}

/** A process's start time in clock ticks after boot (/proc/PID/stat field 22), as a lock records it. */
function startTimeOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

function record(over: Partial<TransferRecord> = {}): TransferRecord {
  return {
    id: "0123456789abcdef",
    direction: "get",
    kind: "file",
    url: "ftp://u@127.0.0.1:2121/a.bin",
    local: "/tmp/a.bin",
    part: "/tmp/a.bin.ftpkit-part",
    remoteSize: 10,
    remoteMtime: null,
    hash: "sha256",
    verify: true,
    startedAt: new Date().toISOString(),
    ...over,
  };
}

describe("journal records are validated on load", () => {
  test("a damaged record is reported and skipped; the valid ones still load", () => {
    const dir = join(work, "j");
    saveRecord(record(), dir);
    writeFileSync(join(dir, "fedcba9876543210.json"), "{ not json");
    writeFileSync(join(dir, "1111111111111111.json"), JSON.stringify({ ...record(), id: "1111111111111111", direction: "sideways" }));
    writeFileSync(join(dir, "2222222222222222.json"), JSON.stringify({ ...record(), id: "2222222222222222", local: "relative/path" }));
    const { records, damaged } = scanRecords(dir);
    expect(records.map((r) => r.id)).toEqual(["0123456789abcdef"]);
    expect(damaged.map((d) => d.problem).sort()).toEqual(["bad direction", "bad local path", "not valid JSON"]);
  });

  test("`ftpkit resume` warns about a damaged record and still finishes the good one", async () => {
    slow = await startFtpkitServer({ maxRate: "256K" });
    const data = randomBytes(600_000);
    writeFileSync(join(slow.home, "r.bin"), data);
    const proc = spawnFtpkit(["get", slow.url("/r.bin")], { cwd: work });
    try {
      await waitFor(() => sizeOf(join(work, "r.bin.ftpkit-part")) >= 100_000, 15_000, "bytes to land");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    writeFileSync(join(work, ".ftpkit", "transfers", "abcdefabcdefabcd.json"), '{"id": "abcdefabcdefabcd", "direction"');
    // No password anywhere: the one the interrupted get used was kept for resume.
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).toContain("skipping a damaged journal record");
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "r.bin")))).toBe(digest(data));
    // The saved password is gone once the transfer completed.
    expect(existsSync(join(stateDir(), "credentials", readdirSync(join(work, ".ftpkit", "transfers")).find((n) => n !== "abcdefabcdefabcd.json") ?? "none"))).toBe(false);
  });
});

describe("a record's temp file left by a run killed while writing it", () => {
  // writeAtomic writes .ID.json.PID.tmp, then renames it: kill -9 between the two left the temp file,
  // which nothing removed, and the job's .ftpkit/transfers stayed after it finished (chaos rounds:
  // `sync` killed 57 ms after its start, then resumed and run again to the end).
  const deadPid = async () => {
    const p = Bun.spawn(["true"]);
    await p.exited;
    return p.pid;
  };

  test("is removed by the next job that finishes there, and .ftpkit with it", async () => {
    slow = await startFtpkitServer();
    writeFileSync(join(slow.home, "x.bin"), randomBytes(1000));
    const transfers = join(work, ".ftpkit", "transfers");
    mkdirSync(transfers, { recursive: true });
    writeFileSync(join(transfers, `.0123456789abcdef.json.${await deadPid()}.tmp`), '{"id": "0123');
    const r = await runFtpkit(["get", slow.url("/x.bin")], { cwd: work });
    expect(r.code).toBe(0);
    expect(existsSync(join(work, ".ftpkit"))).toBe(false);
  });

  test("is removed by `ftpkit resume --list`, which then finds nothing; a live writer's stays", async () => {
    const transfers = join(work, ".ftpkit", "transfers");
    mkdirSync(transfers, { recursive: true });
    const dead = `.0123456789abcdef.json.${await deadPid()}.tmp`;
    const live = `.fedcba9876543210.json.${process.pid}.tmp`;
    writeFileSync(join(transfers, dead), '{"id": "0123');
    writeFileSync(join(transfers, live), '{"id": "fedc');
    const r = await runFtpkit(["resume", "--list"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/nothing to resume/);
    expect(readdirSync(transfers)).toEqual([live]);
  });
});

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(b.subarray(off, Math.min(n, off + 65536)));
  return b;
}

describe("locks", () => {
  test("a second writer of the same file is refused while the first runs; a dead holder's lock is taken over", async () => {
    const lock = acquireLock("get\n/tmp/x.ftpkit-part", "/tmp/x");
    expect(() => acquireLock("get\n/tmp/x.ftpkit-part", "/tmp/x")).toThrow("already being transferred");
    lock.release();
    // A lock file left by a killed process (its pid no longer exists) does not block.
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    const again = acquireLock("get\n/tmp/y.ftpkit-part", "/tmp/y");
    const dir = lockDir();
    const file = readdirSync(dir).find((f) => lockHolder(join(dir, f)) === String(process.pid))!;
    again.release();
    plantLock(join(dir, file), dead.pid);
    acquireLock("get\n/tmp/y.ftpkit-part", "/tmp/y").release();
    // The same from an earlier ftpkit, whose lock was a file holding the pid.
    plantLock(join(dir, file), dead.pid, "file");
    acquireLock("get\n/tmp/y.ftpkit-part", "/tmp/y").release();
    // And a live holder's lock in that form still refuses.
    plantLock(join(dir, file), process.ppid, "file");
    expect(() => acquireLock("get\n/tmp/y.ftpkit-part", "/tmp/y")).toThrow(`another ftpkit (pid ${process.ppid})`);
    rmSync(join(dir, file));
  });

  test("processes racing for one lock (over a killed run's lock, at the same instant): exactly one gets it", async () => {
    const state = join(import.meta.dir, "../../client/state.ts");
    const what = `race\n${crypto.randomUUID()}`;
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    const take = acquireLock(what);
    const dir = lockDir();
    const file = readdirSync(dir).find((f) => f.endsWith(".lock") && lockHolder(join(dir, f)) === String(process.pid))!;
    take.release();
    for (let round = 0; round < 3; round++) {
      plantLock(join(dir, file), dead.pid);
      const at = Date.now() + 700;
      const script = `const { acquireLock } = await import(${JSON.stringify(state)}); while (Date.now() < ${at}); try { const l = acquireLock(${JSON.stringify(what)}); console.log("GOT"); await Bun.sleep(1200); l.release(); } catch (e) { console.log("REFUSED " + e.message); }`;
      const procs = Array.from({ length: 4 }, () => Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" }));
      const outs = await Promise.all(procs.map(async (p) => ((await new Response(p.stdout).text()) + (await p.exited)).trim()));
      expect(outs.filter((o) => o.startsWith("GOT"))).toHaveLength(1);
      expect(outs.filter((o) => o.startsWith("REFUSED another ftpkit"))).toHaveLength(3);
    }
  });

  test("a killed run's lock whose pid another process now has is taken over; a live holder's (its pid and start time, or a bare pid) is still refused", async () => {
    const state = join(import.meta.dir, "../../client/state.ts");
    const what = `reused\n${crypto.randomUUID()}`;
    const killed = Bun.spawn(["bun", "-e", `const { acquireLock } = await import(${JSON.stringify(state)}); acquireLock(${JSON.stringify(what)}); console.log("HELD"); await Bun.sleep(30_000);`], { stdout: "pipe", env: process.env });
    const reader = killed.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("HELD");
    reader.releaseLock();
    killed.kill(9);
    await killed.exited;
    const dir = lockDir();
    const file = readdirSync(dir).find((f) => f.endsWith(".lock") && lockHolder(join(dir, f)) === String(killed.pid))!;
    const left = readlinkSync(join(dir, file));
    // The killed run's pid, now an unrelated process's (after a reboot, or by wrapping around). It must
    // have started at another time than the killed run: start times count 10 ms ticks, and a run and
    // a process spawned right after it (Bun starts in a few ms) can share one, which no reuse of a pid can.
    const killedStart = left.split(":")[1];
    let other = Bun.spawn(["sleep", "30"]);
    for (let i = 0; i < 20 && startTimeOf(other.pid) === killedStart; i++) {
      other.kill(9);
      await other.exited;
      await Bun.sleep(10);
      other = Bun.spawn(["sleep", "30"]);
    }
    try {
      rmSync(join(dir, file));
      symlinkSync(left.replace(/^\d+/, String(other.pid)), join(dir, file));
      const taken = acquireLock(what, "/tmp/reused.bin");
      expect(readlinkSync(join(dir, file))).toBe(`${process.pid}:${startTimeOf(process.pid)}`);
      taken.release();
      // This very process got a dead run's pid: not "already being transferred by this job".
      plantLock(join(dir, file), process.pid, "link", String(Number(startTimeOf(process.pid)) - 1));
      acquireLock(what, "/tmp/reused.bin").release();
      // The process that holds it keeps it; so does a bare pid, as an earlier ftpkit wrote it.
      for (const start of [startTimeOf(other.pid), undefined]) {
        plantLock(join(dir, file), other.pid, "link", start);
        expect(() => acquireLock(what, "/tmp/reused.bin")).toThrow(`another ftpkit (pid ${other.pid}) is already transferring /tmp/reused.bin`);
      }
      rmSync(join(dir, file));
    } finally {
      other.kill(9);
      await other.exited;
    }
  });

  test("a lock whose holder was killed but not yet reaped (a zombie) is taken over", async () => {
    // The shell's background sleep ends at once and the exec'd sleep never waits for it: a zombie.
    const parent = Bun.spawn(["sh", "-c", "sleep 0.05 & echo $!; exec sleep 30"], { stdout: "pipe" });
    try {
      const reader = parent.stdout.getReader();
      const zombie = Number(new TextDecoder().decode((await reader.read()).value).trim());
      reader.releaseLock();
      const state = () => {
        try {
          const stat = readFileSync(`/proc/${zombie}/stat`, "utf8");
          return stat[stat.lastIndexOf(")") + 2];
        } catch {
          return "";
        }
      };
      await waitFor(() => state() === "Z", 5_000, "the zombie");
      const what = `zombie\n${crypto.randomUUID()}`;
      const mine = acquireLock(what);
      const dir = lockDir();
      const file = readdirSync(dir).find((f) => f.endsWith(".lock") && lockHolder(join(dir, f)) === String(process.pid))!;
      mine.release();
      plantLock(join(dir, file), zombie);
      acquireLock(what).release();
    } finally {
      parent.kill(9);
      await parent.exited;
    }
  });

  test("two `ftpkit get` of one file at once: the second (plain, or a --restart) says at once that another ftpkit is transferring it, and the first finishes untouched", async () => {
    slow = await startFtpkitServer({ maxRate: "256K" });
    const data = randomBytes(400_000);
    writeFileSync(join(slow.home, "l.bin"), data);
    const first = spawnFtpkit(["get", slow.url("/l.bin")], { cwd: work });
    try {
      await waitFor(() => sizeOf(join(work, "l.bin.ftpkit-part")) > 0, 15_000, "the first get to start");
      // Held (alive, holding its lock, mid-transfer) while the two others run: on a loaded machine
      // their start-up outlasted the whole download, and the --restart then found no one to refuse it.
      process.kill(first.pid, "SIGSTOP");
      try {
        // Without --restart: refused at once, without first announcing that it resumes the transfer.
        const plain = await runFtpkit(["get", slow.url("/l.bin")], { cwd: work, timeoutMs: 20_000 });
        expect(plain.code).toBe(1);
        expect(plain.stderr.trim()).toMatch(/^\[error\] another ftpkit \(pid \d+\) is already transferring .*l\.bin$/);
        const second = await runFtpkit(["get", slow.url("/l.bin"), "--restart"], { cwd: work, timeoutMs: 20_000 });
        expect(second.code).toBe(1);
        expect(second.stderr).toMatch(/another ftpkit \(pid \d+\) is already transferring/);
      } finally {
        process.kill(first.pid, "SIGCONT");
      }
      // The refused restart discarded nothing: the first run keeps its part file and record.
      expect(await first.exited).toBe(0);
      expect(digest(readFileSync(join(work, "l.bin")))).toBe(digest(data));
    } finally {
      first.kill(9);
      await first.exited;
    }
  });

  test("two `ftpkit put` of one file at once: the second (plain, or a resume) says at once that another ftpkit is transferring it, and the first finishes untouched", async () => {
    slow = await startFtpkitServer({ maxRate: "256K" });
    const data = randomBytes(600_000);
    writeFileSync(join(work, "u.bin"), data);
    const remote = join(slow.home, "u.bin");
    // Slow enough (about 4 s) that the two refused runs come while it still moves, even on a loaded machine.
    const first = spawnFtpkit(["put", "u.bin", slow.url("/u.bin"), "--limit-rate", "150K"], { cwd: work });
    try {
      await waitFor(() => sizeOf(remote) > 0, 15_000, "the first put to start");
      for (const args of [["put", "u.bin", slow.url("/u.bin")], ["resume"]]) {
        const again = await runFtpkit(args, { cwd: work, timeoutMs: 20_000 });
        expect(again.code).toBe(1);
        expect(again.stderr.trim()).toMatch(/^\[error\] another ftpkit \(pid \d+\) is already transferring .*u\.bin$/);
      }
      expect(await first.exited).toBe(0);
      expect(digest(readFileSync(remote))).toBe(digest(data));
    } finally {
      first.kill(9);
      await first.exited;
    }
  });

  test("two `ftpkit put` to one remote file at once, the host spelled two ways (127.0.0.1, localhost): the second is refused, the first finishes untouched", async () => {
    slow = await startFtpkitServer({ maxRate: "256K" });
    const data = randomBytes(600_000);
    writeFileSync(join(work, "u.bin"), data);
    mkdirSync(join(work, "other"));
    writeFileSync(join(work, "other", "u.bin"), randomBytes(600_000));
    const remote = join(slow.home, "u.bin");
    const first = spawnFtpkit(["put", "u.bin", slow.url("/u.bin"), "--limit-rate", "150K"], { cwd: work });
    try {
      await waitFor(() => sizeOf(remote) > 0, 15_000, "the first put to start");
      // Another job (another local file, the host spelled otherwise): only the remote file's lock can see it.
      const again = await runFtpkit(["put", "u.bin", slow.url("/u.bin").replace("127.0.0.1", "localhost")], { cwd: join(work, "other"), timeoutMs: 20_000 });
      expect(again.stderr.trim()).toMatch(/^\[error\] another ftpkit \(pid \d+\) is already transferring \/u\.bin on localhost$/);
      expect(again.code).toBe(1);
      expect(await first.exited).toBe(0);
      expect(digest(readFileSync(remote))).toBe(digest(data));
    } finally {
      first.kill(9);
      await first.exited;
    }
  });

  test("two runs of one tree job at once: the second is refused at once, and the first finishes", async () => {
    slow = await startFtpkitServer({ maxRate: "512K" });
    mkdirSync(join(slow.home, "t"));
    for (let i = 0; i < 6; i++) writeFileSync(join(slow.home, "t", `f${i}.bin`), randomBytes(200_000));
    const first = spawnFtpkit(["get", "-r", slow.url("/t"), "t", "--parallel", "2"], { cwd: work });
    try {
      await waitFor(() => existsSync(join(work, "t")) && readdirSync(join(work, "t")).some((n) => n.endsWith(".ftpkit-part")), 15_000, "the first job to start");
      const second = await runFtpkit(["get", "-r", slow.url("/t"), "t", "--parallel", "2"], { cwd: work, timeoutMs: 20_000 });
      expect(second.code).toBe(1);
      expect(second.stderr.trim()).toMatch(/^\[error\] another ftpkit \(pid \d+\) is already transferring .*\/t$/);
      expect(await first.exited).toBe(0);
      expect(readdirSync(join(work, "t")).sort()).toEqual(["f0.bin", "f1.bin", "f2.bin", "f3.bin", "f4.bin", "f5.bin"]);
    } finally {
      first.kill(9);
      await first.exited;
    }
  });
});

describe("stall timeout", () => {
  test("a server that stops sending mid-download is given up after --stall-timeout and the download continues", async () => {
    const data = randomBytes(300_000);
    fake = startFakeServer({ files: new Map([["/s.bin", data]]), feat: ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*;MD5"], stallRetrAfter: 50_000 });
    const started = performance.now();
    const r = await getFile(`ftp://u:p@127.0.0.1:${fake.port}/s.bin`, join(work, "s.bin"), transferOptions(work, { stallMs: 500, retries: 1 }));
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(r.verifiedBy).toBe("verified by HASH");
    expect(digest(readFileSync(join(work, "s.bin")))).toBe(digest(data));
    expect(fake.commands).toContain("REST 50000");
  });

  // A server stopped mid-download (kill -STOP): the reconnection's connect, greeting and login get no byte either.
  for (const [how, frozen, awaited] of [["sends no greeting", { frozenAfter: 1 }, "greeting"], ["greets and then answers nothing", { mutedAfter: 1 }, "reply to USER"]] as const) {
    test(`a reconnection to a frozen server that ${how} is given up after --stall-timeout, not the 60 s reply timeout: exit 4 in seconds`, async () => {
      fake = startFakeServer({ files: new Map([["/s.bin", randomBytes(200_000)]]), feat: ["SIZE", "REST STREAM"], stallRetrAfter: 20_000, ...frozen });
      const started = performance.now();
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/s.bin`, "--stall-timeout", "0.5", "--retries", "1"], { cwd: work, timeoutMs: 30_000 });
      expect(r.stderr).toContain("the data connection stalled (no byte for 0.5 s) after 20000 bytes; reconnecting (attempt 1 of 1)");
      expect(r.stderr).toContain(`timed out waiting for the server's ${awaited} (127.0.0.1:${fake.port}): no reply in 0.5 s (--stall-timeout)`);
      expect(r.code).toBe(4);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(sizeOf(join(work, "s.bin.ftpkit-part"))).toBe(20_000);
    });
  }

  // --stall-timeout bounds every reply, HASH's too (stall-replies.test.ts): a slow one within it is waited for.
  test("after a reconnection under --stall-timeout, a HASH reply slow but within the stall timeout is waited for", async () => {
    const data = randomBytes(300_000);
    fake = startFakeServer({ files: new Map([["/s.bin", data]]), feat: ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*;MD5"], stallRetrAfter: 50_000, slowHashMs: 300 });
    const r = await getFile(`ftp://u:p@127.0.0.1:${fake.port}/s.bin`, join(work, "s.bin"), transferOptions(work, { stallMs: 500, retries: 1 }));
    expect(fake.commands).toContain("REST 50000"); // the download went on over a new connection
    expect(r.verifiedBy).toBe("verified by HASH");
    expect(digest(readFileSync(join(work, "s.bin")))).toBe(digest(data));
  });

  test("without retries the stalled download fails with one clear line, keeping the bytes for resume", async () => {
    fake = startFakeServer({ files: new Map([["/s.bin", randomBytes(200_000)]]), feat: ["SIZE", "REST STREAM"], stallRetrAfter: 20_000 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/s.bin`, "--stall-timeout", "0.5", "--retries", "0"], { cwd: work, timeoutMs: 20_000 });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("the data connection stalled (no byte for 0.5 s) after 20000 bytes");
    expect(r.stderr).toContain("run `ftpkit resume` to continue");
    expect(sizeOf(join(work, "s.bin.ftpkit-part"))).toBe(20_000);
  });
});

describe("resume keeps what the transfer started with", () => {
  test("the saved password file is private (0600 in a 0700 directory) while the transfer is pending", async () => {
    slow = await startFtpkitServer({ maxRate: "128K" });
    writeFileSync(join(slow.home, "p.bin"), randomBytes(500_000));
    const proc = spawnFtpkit(["get", slow.url("/p.bin")], { cwd: work });
    try {
      await waitFor(() => sizeOf(join(work, "p.bin.ftpkit-part")) > 0, 15_000, "bytes to land");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    const dir = join(stateDir(), "credentials");
    const rec = readdirSync(join(work, ".ftpkit", "transfers"))[0]!;
    const saved = join(dir, rec); // named by the transfer's id, like its record
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    // The journal itself (in the working directory) never holds the password.
    expect(readFileSync(join(work, ".ftpkit", "transfers", rec), "utf8")).not.toContain("secret");
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(existsSync(saved)).toBe(false);
  });
});

describe("uploads record the remote file before the first byte", () => {
  test("the record holds the old remote SIZE and MDTM, so a resume never appends to the old file's head", async () => {
    slow = await startFtpkitServer({ maxRate: "128K" });
    const old = randomBytes(100_000);
    writeFileSync(join(slow.home, "u.bin"), old);
    const data = randomBytes(600_000);
    writeFileSync(join(work, "u.bin"), data);
    const proc = spawnFtpkit(["put", "u.bin", slow.url("/u.bin"), "--no-verify"], { cwd: work });
    try {
      await waitFor(() => existsSync(join(work, ".ftpkit", "transfers")) && readdirSync(join(work, ".ftpkit", "transfers")).length > 0, 15_000, "the record");
      await Bun.sleep(300);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    const name = readdirSync(join(work, ".ftpkit", "transfers"))[0]!;
    const rec = JSON.parse(readFileSync(join(work, ".ftpkit", "transfers", name), "utf8")) as TransferRecord;
    expect(rec.remoteSize).toBe(100_000);
    expect(rec.remoteMtime).toMatch(/^\d{14}/);
    const r = await runFtpkit(["resume", "--no-verify"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(slow.home, "u.bin")))).toBe(digest(data));
  });
});
