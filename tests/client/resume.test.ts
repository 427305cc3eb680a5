// kill -9 in the middle of a transfer, then `ftpkit resume`: identical content, fewer bytes moved.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatSize } from "../../protocol/size.ts";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, startPyftpd, tempDir, waitFor, type Peer } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let slow: Peer; // throttled: 256 KiB/s each way
let work: string;
const SIZE = 1_500_000;

beforeAll(async () => {
  slow = await startPyftpd({ rate: 256 * 1024 });
  work = tempDir();
});

afterAll(async () => {
  await slow.stop();
  removeDir(slow.root);
  removeDir(work);
});

const records = (cwd: string) => {
  const d = join(cwd, ".ftpkit", "transfers");
  return existsSync(d) ? readdirSync(d).filter((n) => n.endsWith(".json")) : [];
};

/** Start `ftpkit ARGS`, wait until `landed()` bytes ≥ min, kill -9 it (a password in a URL wins over the environment's). */
async function interrupt(args: string[], cwd: string, landed: () => number, min = 200_000): Promise<void> {
  const proc = spawnFtpkit(args, { cwd, env: { FTPKIT_PASSWORD: slow.password } });
  try {
    await waitFor(() => landed() >= min, 15_000, "bytes to land");
  } finally {
    proc.kill(9);
    await proc.exited;
  }
}

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);

describe("interrupted transfers", () => {
  test("an interrupted get is resumed with REST and completes identically", async () => {
    const cwd = tempDir("ftpkit-resume-get-");
    try {
      const data = randomFile(join(slow.root, "big-get.bin"), SIZE);
      const part = join(cwd, "big-get.bin.ftpkit-part");
      await interrupt(["get", slow.url("/big-get.bin", { password: false })], cwd, () => sizeOf(part));
      const kept = sizeOf(part);
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThan(SIZE);
      expect(existsSync(join(cwd, "big-get.bin"))).toBe(false);
      const [rec] = records(cwd);
      const saved = JSON.parse(readFileSync(join(cwd, ".ftpkit", "transfers", rec!), "utf8"));
      expect(saved).toMatchObject({ direction: "get", local: join(cwd, "big-get.bin"), remoteSize: SIZE, hash: "sha256" });
      expect(saved.url).not.toContain(slow.password);

      // --list shows it (and continues nothing): where from, where to, how far.
      const listed = await runFtpkit(["resume", "--list", "--json"], { cwd });
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([
        { kind: "file", direction: "get", url: saved.url, local: join(cwd, "big-get.bin"), startedAt: saved.startedAt, done: { bytes: kept } },
      ]);
      const text = await runFtpkit(["resume", "--list"], { cwd });
      expect(text.stdout).toBe(`get ${saved.url} → ${join(cwd, "big-get.bin")} (started ${saved.startedAt}; ${formatSize(kept)} received)\n`);
      // With LOCAL: that transfer, or none.
      expect((await runFtpkit(["resume", "big-get.bin", "--list"], { cwd })).stdout).toBe(text.stdout);
      expect((await runFtpkit(["resume", "other.bin", "--list"], { cwd })).stdout).toBe("nothing to resume\n");
      expect(sizeOf(part)).toBe(kept);

      // Without a ranged HASH it continues at the last byte the record vouches for (kill -9 leaves
      // at most a second's bytes past it: they could be another program's, so they come again).
      const written: number = saved.partBound.written;
      expect(written).toBeGreaterThan(0);
      expect(written).toBeLessThanOrEqual(kept);
      const r = await runFtpkit(["resume"], { cwd, env: { FTPKIT_PASSWORD: slow.password } });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("cannot verify the partial data");
      expect(r.stderr).toContain("the server offers no hash; verified size only");
      expect(digest(readFileSync(join(cwd, "big-get.bin")))).toBe(digest(data));
      const retrs = slow.transfers().filter((t) => t.path.endsWith("big-get.bin"));
      const last = retrs.at(-1)!;
      expect(last.completed).toBe(true);
      expect(last.bytes).toBeLessThan(SIZE);
      expect(last.bytes).toBe(SIZE - written);
      expect(records(cwd)).toEqual([]);
      expect(existsSync(part)).toBe(false);
      expect((await runFtpkit(["resume", "--list"], { cwd })).stdout).toMatch(/^nothing to resume( here)?\n/); // other tests' jobs may wait elsewhere
    } finally {
      removeDir(cwd);
    }
  });

  test("an interrupted put is resumed from the server's size and completes identically", async () => {
    const cwd = tempDir("ftpkit-resume-put-");
    try {
      const data = randomFile(join(cwd, "big-put.bin"), SIZE);
      const remote = join(slow.root, "big-put.bin");
      await interrupt(["put", "big-put.bin", slow.url("/big-put.bin", { password: false })], cwd, () => sizeOf(remote));
      // The killed client's last bytes may still be in flight: its size is final once the server
      // has closed the file and logged that upload.
      await waitFor(() => slow.transfers().some((t) => t.verb === "STOR" && t.path.endsWith("big-put.bin")), 15_000, "the killed upload to end on the server");
      const kept = sizeOf(remote);
      expect(kept).toBeLessThan(SIZE);
      expect(records(cwd)).toHaveLength(1);

      const r = await runFtpkit(["resume", "big-put.bin"], { cwd, env: { FTPKIT_PASSWORD: slow.password } });
      expect(r.code).toBe(0);
      expect(digest(readFileSync(remote))).toBe(digest(data));
      const stors = slow.transfers().filter((t) => t.path.endsWith("big-put.bin"));
      expect(stors.at(-1)!.bytes).toBe(SIZE - kept);
      expect(records(cwd)).toEqual([]);
    } finally {
      removeDir(cwd);
    }
  });

  test("a remote file changed between interruption and resume is detected; nothing is touched", async () => {
    const cwd = tempDir("ftpkit-resume-changed-");
    try {
      randomFile(join(slow.root, "changing.bin"), SIZE);
      const part = join(cwd, "changing.bin.ftpkit-part");
      await interrupt(["get", slow.url("/changing.bin", { password: false })], cwd, () => sizeOf(part));
      const kept = readFileSync(part);
      randomFile(join(slow.root, "changing.bin"), SIZE + 10); // the server's file is replaced

      const r = await runFtpkit(["resume"], { cwd, env: { FTPKIT_PASSWORD: slow.password } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/remote file changed since the interrupted download \(size 1500000 → 1500010/);
      expect(r.stderr).toContain("ftpkit get --restart");
      expect(readFileSync(part).equals(kept)).toBe(true);
      expect(existsSync(join(cwd, "changing.bin"))).toBe(false);

      // Same size, new modification time: also a change.
      randomFile(join(slow.root, "changing.bin"), SIZE);
      utimesSync(join(slow.root, "changing.bin"), new Date(), new Date(Date.now() + 3600_000));
      const r2 = await runFtpkit(["resume"], { cwd, env: { FTPKIT_PASSWORD: slow.password } });
      expect(r2.code).toBe(1);
      expect(r2.stderr).toMatch(/modified \d{14} → \d{14}/);

      // --restart starts over and succeeds.
      const again = await runFtpkit(["get", "--restart", slow.url("/changing.bin")], { cwd, timeoutMs: 30_000 });
      expect(again.code).toBe(0);
      expect(records(cwd)).toEqual([]);
    } finally {
      removeDir(cwd);
    }
  });

  test("get on a target with a pending record resumes it automatically (no TTY) and says so", async () => {
    const cwd = tempDir("ftpkit-resume-auto-");
    try {
      const data = randomFile(join(slow.root, "auto.bin"), 800_000);
      const part = join(cwd, "auto.bin.ftpkit-part");
      await interrupt(["get", slow.url("/auto.bin", { password: false })], cwd, () => sizeOf(part), 300_000);
      const r = await runFtpkit(["get", slow.url("/auto.bin", { password: false })], { cwd, env: { FTPKIT_PASSWORD: slow.password } });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/resuming the interrupted transfer of .*auto\.bin \(use --restart to start over\)/);
      expect(digest(readFileSync(join(cwd, "auto.bin")))).toBe(digest(data));
      expect(slow.transfers().filter((t) => t.path.endsWith("auto.bin")).at(-1)!.bytes).toBeLessThan(800_000);
    } finally {
      removeDir(cwd);
    }
  });

  test("the journal record is written atomically before any byte moves", async () => {
    const cwd = tempDir("ftpkit-journal-");
    try {
      writeFileSync(join(slow.root, "tiny.txt"), "tiny");
      const r = await runFtpkit(["get", slow.url("/tiny.txt")], { cwd });
      expect(r.code).toBe(0);
      expect(records(cwd)).toEqual([]); // removed on success
      expect(existsSync(join(cwd, ".ftpkit"))).toBe(false); // no temp files either, nor an empty journal
    } finally {
      removeDir(cwd);
    }
  });
});

describe("a pending get started over or resumed by another get", () => {
  test("it is verified with the digest it began with (by HASH, not size only), and says that --hash waits for a new transfer", async () => {
    const hashing = await startFtpkitServer({ maxRate: "256K" });
    const cwd = tempDir("ftpkit-resume-hash-");
    try {
      const data = randomFile(join(hashing.home, "h.bin"), 1_200_000);
      const part = join(cwd, "h.bin.ftpkit-part");
      await interrupt(["get", hashing.url("/h.bin")], cwd, () => sizeOf(part));
      const r = await runFtpkit(["get", hashing.url("/h.bin"), "--hash", "crc32"], { cwd });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("it began with sha256 and is verified with it; --hash crc32 applies to a new transfer (--restart)");
      expect(r.stderr).toContain("partial data verified");
      expect(r.stderr).toContain(`sha256 ${digest(data)} (verified by HASH)`);
      expect(digest(readFileSync(join(cwd, "h.bin")))).toBe(digest(data));
    } finally {
      await hashing.stop();
      removeDir(cwd);
    }
  });

  test("--restart with a mistyped password keeps what was pending; --restart without one uses the password saved for the job, as the changed-file hint says", async () => {
    const srv = await startFtpkitServer({ maxRate: "256K" });
    const cwd = tempDir("ftpkit-restart-");
    try {
      randomFile(join(srv.home, "r.bin"), 1_200_000);
      const part = join(cwd, "r.bin.ftpkit-part");
      await interrupt(["get", srv.url("/r.bin")], cwd, () => sizeOf(part));
      const kept = sizeOf(part);
      const typo = await runFtpkit(["get", "--restart", srv.url("/r.bin").replace(/:[^:@/]+@/, ":typo@")], { cwd });
      expect(typo.code).toBe(6);
      expect(sizeOf(part)).toBe(kept);
      expect(records(cwd)).toHaveLength(1);
      // The server's file changes: the resume refuses and names the command to start over, with no password in it.
      const data = randomFile(join(srv.home, "r.bin"), 300_000);
      const refused = await runFtpkit(["resume"], { cwd });
      expect(refused.code).toBe(1);
      const hint = /`ftpkit (get --restart \S+ \S+)`/.exec(refused.stderr)![1]!.split(" ");
      expect(hint[2]).not.toMatch(/:[^:@/]*@/); // user@host: the hint never prints a password
      const again = await runFtpkit(hint, { cwd });
      expect(again.code).toBe(0);
      expect(digest(readFileSync(join(cwd, "r.bin")))).toBe(digest(data));
    } finally {
      await srv.stop();
      removeDir(cwd);
    }
  });
});
