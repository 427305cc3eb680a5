// --verbose (-v): the FTP conversation on stderr, as curl -v shows it, each line tagged with its
// connection; the password never shown, the server's text escaped; and the API's `trace` option.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { get, list } from "../../cli/api.ts";
import { randomFile, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let server: FtpkitPeer;
let work: string;

beforeAll(async () => {
  server = await startFtpkitServer();
  work = tempDir("ftpkit-verbose-");
  randomFile(join(server.home, "a.bin"), 70_000);
});
afterAll(async () => {
  await server.stop();
  removeDir(work);
});

/** The tags ("[n]") of the connections that sent `verb`, in order of first appearance. */
const tagsSending = (stderr: string, verb: string) => [...new Set([...stderr.matchAll(new RegExp(`^(\\[\\d+\\]) > ${verb} `, "gm"))].map((m) => m[1]))];

describe("ftpkit get/put/ls --verbose", () => {
  test("get -v shows each command and reply of its connection on stderr, PASS masked, and the file arrives intact", async () => {
    const r = await runFtpkit(["get", "-v", server.url("/a.bin"), "out.bin"], { cwd: work });
    expect(r.code).toBe(0);
    expect(readFileSync(join(work, "out.bin"))).toEqual(readFileSync(join(server.home, "a.bin")));
    expect(r.stderr).toContain("[1] * connected to 127.0.0.1:");
    expect(r.stderr).toMatch(/^\[1\] < 220 /m);
    expect(r.stderr).toContain("[1] > USER user\n");
    expect(r.stderr).toContain("[1] > PASS ****\n");
    expect(r.stderr).not.toContain("secret");
    expect(r.stderr).toMatch(/^\[1\] \* data connection to 127\.0\.0\.1:\d+$/m);
    expect(r.stderr).toContain("[1] > RETR /a.bin\n");
    expect(r.stderr).toMatch(/^\[1\] < 226 /m);
    expect(r.stderr).toMatch(/^\[1\] < 213 SHA-256 0-70000 [0-9a-f]{64} /m);
    // The multi-line FEAT reply: every line carries the tag.
    expect(r.stderr).toMatch(/^\[1\] < 211-?.*\n(\[1\] .*\n)*\[1\]\s+SIZE\n/m);
  });

  test("put -r -v --parallel 2: the files' STORs are tagged with the connection that sent them, two connections in all", async () => {
    const src = join(work, "tree");
    mkdirSync(join(src, "sub"), { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(src, i % 2 ? "sub" : "", `f${i}.txt`), `file ${i}\n`);
    const r = await runFtpkit(["put", "-r", "-v", "--parallel", "2", src, server.url("/up")], { cwd: work });
    expect(r.code).toBe(0);
    const storLines = r.stderr.match(/^\[\d+\] > STOR .*$/gm) ?? [];
    expect(storLines.length).toBe(6);
    expect(tagsSending(r.stderr, "STOR").length).toBe(2);
    // Every line is the conversation's (tagged) or the job's own messages (the summary).
    const untagged = r.stderr.split("\n").filter((l) => l !== "" && !/^\[\d+\] /.test(l));
    expect(untagged.length).toBeLessThanOrEqual(2);
    expect(readFileSync(join(server.home, "up/sub/f1.txt"), "utf8")).toBe("file 1\n");
  });

  test("ls -v and get --active -v: the listing's command, and the data connection the server opened to us", async () => {
    const ls = await runFtpkit(["ls", "-v", server.url("/")], { cwd: work });
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain("a.bin");
    expect(ls.stderr).toMatch(/^\[1\] > (MLSD|LIST) \/$/m);
    const active = await runFtpkit(["get", "-v", "--active", server.url("/a.bin"), "active.bin"], { cwd: work });
    expect(active.code).toBe(0);
    expect(active.stderr).toMatch(/^\[1\] \* listening on 127\.0\.0\.1:\d+ for the server's data connection$/m);
    expect(active.stderr).toMatch(/^\[1\] > EPRT \|1\|127\.0\.0\.1\|\d+\|$/m);
    expect(active.stderr).toContain("[1] * data connection from 127.0.0.1\n");
  });

  test("-q and -v together are refused as a contradiction (exit 2), before any connection", async () => {
    const r = await runFtpkit(["get", "-q", "-v", server.url("/a.bin"), "never.bin"], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--quiet and --verbose contradict");
    expect(r.stderr).not.toContain("connected to");
  });

  test("a server's reply holding terminal control characters is shown escaped, never raw", async () => {
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => void s.write("220 hello \x1b[2J\x1b]0;owned\x07 there\r\n"),
        data: (s) => void s.write("530 Login incorrect\r\n"),
      },
    });
    try {
      const r = await runFtpkit(["ls", "-v", `ftp://u:p@127.0.0.1:${listener.port}/`], { cwd: work });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("[1] < 220 hello \\x1b[2J\\x1b]0;owned\\x07 there");
      expect(r.stderr).not.toContain("\x1b");
      expect(r.stderr).not.toContain("\x07");
    } finally {
      listener.stop(true);
    }
  });
});

describe("ftpkit -v behind a slow reader", () => {
  test("a failed job's last exchange and its error reach a stderr pipe read slowly, though the trace filled it", async () => {
    // 1.2 MB of 530 lines: far more than a pipe holds (64 KiB), all traced just before the job fails and exits.
    const refusal = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `530-refused ${i} ${"x".repeat(40)}\r\n`).join("") + "530 Login incorrect THE-END\r\n");
    const { promise: userSent, resolve: onUser } = Promise.withResolvers<void>();
    const listener = Bun.listen<{ off: number }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => {
          s.data = { off: -1 };
          s.write("220 ready\r\n");
        },
        data: (s) => {
          if (s.data.off >= 0) return;
          s.data.off = 0;
          onUser();
          s.data.off += s.write(refusal, 0, refusal.length);
        },
        drain: (s) => {
          if (s.data.off > 0 && s.data.off < refusal.length) s.data.off += s.write(refusal, s.data.off, refusal.length - s.data.off);
        },
      },
    });
    const proc = spawnFtpkit(["ls", "-v", `ftp://u:p@127.0.0.1:${listener.port}/`], { cwd: work });
    const timer = setTimeout(() => proc.kill(9), 30_000);
    try {
      const reader = proc.stderr.getReader();
      const chunks: Uint8Array[] = [];
      // Read as a terminal would until the login is under way, then stop reading for a while, as a
      // slow reader does: the pipe fills. (The pause only lets the job fail and exit meanwhile, if
      // it would; the outcome is then waited for by events.)
      let read = reader.read();
      while (!(await Promise.race([userSent.then(() => true), read.then(() => false)]))) {
        const r = await read;
        if (r.done) break;
        chunks.push(r.value);
        read = reader.read();
      }
      await Promise.race([proc.exited, Bun.sleep(500)]);
      for (let r = await read; !r.done; r = await reader.read()) chunks.push(r.value);
      const stderr = Buffer.concat(chunks).toString();
      expect(await proc.exited).not.toBe(0);
      expect(stderr.startsWith("[1] * connected to")).toBe(true);
      // The reply's last line traced, then the error (which quotes the reply) ends what the job wrote.
      // Checked as booleans: a failure would otherwise print the 1.2 MB.
      expect(stderr.includes("\n[1]     Login incorrect THE-END\n")).toBe(true);
      expect(stderr.includes('login failed for user "u"')).toBe(true);
      expect(stderr.endsWith("THE-END (530)\n")).toBe(true);
    } finally {
      clearTimeout(timer);
      proc.kill(9);
      listener.stop(true);
    }
  });
});

describe("the API's trace option", () => {
  test("get and list hand each line of the conversation to trace, PASS masked", async () => {
    const lines: string[] = [];
    const trace = (line: string) => void lines.push(line);
    await get(server.url("/a.bin"), join(work, "api.bin"), { trace });
    await list(server.url("/"), { trace });
    expect(readFileSync(join(work, "api.bin")).length).toBe(70_000);
    expect(lines).toContainEqual(expect.stringMatching(/^\[\d+\] > RETR \/a\.bin$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\[\d+\] > (MLSD|LIST) \/$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\[\d+\] > PASS \*\*\*\*$/));
    expect(lines.join("\n")).not.toContain("secret");
    // Two jobs, two connections: their tags differ.
    const tags = new Set(lines.map((l) => /^\[(\d+)\]/.exec(l)?.[1]));
    expect(tags.size).toBe(2);
  });

  test("a trace that is not a function is refused up front, named as the API's option", async () => {
    const notAFunction = { trace: "stderr" } as unknown as { trace: (line: string) => void };
    await expect(get(server.url("/a.bin"), join(work, "never.bin"), notAFunction)).rejects.toThrow("get: trace must be a function (line: string) => void, got string");
    await expect(list(server.url("/"), notAFunction)).rejects.toThrow("list: trace must be a function");
  });
});
