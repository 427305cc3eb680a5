// `ftpkit serve` operations flags: bad values are one clear line and a non-zero exit, before anything listens.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { tempDir } from "../tls/helpers.ts";

let dir = "";
let users = "";
let busy: ReturnType<typeof Bun.serve> | null = null;
beforeAll(async () => {
  dir = tempDir();
  users = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw" }]);
  busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("taken") });
});
afterAll(() => {
  busy?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** A FIFO in the test's folder (made once). */
function fifo(): string {
  const f = join(dir, "fifo");
  if (!existsSync(f)) expect(Bun.spawnSync(["mkfifo", f]).exitCode).toBe(0);
  return f;
}

describe("ftpkit serve operations flags", () => {
  const cases: Array<[string, () => string[], RegExp]> = [
    ["--metrics without a port", () => ["--metrics", "127.0.0.1"], /--metrics must look like 127\.0\.0\.1:9100/],
    ["--metrics on a port in use", () => ["--metrics", `127.0.0.1:${busy!.port}`], /--metrics 127\.0\.0\.1:\d+: address already in use/],
    ["--hook with an unknown event", () => ["--hook", "uploaded=/bin/true"], /--hook must look like EVENT=COMMAND with EVENT one of upload, download/],
    ["--hook with a missing program", () => ["--hook", "upload=/no/such/program --flag"], /--hook upload: command not found or not executable: \/no\/such\/program/],
    ["--hook with an unterminated quote", () => ["--hook", "upload=/bin/echo 'open"], /--hook upload: unterminated ' quote/],
    ["--allow with a bad block", () => ["--allow", "10.0.0.0/8,300.1.1.1"], /--allow: "300\.1\.1\.1" is not an IP address or CIDR block/],
    ["--ban-time longer than --ban-max", () => ["--ban-time", "2d"], /--ban-time must not be longer than --ban-max/],
    ["--ban-window that is no duration", () => ["--ban-window", "soon"], /--ban-window: invalid duration "soon"/],
    ["--hook-timeout longer than a timer can wait (it fired after 1 ms)", () => ["--hook-timeout", "25d"], /--hook-timeout: must be at most 24d/],
    ["--ban-time of 400 digits", () => ["--ban-time", "9".repeat(400)], /--ban-time: duration "9+" is too long/],
    ["--xferlog in a missing folder", () => ["--xferlog", `${dir}/no/such/dir/xferlog`], /--xferlog .*xferlog: no such directory .*\/no\/such\/dir$/],
    ["--xferlog naming a directory", () => ["--xferlog", dir], /--xferlog .*: is a directory \(give a file name\)$/],
    // Before: it waited for a reader (a FIFO), or read /dev/zero into gigabytes, and never started.
    ["--xferlog naming a FIFO", () => ["--xferlog", fifo()], /--xferlog .*fifo: not a regular file \(a pipe or a device\)$/],
    ["--welcome @/dev/zero", () => ["--welcome", "@/dev/zero"], /--welcome: cannot read \/dev\/zero: not a regular file$/],
    ["--welcome @FIFO", () => ["--welcome", `@${fifo()}`], /--welcome: cannot read .*fifo: not a regular file$/],
  ];
  test.each(cases)("%s", async (_name, args, message) => {
    const r = await runFtpkit(["serve", "--users", users, "--host", "127.0.0.1", "--port", "0", ...args()], { cwd: dir, timeoutMs: 20_000 });
    expect(r.code).not.toBe(0);
    const out = (r.stderr + r.stdout).trim();
    expect(out).toMatch(message);
    expect(out).not.toContain("listening on");
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
  });

  // Each worker would fail the same way: the primary stops at once, not after 30 s of restarting them
  // (a bad --hook value is bad usage, found before any worker starts).
  test.each([
    ["a missing hook program is exit 2", () => ["--users", users, "--hook", "upload=/no/such/program"], /--hook upload: command not found or not executable: \/no\/such\/program/, 2],
    ["a corrupt users file is exit 1", () => ["--users", `${dir}/corrupt.ini`], /users file .*corrupt\.ini: line 2: expected "key = value"/, 1],
  ] as const)("under --workers 2, %s, one clear line within seconds", async (_name, args, message, status) => {
    writeFileSync(`${dir}/corrupt.ini`, "[alice]\nnot a setting\n");
    const started = Date.now();
    const r = await runFtpkit(["serve", "--host", "127.0.0.1", "--port", "0", "--workers", "2", ...args()], { cwd: dir, timeoutMs: 25_000 });
    expect(r.code).toBe(status);
    expect(Date.now() - started).toBeLessThan(10_000);
    const out = (r.stderr + r.stdout).trim();
    expect(out).toMatch(message);
    expect(out).not.toMatch(/restarting it/);
    expect(out).not.toMatch(/\n\s+at /);
  }, 30_000);

  // Each worker read the file and said so (a line per worker, as many as the primary's stop let
  // print); the primary says it once, first, as one process does (there the port comes after it).
  test("under --workers 2, a corrupt users file is the one line, said before the port is tried, as without --workers", async () => {
    writeFileSync(`${dir}/corrupt.ini`, "[alice]\nquota = 10XB\n");
    for (const workers of [[], ["--workers", "2"]]) {
      const r = await runFtpkit(["serve", "--users", `${dir}/corrupt.ini`, "--host", "127.0.0.1", "--port", String(busy!.port), ...workers], { cwd: dir, timeoutMs: 25_000 });
      expect(r.code).toBe(1);
      expect((r.stderr + r.stdout).trim()).toMatch(/^\[error\] users file .*corrupt\.ini: line 2: user "alice": invalid size unit in "10XB" \(use [^\n]*\)$/);
    }
  }, 30_000);
});
