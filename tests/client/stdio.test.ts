// `get URL -` and `put - URL`: a file streamed to standard output or from standard input, verified.
import { afterAll, afterEach, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, digest, FTPKIT, randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, waitFor, type FtpkitPeer } from "../helpers/peers.ts";
import { startFakeServer } from "./fake-server.ts";
import type { FakeServer } from "./fake-server-options.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

const HASH_FEAT = ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*;MD5"];
const payload = () => Buffer.from(crypto.getRandomValues(new Uint8Array(200_000)));

let server: FtpkitPeer;
let work: string;
let fake: FakeServer | null = null;

beforeAll(async () => {
  server = await startFtpkitServer();
  work = tempDir();
  mkdirSync(join(server.home, "sub"));
});

afterAll(async () => {
  await server.stop();
  removeDir(work);
});

afterEach(() => {
  fake?.stop();
  fake = null;
});

/** Nothing of a file job is left in the working directory: no file named "-", no part file, no journal. */
function nothingLeft(): void {
  expect(readdirSync(work).filter((n) => n === "-" || n.endsWith(".ftpkit-part") || n === ".ftpkit")).toEqual([]);
}

/** `ftpkit ARGS | head -c BYTES`: ftpkit's stderr, then "exit=N" (its status). */
async function intoEarlyClosingReader(args: string[], bytes: number): Promise<string> {
  const proc = Bun.spawn(["bash", "-c", `bun "$0" "$@" | head -c ${bytes} >/dev/null; echo "exit=\${PIPESTATUS[0]}" >&2`, FTPKIT, ...args], {
    cwd: work,
    env: { ...process.env, NO_COLOR: "1" },
    stdout: "ignore",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  const stderr = await new Response(proc.stderr).text();
  await proc.exited;
  clearTimeout(timer);
  return stderr;
}

describe("against ftpkit serve", () => {
  test("get URL - writes the file to stdout, verified by HASH, and leaves no file behind", async () => {
    const data = randomFile(join(server.home, "out.bin"), 3_000_000);
    const r = await runFtpkit(["get", server.url("/out.bin"), "-"], { cwd: work });
    expect(r.code).toBe(0);
    expect(digest(r.out)).toBe(digest(data));
    expect(r.out.length).toBe(data.length);
    expect(r.stderr).toContain(`sha256 ${digest(data)} (verified by HASH)`);
    nothingLeft();
  });

  test("put - URL uploads standard input, verified by HASH (md5)", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(1_500_000)));
    const r = await runFtpkit(["put", "-", server.url("/from-stdin.bin"), "--hash", "md5"], { cwd: work, stdin: data });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`md5 ${digest(data, "md5")} (verified by HASH)`);
    expect(digest(readFileSync(join(server.home, "from-stdin.bin")))).toBe(digest(data));
    nothingLeft();
  });

  test("put - URL --json prints the one-file report on stdout (stdin carries the file)", async () => {
    const data = Buffer.from("report me\n");
    const r = await runFtpkit(["put", "-", server.url("/json-stdin.txt"), "--json"], { cwd: work, stdin: data });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ copied: 1, failed: 0, bytesMoved: data.length, files: [{ path: "-", url: server.url("/json-stdin.txt", { password: false }), bytes: data.length, digest: `sha256:${digest(data)}`, result: "verified by HASH" }] });
  });

  test("put - of empty standard input creates an empty file", async () => {
    const r = await runFtpkit(["put", "-", server.url("/empty.bin")], { cwd: work, stdin: new Uint8Array(0) });
    expect(r.code).toBe(0);
    expect(readFileSync(join(server.home, "empty.bin")).length).toBe(0);
  });

  test("get URL - into a reader that stops early ends with exit status 3 (local) and says the pipe broke", async () => {
    randomFile(join(server.home, "long.bin"), 8_000_000);
    const stderr = await intoEarlyClosingReader(["get", server.url("/long.bin"), "-"], 1000);
    expect(stderr).toContain("cannot write to standard output: the reader closed it (broken pipe)");
    expect(stderr).toContain("exit=3");
  });

  test("get URL /dev/full (a device named as the destination) that refuses the bytes: one line naming it, not standard output, exit 3", async () => {
    randomFile(join(server.home, "full.bin"), 100_000);
    const r = await runFtpkit(["get", server.url("/full.bin"), "/dev/full"], { cwd: work });
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split("\n")).toEqual(["[error] cannot write to /dev/full: disk full"]);
    nothingLeft();
  });

  // As cat, ls and git: the reader took what it wanted. (It was one line and exit 3, as for `get URL -`.)
  test("ls (plain and --json) into a reader that stops early: nothing on stderr, exit 0", async () => {
    mkdirSync(join(server.home, "many-names"), { recursive: true });
    for (let i = 0; i < 3000; i++) writeFileSync(join(server.home, "many-names", `a-rather-long-file-name-${i}.txt`), "");
    for (const args of [["ls", server.url("/many-names")], ["ls", server.url("/many-names"), "--json"]]) {
      const stderr = await intoEarlyClosingReader(args, 100);
      expect(stderr.trim().split("\n")).toEqual(["exit=0"]);
    }
  });

  test("a dry run's plan and a job's --json report into a reader that stops early: nothing on stderr, the job's own status", async () => {
    mkdirSync(join(server.home, "plan-names"), { recursive: true });
    for (let i = 0; i < 2000; i++) writeFileSync(join(server.home, "plan-names", `a-rather-long-file-name-${i}.txt`), "x");
    const plan = await intoEarlyClosingReader(["sync", server.url("/plan-names/"), join(work, "plan-mirror"), "--dry-run"], 100);
    expect(plan.trim().split("\n")).toEqual(["exit=0"]);
    const report = await intoEarlyClosingReader(["get", "-r", server.url("/plan-names/"), join(work, "report-copy"), "--json", "-q"], 100);
    expect(report.trim().split("\n")).toEqual(["exit=0"]);
    // The job itself was done: its report was what the reader cut short.
    expect(readdirSync(join(work, "report-copy"))).toHaveLength(2000);
    // A job that failed keeps its status and says its failure, not the pipe's.
    mkdirSync(join(work, "report-fail", "a-rather-long-file-name-7.txt"), { recursive: true });
    const failed = await intoEarlyClosingReader(["get", "-r", server.url("/plan-names/"), join(work, "report-fail"), "--json", "-q"], 100);
    expect(failed.trim().split("\n")).toEqual([
      "[error] a-rather-long-file-name-7.txt is a file in the source but a directory in the destination; nothing was changed: remove one of them, or sync with --delete to replace it",
      "exit=1",
    ]);
  });
});

describe("a pipe that pauses is not a stalled server (--stall-timeout 1)", () => {
  test("put - whose writer pauses for 2.5 s ends verified, without a reconnection", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(600_000)));
    const proc = Bun.spawn(["bun", FTPKIT, "put", "-", server.url("/paused.bin"), "--stall-timeout", "1"], {
      cwd: work,
      env: { ...cleanEnv(), NO_COLOR: "1" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill(9), 30_000);
    proc.stdin.write(data.subarray(0, 300_000));
    proc.stdin.flush();
    await waitFor(() => existsSync(join(server.home, "paused.bin")), 10_000, "the upload to start");
    await Bun.sleep(2500); // the pause itself is what is tested: longer than --stall-timeout
    proc.stdin.write(data.subarray(300_000));
    proc.stdin.end();
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    expect(stderr).not.toContain("stalled");
    expect(code).toBe(0);
    expect(stderr).toContain("(verified by HASH)");
    expect(digest(readFileSync(join(server.home, "paused.bin")))).toBe(digest(data));
  });

  test("get URL - into a reader that pauses for 2.5 s ends verified, without a reconnection", async () => {
    const data = randomFile(join(server.home, "slow-reader.bin"), 8_000_000);
    const proc = spawnFtpkit(["get", server.url("/slow-reader.bin"), "-", "--stall-timeout", "1"], { cwd: work });
    const timer = setTimeout(() => proc.kill(9), 30_000);
    const reader = proc.stdout.getReader();
    const parts: Uint8Array[] = [];
    const first = await reader.read();
    if (!first.done) parts.push(first.value);
    await Bun.sleep(2500); // the pause itself is what is tested: the client's write to the pipe blocks
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    expect(stderr).not.toContain("stalled");
    expect(code).toBe(0);
    expect(digest(Buffer.concat(parts))).toBe(digest(data));
  });
});

describe("against a server that drops or corrupts", () => {
  test("get URL - continues after a dropped connection from the byte it reached (REST)", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, dropRetrAfter: 70_000 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "-"], { cwd: work });
    expect(r.code).toBe(0);
    expect(digest(r.out)).toBe(digest(data));
    expect(fake.commands).toContain("REST 70000");
    expect(r.stderr).toContain("reconnecting (attempt 1 of 3)");
    expect(r.stderr).toContain("(verified by HASH)");
  });

  test("get URL - of corrupted bytes ends with exit status 9 (verification) and a digest mismatch", async () => {
    fake = startFakeServer({ files: new Map([["/f.bin", payload()]]), feat: HASH_FEAT, flipByteAt: 12_345 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "-"], { cwd: work });
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/sha256 mismatch: wrote [0-9a-f]{64} to standard output, the server reports [0-9a-f]{64}/);
  });

  test("put - whose connection drops fails at once: standard input cannot be read again", async () => {
    fake = startFakeServer({ feat: HASH_FEAT, dropStorAfter: 60_000 });
    const r = await runFtpkit(["put", "-", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`], { cwd: work, stdin: payload() });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("standard input cannot be read again, so run the command again");
    expect(fake.commands.filter((c) => c.startsWith("STOR"))).toHaveLength(1);
    nothingLeft();
  });
});

describe("flags that cannot go with a stream", () => {
  const cases: { name: string; args: () => string[]; message: RegExp }[] = [
    { name: "get -r to stdout", args: () => ["get", "-r", server.url("/"), "-"], message: /"-" \(standard output\) carries one file/ },
    { name: "a glob to stdout", args: () => ["get", server.url("/*.bin"), "-"], message: /"-" \(standard output\) carries one file/ },
    { name: "--json with stdout", args: () => ["get", server.url("/out.bin"), "-", "--json"], message: /--json prints on standard output/ },
    { name: "--segments with stdout", args: () => ["get", server.url("/out.bin"), "-", "--segments", "4"], message: /--segments writes a file at several places/ },
    { name: "put - to a directory URL", args: () => ["put", "-", server.url("/")], message: /put - needs a file name at the end of the URL/ },
    { name: "get - of a directory", args: () => ["get", server.url("/sub"), "-"], message: /\/sub is a directory/ },
    { name: "put - onto a directory's name", args: () => ["put", "-", server.url("/sub")], message: /\/sub is a directory on the server: put - needs the file's name at the end of the URL/ },
    // sync made a directory named "-" and mirrored into it (exit 0), or took "-" for a missing directory (exit 3).
    { name: "sync into stdout", args: () => ["sync", server.url("/sub"), "-"], message: /"-" \(standard output\) carries one file; sync mirrors into a local directory/ },
    { name: "sync from stdin", args: () => ["sync", "-", server.url("/sub"), "--delete"], message: /"-" \(standard input\) carries one file; sync mirrors a local directory/ },
  ];
  for (const c of cases) {
    test(`refuses ${c.name}`, async () => {
      const r = await runFtpkit(c.args(), { cwd: work, stdin: new Uint8Array(0) });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(c.message);
      nothingLeft();
    });
  }
});
