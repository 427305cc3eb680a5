// What a job does with a server's conduct besides its files' bytes: the modes its LIST shows, listings
// over several connections, sessions that end in the middle of a job (replaced, the file tried again)
// and refusals on live ones (final), floods of replies, more bytes than it reported, terminal escapes
// in names and refusals, active-mode connections, listings without end, SIZE refused for a file it
// serves. (Verification of what
// moved, by digest or size: integrity.test.ts.)
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FtpClient } from "../../client/client.ts";
import { digest, removeDir, runFtpkit, tempDir, waitFor } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { sendsFile, startScriptedServer } from "./scripted-server.ts";
import type { FakeServer } from "./fake-server-options.ts";
import { HASH_FEAT, payload, putTree } from "./job-fixtures.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

const t = useFakeServerWork();

/** The command failed (with exit status `status`) with exactly one stderr line, holding `text`. */
function expectOneErrorLine(r: { code: number; stderr: string }, text: string, status: number): void {
  expect(r.code).toBe(status);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toContain(text);
}

describe("modes in LIST", () => {
  const twoFiles = () => new Map([["/t/a.sh", payload()], ["/t/b.txt", payload()]]);
  const modeOf = (p: string) => statSync(p).mode & 0o777;

  test("get -r over LIST gives a file the execute bits its columns show", async () => {
    const fake = t.start({ files: twoFiles(), feat: ["SIZE"], fileColumns: "rwxr-xr-x" });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "t"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(modeOf(join(t.work, "t", "a.sh"))).toBe(0o777 & ~process.umask());
  });

  test("a listing that shows every file as rwxrwxrwx (as IIS does) makes nothing executable", async () => {
    const fake = t.start({ files: twoFiles(), feat: ["SIZE"], fileColumns: "rwxrwxrwx" });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "t"], { cwd: t.work });
    expect(r.code).toBe(0);
    for (const n of ["a.sh", "b.txt"]) expect(modeOf(join(t.work, "t", n))).toBe(0o666 & ~process.umask());
  });
});

describe("tree walk", () => {
  test("get -r lists the directories of one level over several connections at once, and every file arrives", async () => {
    const files = new Map(Array.from({ length: 6 }, (_, i) => [`/t/d${i}/f${i}.txt`, payload()] as [string, Buffer]));
    const fake = t.start({ files, feat: ["SIZE"], listingsTogether: 2 });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "t", "--parallel", "3"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(fake.mostListingsAtOnce()).toBeGreaterThanOrEqual(2);
    for (const [path, bytes] of files) expect(digest(readFileSync(join(t.work, path)))).toBe(digest(bytes));
  });

  test("with --parallel 1 the walk keeps to one connection", async () => {
    const files = new Map(Array.from({ length: 3 }, (_, i) => [`/t/d${i}/f${i}.txt`, payload()] as [string, Buffer]));
    const fake = t.start({ files, feat: ["SIZE"] });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "t", "--parallel", "1"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(1);
    expect(fake.mostListingsAtOnce()).toBe(1);
  });
});

describe("in the middle of a job: a session that ends is replaced and the file tried again; a refusal on a live one is final", () => {
  const tree = () => new Map(["a.bin", "b.bin", "c.bin"].map((n) => [`/src/${n}`, payload()] as const));
  /** putTree to `server` exits 0 with every file verified by HASH, and the server holds each byte. */
  async function expectTreeUploaded(server: FakeServer): Promise<void> {
    const { r, bytes } = await putTree(server, t.work);
    expect(r.code).toBe(0);
    expect([...results(r.stdout).values()]).toEqual(["verified by HASH", "verified by HASH", "verified by HASH"]);
    for (const [n, data] of bytes) expect(digest(server.files.get(`/dst/${n}`)!)).toBe(digest(data));
  }
  const results = (stdout: string) => new Map((JSON.parse(stdout) as { files: { path: string; result: string }[] }).files.map((f) => [f.path, f.result]));

  test("get -r: the refused file is fetched again on a new session, and every file ends verified", async () => {
    const files = tree();
    const fake = t.start({ files: new Map(files), feat: HASH_FEAT, oopsOnTransfer: 2 });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "1", "--json"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect([...results(r.stdout).values()]).toEqual(["verified by HASH", "verified by HASH", "verified by HASH"]);
    for (const [path, data] of files) expect(digest(readFileSync(join(t.work, "dst", path.slice(5))))).toBe(digest(data));
    expect(fake.commands.filter((c) => c === "RETR /src/b.bin")).toHaveLength(2);
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(2); // one reconnection
  });

  test("put -r: the refused upload is sent again on a new session, and every file ends verified", async () => {
    const fake = t.start({ feat: HASH_FEAT, oopsOnTransfer: 2 });
    await expectTreeUploaded(fake);
    expect(fake.commands.filter((c) => c === "STOR /dst/b.bin")).toHaveLength(2);
  });

  // The server lets in two connections only, so the one that ended cannot come back: the file it
  // was moving is finished by the other connection of the job, and the job ends then, without
  // waiting for the ended one's reconnection attempts (0.5 + 1 + 2 s of backoff, all refused).
  test("get -r --parallel 2: the file of a session that ended goes to the job's other connection", async () => {
    const files = tree();
    const fake = t.start({ files: new Map(files), feat: HASH_FEAT, oopsOnTransfer: 2, busyAfter: 2 });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "2"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("3 copied (3 verified by digest), 0 skipped, 0 deleted, 0 failed");
    for (const [path, data] of files) expect(digest(readFileSync(join(t.work, "dst", path.slice(5))))).toBe(digest(data));
    expect(r.stderr).toMatch(/OOPS: priv_sock_get_int \(500\); trying it again \(attempt 1 of 3\)/);
    expect(fake.commands.filter((c) => c.startsWith("RETR "))).toHaveLength(4);
    expect(r.stderr).not.toContain("a connection was lost");
  });

  test("put -r --parallel 2: the upload of a session that ended goes to the job's other connection", async () => {
    const fake = t.start({ feat: HASH_FEAT, oopsOnTransfer: 2, busyAfter: 2 });
    const local = join(t.work, "tree");
    mkdirSync(local);
    const bytes = new Map(["a.bin", "b.bin", "c.bin"].map((n) => [n, payload()] as const));
    for (const [n, data] of bytes) writeFileSync(join(local, n), data);
    const r = await runFtpkit(["put", "-r", local, `ftp://u:p@127.0.0.1:${fake.port}/dst`, "--parallel", "2"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("3 copied (3 verified by digest), 0 skipped, 0 deleted, 0 failed");
    for (const [n, data] of bytes) expect(digest(fake.files.get(`/dst/${n}`)!)).toBe(digest(data));
    expect(r.stderr).toMatch(/OOPS: priv_sock_get_int \(500\); trying it again \(attempt 1 of 3\)/);
    expect(fake.commands.filter((c) => c.startsWith("STOR "))).toHaveLength(4);
    expect(r.stderr).not.toContain("a connection was lost");
  });

  test("a single get is retried the same way, and says why", async () => {
    const data = payload();
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, oopsOnTransfer: 1 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("RETR /f.bin: OOPS: priv_sock_get_int (500); reconnecting (attempt 1 of 3)");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
  });

  test("--segments: the refused segment is fetched again on a new session; the file ends verified", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(65_536)));
    const big = Buffer.concat(Array.from({ length: 48 }, () => data)); // 3 MiB: 3 segments of 1 MiB
    const fake = t.start({ files: new Map([["/big.bin", big]]), feat: HASH_FEAT, oopsOnTransfer: 2 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/big.bin`, "--segments", "3"], { cwd: t.work });
    expect(r.stderr).toContain("OOPS: priv_sock_get_int (500); retrying (attempt 1 of 3)");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`sha256 ${digest(big)} (verified by HASH)`);
    expect(digest(readFileSync(join(t.work, "big.bin")))).toBe(digest(big));
  });

  test("a refusal on a session that goes on is not retried: that file fails, the others are verified", async () => {
    const fake = t.start({ files: tree(), feat: HASH_FEAT, refuseRetrOf: "/src/b.bin" });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "1", "--json"], { cwd: t.work });
    expect(r.code).toBe(8);
    const result = results(r.stdout);
    expect(result.get("b.bin")).toBe("failed: RETR /src/b.bin: Permission denied. (550)");
    expect(result.get("a.bin")).toBe("verified by HASH");
    expect(result.get("c.bin")).toBe("verified by HASH");
    expect(fake.commands.filter((c) => c === "RETR /src/b.bin")).toHaveLength(1);
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(1); // no reconnection
  });

  test("failures that are all lasting refusals say to fix them before resuming, and the resume then moves only them", async () => {
    const refusing = t.start({ files: tree(), feat: HASH_FEAT, refuseRetrOf: "/src/b.bin" });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${refusing.port}/src`, join(t.work, "dst"), "--parallel", "1"], { cwd: t.work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("1 of 3 items failed, each refused (see above): once that is fixed, `ftpkit resume` moves only them (`--restart` starts the job over)");
    expect(r.stderr).not.toContain("to retry them");
    const port = refusing.port;
    refusing.stop();
    // The same server, restarted without the refusal: the resume moves b.bin only.
    const fake = t.start({ files: tree(), feat: HASH_FEAT, port });
    const again = await runFtpkit(["resume"], { cwd: t.work, env: { FTPKIT_PASSWORD: "p" } });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("1 copied (1 verified by digest), 2 skipped");
    expect(fake.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR /src/b.bin"]);
  });

  test("get -r: a connection lost while a file is checked (the next file's commands behind it) reconnects once, and both end verified", async () => {
    const files = tree();
    const fake = t.start({ files: new Map(files), feat: HASH_FEAT, dropOnFirstHash: true });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "1", "--json"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect([...results(r.stdout).values()]).toEqual(["verified by HASH", "verified by HASH", "verified by HASH"]);
    for (const [path, data] of files) expect(digest(readFileSync(join(t.work, "dst", path.slice(5))))).toBe(digest(data));
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(2); // one reconnection for both files
    expect(fake.commands).toContain("REST 200000"); // a.bin was all there: only checked again
  });

  test("put -r: the same during an upload's checks", async () => {
    const fake = t.start({ feat: HASH_FEAT, dropOnFirstHash: true });
    await expectTreeUploaded(fake);
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(2);
  });

  test("with --quiet a tree job still names the file that failed and why (quiet keeps errors)", async () => {
    const fake = t.start({ files: tree(), feat: HASH_FEAT, refuseRetrOf: "/src/b.bin" });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--quiet"], { cwd: t.work });
    expect(r.code).toBe(8);
    const lines = r.stderr.trim().split("\n").filter((l) => l.trim());
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("b.bin: RETR /src/b.bin: Permission denied. (550)");
    expect(lines[1]).toContain("1 of 3 items failed");
  });
});

describe("a server that floods the control connection", () => {
  test("a 220- greeting that never ends: ls fails with one clear line instead of taking all memory", async () => {
    const fake = t.start({ flood: "greeting" });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`], { cwd: t.work, timeoutMs: 60_000 });
    expectOneErrorLine(r, "protocol error from server: a multi-line 220 reply longer than 8 MiB", 7);
  });

  test("120 replies without end: ls fails with one clear line instead of waiting forever", async () => {
    const fake = t.start({ flood: "preliminary" });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`], { cwd: t.work, timeoutMs: 60_000 });
    expectOneErrorLine(r, "protocol error from server: more than 32 preliminary (1yz) replies without a final one", 7);
  });

  test("replies to commands never sent: the client drops the connection instead of queueing them", async () => {
    const fake = t.start({ flood: "replies" });
    const c = await FtpClient.connect({ host: "127.0.0.1", port: fake.port, timeoutMs: 10_000 });
    // No command is sent: every reply after the greeting is one nobody asked for.
    await waitFor(() => fake.openConnections() === 0, 10_000, "the client to close the connection");
    await expect(c.send("NOOP")).rejects.toThrow("protocol error from server: more than 1000 replies to commands never sent");
  });
});

describe("a server that sends more than it reported", () => {
  test("get stops reading at the reported size with one clear line, and leaves no file behind", async () => {
    const data = payload();
    const fake = t.start({ feat: HASH_FEAT, files: new Map([["/grow.bin", data]]), endlessRetr: true });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/grow.bin`, join(t.work, "grow.bin")], { cwd: t.work, timeoutMs: 60_000 });
    expectOneErrorLine(r, `the server sent more than the ${data.length} bytes it reported for /grow.bin`, 7);
    expect(readdirSync(t.work).filter((n) => n.startsWith("grow.bin"))).toEqual([]);
  });

  test("a file that grew while it was sent (SIZE now larger) is a changed file: exit 9, what came kept aside, as ftpkit's server's digest path says", async () => {
    const data = payload();
    const fake = t.start({ feat: HASH_FEAT, files: new Map([["/grow.bin", data]]), growDuringRetr: Buffer.alloc(300_000, 0x61) });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/grow.bin`, join(t.work, "grow.bin")], { cwd: t.work, timeoutMs: 60_000 });
    expectOneErrorLine(r, `the remote file changed during the download (size ${data.length} → ${data.length + 300_000}); the `, 9);
    expect(r.stderr).toMatch(/the (\d+) bytes that came are kept in \S*grow\.bin\.ftpkit-corrupt: get it again/);
    const kept = readFileSync(join(t.work, "grow.bin.ftpkit-corrupt"));
    expect(r.stderr).toContain(`the ${kept.length} bytes that came`);
    expect(kept.equals(data.subarray(0, kept.length))).toBe(true);
    expect(readdirSync(t.work).filter((n) => n.startsWith("grow.bin")).sort()).toEqual(["grow.bin.ftpkit-corrupt"]);
    expect(existsSync(join(t.work, ".ftpkit/transfers")) && readdirSync(join(t.work, ".ftpkit/transfers")).length > 0).toBe(false); // nothing to resume
  });
});

describe("control characters a server chose", () => {
  const ESC = "\x1b";
  test("ls shows a name holding terminal escapes as visible \\xNN, and prints no control character", async () => {
    const evil = `evil${ESC}]0;owned\x07${ESC}[2J\x9b.txt`;
    const fake = t.start({ files: new Map([[`/${evil}`, Buffer.from("x")], ["/plain.txt", Buffer.from("y")]]) });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("evil\\x1b]0;owned\\x07\\x1b[2J\\x9b.txt");
    expect(r.stdout).toContain(" plain.txt");
    expect(r.stdout.replace(/\n/g, "")).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
  });

  test("a refusal whose text holds terminal escapes is printed escaped", async () => {
    const fake = t.start({ password: "right", refusal: `no${ESC}]0;owned\x07${ESC}[31m entry` });
    const r = await runFtpkit(["ls", `ftp://u:wrong@127.0.0.1:${fake.port}/`], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).toBe(6);
    expect(r.stderr).toContain("no\\x1b]0;owned\\x07\\x1b[31m entry");
    expect(r.stderr).not.toContain(ESC + "]0;owned");
  });
});

describe("active mode", () => {
  test("a data connection from another address than the server's is refused; the server's own is used", async () => {
    const data = payload();
    // Someone else reaches the client's EPRT port first, with bytes of the right length.
    const fake = t.start({ feat: HASH_FEAT, files: new Map([["/a.bin", data]]), strangerFirst: Buffer.alloc(data.length, 0x41) });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/a.bin`, join(t.work, "a.bin"), "--active"], { cwd: t.work, timeoutMs: 60_000 });
    expect(r.stderr).toContain("(verified by HASH)");
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "a.bin")))).toBe(digest(data));
    expect(fake.commands.some((c) => c.startsWith("EPRT |1|127.0.0.1|"))).toBe(true);
  });

  test("a 421 to EPRT (the server's active connection timed out; it closes) is a dropped session: reconnected, EPRT again, never PORT on the closing one", async () => {
    const data = payload();
    const fake = t.start({ feat: HASH_FEAT, files: new Map([["/a.bin", data]]), eprt421Once: true });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/a.bin`, join(t.work, "a.bin"), "--active", "--retries", "1"], { cwd: t.work, timeoutMs: 60_000 });
    expect(r.stderr).toMatch(/EPRT: Active data channel timed out\. \(421\); reconnecting/);
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "a.bin")))).toBe(digest(data));
    expect(fake.commands.filter((c) => c.startsWith("PORT"))).toEqual([]);
  });
});

describe("a server that lists without end", () => {
  test("ls gives up past 256 MiB of listing with one clear line, instead of taking all memory", async () => {
    // Lines of ~300 bytes: the byte limit comes before the line limit.
    const fake = t.start({ feat: ["SIZE"], endlessListing: true, endlessName: "n".repeat(260) });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`], { cwd: t.work, timeoutMs: 60_000 });
    expectOneErrorLine(r, "the listing of / is larger than 256 MiB; gave up on it", 1);
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });

  test("ls gives up on a listing line past 1 MiB without end, with one clear line, having read a few MiB at most", async () => {
    let sent = 0;
    const srv = startScriptedServer({
      on: {
        LIST: async (c) => {
          const d = await c.data();
          c.reply(150, "Here comes the listing");
          const chunk = Buffer.alloc(1 << 20, 0x61); // no line end, ever
          while (sent < 300 << 20 && (await d.send(chunk))) sent += chunk.length;
        },
      },
    });
    try {
      const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${srv.port}/`, "--retries", "0"], { cwd: t.work, timeoutMs: 60_000 });
      // Before: the line was held until the 256 MiB limit ("is larger than 256 MiB"), ~730 MB of memory.
      expectOneErrorLine(r, "the listing of / has a line longer than 1 MiB (no line end); gave up on it", 7);
      expect(sent).toBeLessThan(32 << 20); // what was sent into the socket buffers before the client closed
    } finally {
      srv.stop();
    }
  });

  test("ls gives up past 2,000,000 listed entries with one clear line (short lines would have taken ~4 GB parsed)", async () => {
    const fake = t.start({ feat: ["SIZE"], endlessListing: true, endlessName: "a" });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`], { cwd: t.work, timeoutMs: 60_000 });
    expectOneErrorLine(r, "the listing of / has more than 2,000,000 entries; gave up on it", 1);
  });
});

describe("SIZE answered 450 (a server whose store is away for a moment)", () => {
  test("is not taken for a server without sizes: with --retries 0 the get fails with the server's refusal (exit 8), nothing said of missing sizes", async () => {
    const body = Buffer.from("x".repeat(1000));
    const s = startScriptedServer({
      feat: ["MDTM", "SIZE", "REST STREAM"],
      on: {
        SIZE: (c) => c.reply(450, "File unavailable, try again later"),
        MDTM: (c) => c.reply(213, "20260101120000"),
        RETR: (c) => sendsFile(body)(c),
      },
    });
    const work = tempDir();
    try {
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${s.port}/f.bin`, "--retries", "0"], { cwd: work });
      // Before: "not verified (no size either)", exit 0, as if the server had no SIZE.
      expect(r.code).toBe(8);
      expect(r.stderr).toContain("SIZE /f.bin: File unavailable, try again later (450)");
      expect(r.stderr).not.toMatch(/no size|does not report sizes/);
    } finally {
      s.stop();
      removeDir(work);
    }
  });
});

describe("SIZE refused for a file the server serves (some embedded servers, Pure-FTPd's renamed names)", () => {
  test("get asks RETR anyway when MDTM knows the file (curl, wget and lftp do), and the file arrives whole", async () => {
    const body = Buffer.from("served without a size\n");
    const s = startScriptedServer({
      feat: ["MDTM", "SIZE", "REST STREAM"],
      on: {
        SIZE: (c) => c.reply(550, "Could not get file size."),
        MDTM: (c) => c.reply(213, "20260101120000"),
        RETR: (c) => sendsFile(body)(c),
      },
    });
    const work = tempDir();
    try {
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${s.port}/f.txt`], { cwd: work });
      expect(r.code).toBe(0);
      expect(readFileSync(join(work, "f.txt"))).toEqual(body);
      expect(s.commands.some((c) => c.startsWith("RETR"))).toBe(true);
    } finally {
      s.stop();
      removeDir(work);
    }
  });
});

describe("a login answered out of step (a second 220 where USER's reply belongs)", () => {
  test("is the server's protocol error (exit 7), not a refused login (exit 6, which scripts never retry)", async () => {
    const s = startScriptedServer({ on: { USER: (c) => c.reply(220, "hello again") } });
    const work = tempDir();
    try {
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${s.port}/f.bin`, "--retries", "0"], { cwd: work });
      expectOneErrorLine(r, "the server answered USER with hello again (220), which is no reply to it (out of step)", 7);
    } finally {
      s.stop();
      removeDir(work);
    }
  });

  test("SIZE answered with another command's 226: the protocol error (exit 7), not a server without sizes (the file was then left unverified, in silence)", async () => {
    const s = startScriptedServer({ feat: ["SIZE"], on: { SIZE: (c) => c.reply(226, "Transfer complete"), RETR: sendsFile(Buffer.from("abc")) } });
    const work = tempDir();
    try {
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${s.port}/f.bin`, "--retries", "0"], { cwd: work });
      expectOneErrorLine(r, "the server answered SIZE with Transfer complete (226), which is no reply to it (out of step)", 7);
      expect(existsSync(join(work, "f.bin"))).toBe(false);
    } finally {
      s.stop();
      removeDir(work);
    }
  });

  test("EPSV answered with another command's 213: the protocol error (exit 7), not EPSV refused and PASV tried", async () => {
    const s = startScriptedServer({ feat: ["SIZE"], on: { SIZE: (c) => c.reply(213, "1000"), EPSV: (c) => c.reply(213, "20240101000000") } });
    const work = tempDir();
    try {
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${s.port}/f.bin`, "--retries", "0"], { cwd: work });
      expectOneErrorLine(r, "the server answered EPSV with 20240101000000 (213), which is no reply to it (out of step)", 7);
      expect(s.commands).not.toContain("PASV");
    } finally {
      s.stop();
      removeDir(work);
    }
  });
});
