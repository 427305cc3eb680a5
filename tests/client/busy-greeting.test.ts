// A single get, put or ls meeting a server at its connection limit (421 at the greeting, as vsftpd's
// max_clients and pyftpdlib answer, or at login; ProFTPD's 530 "maximum number of clients"): it backs
// off and tries again within --retries, one line per retry, and a server that stays full ends it with
// one line quoting the server.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, runFtpkit, spawnFtpkit } from "../helpers/peers.ts";
import { proftpdSpeaksFrench, startProftpd } from "../helpers/system-ftpd.ts";
import { Wire } from "../helpers/wire.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { get } from "../../cli/api.ts";

const t = useFakeServerWork();
const DATA = Buffer.from("the file a busy server keeps\n".repeat(500));
const GREETING_421 = "There are too many connected users, please try later. (421)";

function retryLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /retrying \(attempt \d+ of \d+\)/.test(l));
}

describe("421 at the greeting or at login, on a single command's connection", () => {
  test("get: two busy greetings, then the file arrives whole; one line per retry quotes the server", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), busy: { at: "greeting", times: 2 } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "3"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(DATA));
    const lines = retryLines(r.stderr);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(`${GREETING_421}; retrying (attempt 1 of 3)`);
    expect(lines[1]).toContain("retrying (attempt 2 of 3)");
    expect(fake.connections).toBe(3);
  });

  test("put: a 421 in answer to USER is tried again too, and the server stores the whole file", async () => {
    const fake = t.start({ busy: { at: "login", times: 1 } });
    writeFileSync(join(t.work, "up.bin"), DATA);
    const r = await runFtpkit(["put", "up.bin", `ftp://u:p@127.0.0.1:${fake.port}/up.bin`, "--retries", "2"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(digest(fake.files.get("/up.bin")!)).toBe(digest(DATA));
    const lines = retryLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("Too many users logged in, please try later. (421); retrying (attempt 1 of 2)");
  });

  test("ls: a busy greeting, then the listing", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), busy: { at: "greeting", times: 1 } });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`, "--names"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("f.bin");
    expect(retryLines(r.stderr)).toHaveLength(1);
  });

  test("get -: a busy greeting, then the bytes on standard output", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), busy: { at: "greeting", times: 1 } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "-"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(digest(r.out)).toBe(digest(DATA));
    expect(retryLines(r.stderr)).toHaveLength(1);
  });

  test("a server that stays full: exit 8 after --retries, the last line quotes the server and counts the attempts", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), busy: { at: "greeting", times: 99 } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "2"], { cwd: t.work });
    expect(r.code).toBe(8);
    expect(retryLines(r.stderr)).toHaveLength(2);
    const last = r.stderr.trim().split("\n").at(-1)!;
    expect(last).toContain(`${GREETING_421}; gave up after 3 attempts (--retries 2)`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(fake.connections).toBe(3);
  });

  test("the package API's get against a server that stays full counts the attempts with its own option (retries: 2), not --retries", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), busy: { at: "greeting", times: 99 } });
    const err = await get(`ftp://u:p@127.0.0.1:${fake.port}/f.bin`, join(t.work, "f.bin"), { retries: 2, backoffMs: 1 }).then(() => null, (e: unknown) => e as Error);
    expect(err?.message).toContain(`${GREETING_421}; gave up after 3 attempts (retries: 2)`);
  });

  test("--retries 0: one attempt, the server's refusal as it came", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), busy: { at: "greeting", times: 99 } });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`, "--retries", "0"], { cwd: t.work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain(`server refused the connection: ${GREETING_421}`);
    expect(retryLines(r.stderr)).toHaveLength(0);
    expect(fake.connections).toBe(1);
  });
});

describe("ProFTPD's 530 'maximum number of clients' in answer to PASS: a full server, not a wrong password", () => {
  const FULL_HOST = "Sorry, the maximum number of clients (2) from your host are already connected.";
  const FULL_ALL = "Sorry, the maximum number of allowed clients (10) are already connected.";

  test("get: ProFTPD's 530 'maximum number of clients' in answer to PASS is a full server, tried again like a 421, and the file arrives", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), busy: { at: "password", times: 2, reply: `530 ${FULL_HOST}` } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`], { cwd: t.work, timeoutMs: 15_000 });
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(DATA));
    const lines = retryLines(r.stderr);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(`${FULL_HOST} (530); retrying (attempt 1 of 3)`);
    expect(lines[1]).toContain("retrying (attempt 2 of 3)");
    expect(fake.connections).toBe(3);
  });

  test("a ProFTPD that stays full: exit 8 (the server's refusal, not a wrong password's 6), the last line counts the attempts", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), busy: { at: "password", times: 99, reply: `530 ${FULL_ALL}` } });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`, "--retries", "1"], { cwd: t.work, timeoutMs: 15_000 });
    expect(r.code).toBe(8);
    expect(retryLines(r.stderr)).toHaveLength(1);
    expect(r.stderr.trim().split("\n").at(-1)).toContain(`${FULL_ALL} (530); gave up after 2 attempts (--retries 1)`);
    expect(fake.connections).toBe(2);
  });

  test("get -r: extra connections ProFTPD refuses as full are tried once, said in one line, and the job goes on with fewer and copies every file", async () => {
    const files = new Map([0, 1, 2, 3, 4, 5].map((i) => [`/d/f${i}.bin`, Buffer.from(`file ${i}\n`.repeat(100))] as [string, Buffer]));
    const fake = t.start({ files, busy: { at: "password", connections: [2, 3, 4], reply: `530 ${FULL_HOST}` } });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/d`, "out", "--parallel", "4"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    // One line for the three refusals, as for 421s: the server is full, nothing failed.
    expect(r.stderr.split("\n").filter((l) => l.includes("continuing with fewer"))).toEqual([expect.stringContaining("the server refused more connections (530); continuing with fewer")]);
    expect(retryLines(r.stderr)).toEqual([]);
    for (const [path, bytes] of files) expect(digest(readFileSync(join(t.work, "out", path.slice("/d/".length))))).toBe(digest(bytes));
  });
});

describe("a real ProFTPD answering in French (LangDefault fr_FR), full (MaxClientsPerHost 1)", () => {
  // Its "full" 530 is not translated (client/errors.ts, tooManyClients): still tried again, while its
  // refused password, translated, is still a refusal (exit 6, never retried).
  test.skipIf(!proftpdSpeaksFrench())("ls waits out the other session (530, tried again) and lists; a wrong password is refused at once in French", async () => {
    const pro = await startProftpd({ maxPerIp: 1, lang: "fr_FR" });
    try {
      writeFileSync(join(pro.home, "seen.txt"), "x");
      const other = await Wire.connect(pro.port);
      await other.read();
      await other.cmd("USER user");
      expect((await other.cmd("PASS secret")).code).toBe(230);
      const proc = spawnFtpkit(["ls", pro.url("/"), "--retries", "3"], { cwd: t.work });
      const out = new Response(proc.stdout).text();
      // The other session goes once ftpkit said it was refused and will try again.
      const reader = proc.stderr.getReader();
      const dec = new TextDecoder();
      let err = "";
      let released = false;
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        err += dec.decode(r.value, { stream: true });
        if (!released && /retrying/.test(err)) {
          released = true;
          other.close();
        }
      }
      const code = await proc.exited;
      expect(retryLines(err)[0]).toContain("the maximum number of clients (1) from your host are already connected. (530); retrying (attempt 1 of 3)");
      expect(code).toBe(0);
      expect(await out).toContain("seen.txt");
      const wrong = await runFtpkit(["ls", pro.url("/").replace(":secret@", ":wrong@"), "--retries", "3"], { cwd: t.work, timeoutMs: 30_000 });
      expect(wrong.code).toBe(6);
      expect(retryLines(wrong.stderr)).toEqual([]);
      expect(wrong.stderr).toContain("Authentification incorrecte. (530)");
    } finally {
      await pro.stop();
    }
  }, 30_000);
});
