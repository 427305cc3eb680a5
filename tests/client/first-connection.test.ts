// A job's first connection is bounded by --stall-timeout until its session is settled, as its
// reconnections are: a server frozen before its greeting or during the login is given up in seconds
// by every client command, with one line naming the server and what it did not answer. A failure a
// moment may cure (a timeout, a connection dropped before the login was done, a full server) is
// tried again within --retries, one line per retry; a wrong port, host, certificate or password fails
// at once.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TCPSocketListener } from "bun";
import { randomBytes } from "node:crypto";
import { digest, runFtpkit } from "../helpers/peers.ts";
import { startFakeServer, useFakeServerWork } from "./fake-server.ts";
import type { FakeServer } from "./fake-server-options.ts";
import { ClientError, ConnectFailure, NoClearGreeting, tooManyClients, type ConnectFailureReason } from "../../client/errors.ts";
import { transientOpenFailure } from "../../client/retries.ts";

const t = useFakeServerWork();

let silent: TCPSocketListener<undefined> | null = null;
let frozenFake: FakeServer | null = null;
afterEach(() => {
  silent?.stop(true);
  silent = null;
  frozenFake?.stop();
  frozenFake = null;
});

/** A server that accepts connections and never sends a byte (stopped with SIGSTOP, or hung). */
function silentServer(port = 0): number {
  silent = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
  return silent.port;
}

/**
 * The server a command meets: "no greeting" is silentServer, "silent after USER" a fake that greets
 * and then answers nothing. `resume` first leaves a pending download of a server that is then gone,
 * and meets the frozen one on the same port.
 */
async function frozenServerFor(command: string, how: "no greeting" | "silent after USER", work: string): Promise<number> {
  let port = 0;
  if (command === "resume") {
    const dropped = t.start({ files: new Map([["/f.bin", randomBytes(100_000)]]), feat: ["SIZE", "REST STREAM"], dropRetrAfter: 10_000, goneAfterDrop: true });
    port = dropped.port;
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${port}/f.bin`, "--retries", "0"], { cwd: work });
    expect(r.code).toBe(4);
    expect(existsSync(join(work, ".ftpkit"))).toBe(true);
    dropped.stop();
  }
  if (how === "no greeting") return silentServer(port);
  frozenFake = startFakeServer({ port, mutedAfter: 0 });
  return frozenFake.port;
}

const COMMANDS: Record<string, (url: string) => string[]> = {
  get: (url) => ["get", `${url}/f.bin`],
  put: (url) => ["put", "local.bin", `${url}/f.bin`],
  ls: (url) => ["ls", `${url}/`],
  sync: (url) => ["sync", `${url}/`, "mirror"],
  resume: () => ["resume"],
};

function retryLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /retrying \(attempt \d+ of \d+\)/.test(l));
}

describe("a server frozen on the first connection", () => {
  for (const [how, awaited] of [["no greeting", "greeting"], ["silent after USER", "reply to USER"]] as const) {
    for (const [command, args] of Object.entries(COMMANDS)) {
      test(`${command} --stall-timeout 0.5 --retries 1 against a server with ${how}: tried twice, exit 4 in seconds, naming the server and the ${awaited}`, async () => {
        writeFileSync(join(t.work, "local.bin"), "local");
        const port = await frozenServerFor(command, how, t.work);
        const started = performance.now();
        const r = await runFtpkit([...args(`ftp://u:p@127.0.0.1:${port}`), "--stall-timeout", "0.5", "--retries", "1"], { cwd: t.work, timeoutMs: 15_000 });
        // A greeting that never comes is what an implicit TLS port shows too: the line says so.
        const hint = awaited === "greeting" ? ` (if ${port} is an implicit TLS port, use an ftps:// URL)` : "";
        const timedOut = `timed out waiting for the server's ${awaited} (127.0.0.1:${port}): no reply in 0.5 s (--stall-timeout)${hint}`;
        expect(retryLines(r.stderr)).toEqual([expect.stringContaining(`${timedOut}; retrying (attempt 1 of 1)`)]);
        expect(r.stderr.trim().split("\n").at(-1)).toContain(`${timedOut}; gave up after 2 attempts (--retries 1)`);
        expect(r.code).toBe(4);
        expect(performance.now() - started).toBeLessThan(8_000);
        if (command === "sync") expect(readdirSync(t.work)).not.toContain("mirror");
      });
    }
  }
});

describe("--stall-timeout and a refused password answered late on purpose", () => {
  test("a 530 that comes 1.5 s after PASS is a refused login (6) under --stall-timeout 1, not a network failure (4)", async () => {
    const fake = t.start({ files: new Map([["/a.txt", Buffer.from("a")]]), password: "right", refusalDelayMs: 1_500 });
    for (const args of [["ls", `ftp://u:wrong@127.0.0.1:${fake.port}/`], ["get", `ftp://u:wrong@127.0.0.1:${fake.port}/a.txt`]]) {
      const r = await runFtpkit([...args, "--stall-timeout", "1"], { cwd: t.work, timeoutMs: 15_000 });
      expect(r.stderr).toContain("Login incorrect.");
      expect(retryLines(r.stderr)).toEqual([]); // a refused password is not tried again
      expect(r.code).toBe(6);
    }
  });
});

describe("--stall-timeout and a slow greeting", () => {
  test("a greeting 1.5 s late fails under --stall-timeout 1 and is waited for under --stall-timeout 0 (never: the usual bounds)", async () => {
    const fake = t.start({ files: new Map([["/a.txt", Buffer.from("a")]]), greetingDelayMs: 1_500 });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/`;
    const short = await runFtpkit(["ls", url, "--names", "--stall-timeout", "1", "--retries", "0"], { cwd: t.work, timeoutMs: 15_000 });
    expect(short.stderr).toContain(`timed out waiting for the server's greeting (127.0.0.1:${fake.port}): no reply in 1 s (--stall-timeout)`);
    expect(short.code).toBe(4);
    const never = await runFtpkit(["ls", url, "--names", "--stall-timeout", "0"], { cwd: t.work, timeoutMs: 15_000 });
    expect(never.stderr).toBe("");
    expect(never.code).toBe(0);
    expect(never.stdout).toBe("a.txt\n");
  });
});

describe("a transient failure of the first connection is tried again", () => {
  const DATA = randomBytes(50_000);

  test("get: a server that accepts and never greets the first time (a frozen server, a load balancer with no backend yet), then works", async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), frozenConnections: [1] });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--stall-timeout", "0.5"], { cwd: t.work, timeoutMs: 15_000 });
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(DATA));
    expect(retryLines(r.stderr)).toEqual([expect.stringContaining(`timed out waiting for the server's greeting (127.0.0.1:${fake.port}): no reply in 0.5 s (--stall-timeout) (if ${fake.port} is an implicit TLS port, use an ftps:// URL); retrying (attempt 1 of 3)`)]);
    expect(fake.connections).toBe(2);
  });

  for (const [where, hangUp, command] of [
    ["closes it right after accepting it", { at: "accept", how: "close" }, "get"],
    ["drops it at once right after accepting it", { at: "accept", how: "terminate" }, "ls"],
    ["drops it in answer to USER", { at: "USER", how: "terminate" }, "put"],
  ] as const) {
    test(`${command}: a server that ${where} the first time, then works: one line for the retry`, async () => {
      const fake = t.start({ files: new Map([["/f.bin", DATA]]), hangUp: { connections: [1], ...hangUp } });
      writeFileSync(join(t.work, "up.bin"), DATA);
      const url = `ftp://u:p@127.0.0.1:${fake.port}`;
      const args = command === "get" ? ["get", `${url}/f.bin`] : command === "put" ? ["put", "up.bin", `${url}/up.bin`] : ["ls", `${url}/`, "--names"];
      const r = await runFtpkit(args, { cwd: t.work, timeoutMs: 15_000 });
      expect(r.code).toBe(0);
      if (command === "get") expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(DATA));
      if (command === "put") expect(digest(fake.files.get("/up.bin")!)).toBe(digest(DATA));
      if (command === "ls") expect(r.stdout).toBe("f.bin\n");
      // A connection ended at once may be seen as a reset of the connect itself, before the client had it.
      const dropped = hangUp.how === "close" ? /the server closed the control connection/ : /the server closed the control connection|cannot open control connection to 127\.0\.0\.1:\d+: .*ECONNRESET\)?/;
      expect(retryLines(r.stderr)).toEqual([expect.stringMatching(new RegExp(`(${dropped.source}); retrying \\(attempt 1 of 3\\)$`))]);
      expect(fake.connections).toBe(2);
    });
  }

  test("without --tls, a port that closes without a greeting after a wait (an implicit TLS port's handshake timeout) is retried, each line suggesting ftps://", async () => {
    silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void setTimeout(() => s.end(), 1_100), data() {} } });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${silent.port}/`, "--retries", "1"], { cwd: t.work, timeoutMs: 15_000 });
    expect(r.code).toBe(4);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toContain(`the server closed the control connection before its greeting (if ${silent.port} is an implicit TLS port, use an ftps:// URL)`);
  });

  test("--tls to a port that closes without a clear-text greeting (an implicit TLS port) fails at once with the one line that suggests ftps://", async () => {
    silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void setTimeout(() => s.end(), 100), data() {} } });
    const r = await runFtpkit(["ls", "--tls", `ftp://u:p@127.0.0.1:${silent.port}/`, "--retries", "3"], { cwd: t.work, timeoutMs: 15_000 });
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringContaining(`no greeting from 127.0.0.1:${silent.port} in clear text (it closed the connection without one): if it is an implicit TLS port, use an ftps:// URL instead of --tls`)]);
  });

  test("a refused connection (a wrong port) fails at once with its one line and exit 4, --retries 3 notwithstanding", async () => {
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${port}/f.bin`, "--retries", "3"], { cwd: t.work, timeoutMs: 15_000 });
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`cannot open control connection to 127\\.0\\.0\\.1:${port}: connection refused$`))]);
  });
});

describe("a reconnection judges failures as the first connection does", () => {
  test("get: dropped mid-file, the reconnection meets ProFTPD's 'maximum number of clients' 530, tries again and finishes the file", async () => {
    const data = randomBytes(100_000);
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "REST STREAM"], dropRetrAfter: 30_000, busy: { at: "password", connections: [2], reply: "530 Sorry, the maximum number of clients (1) from your host are already connected." } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`], { cwd: t.work, timeoutMs: 15_000 });
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
    expect(r.stderr).toContain("reconnecting (attempt 1 of 3)");
    expect(retryLines(r.stderr)).toEqual([expect.stringContaining("already connected. (530); retrying (attempt 2 of 3)")]);
    expect(fake.connections).toBe(3);
  });

  // What each attempt's failure means, for the first connection and for a reconnection (the one predicate both use).
  const connect = (reason: ConnectFailureReason) => new ConnectFailure(`cannot open control connection: ${reason}`, reason);
  const cases: [string, unknown, boolean, boolean][] = [
    ["a connect that timed out", connect("timed out"), true, true],
    ["a connection reset while it opened", connect("reset"), true, true],
    ["a greeting or reply that timed out", new ClientError("timed out waiting for the server's greeting", { retryable: true }), true, true],
    ["the server closed the connection before the login was done", new ClientError("the server closed the control connection", { retryable: true }), true, true],
    ["a raw ECONNRESET", Object.assign(new Error("reset"), { code: "ECONNRESET", syscall: "read" }), true, true],
    ["a 421 at the greeting", new ClientError("server refused the connection: full (421)", { code: 421, retryable: true }), true, true],
    ["a refused connection: a wrong port at first, a restarting server later", connect("refused"), false, true],
    ["no clear-text greeting under --tls: an implicit TLS port at first", new NoClearGreeting("no greeting from h:21 in clear text (it stayed silent)"), false, true],
    ["an unknown host", connect("unknown host"), false, false],
    ["a certificate not trusted", new ClientError("TLS: certificate for h is not trusted (self-signed)", { kind: "tls" }), false, false],
    ["a refused password", new ClientError('login failed for user "u": Login incorrect. (530)', { code: 530, kind: "auth" }), false, false],
  ];
  for (const [what, err, first, again] of cases) {
    test(`${what}: ${first ? "tried again" : "final"} on the first connection, ${again ? "tried again" : "final"} on a reconnection`, () => {
      expect([transientOpenFailure(err, false), transientOpenFailure(err, true)]).toEqual([first, again]);
    });
  }
});

describe("ProFTPD's full-server 530, matched narrowly", () => {
  const reply = (code: number, text: string) => ({ code, lines: [text] });
  for (const [text, full] of [
    ["Sorry, the maximum number of clients (5) from your host are already connected.", true],
    ["Sorry, the maximum number of allowed clients (20) are already connected.", true],
    ["Sorry, the maximum number of clients (3) for this user are already connected.", true],
    ["Sorry, the maximum number of users from your host are already connected.", true],
    ["Login incorrect.", false],
    ["Sorry, the maximum number of login attempts was exceeded.", false],
    ["User u: maximum number of clients is a setting; access denied.", false],
  ] as const) {
    test(`530 ${text} → ${full ? "a full server" : "a refusal"}`, () => {
      expect(tooManyClients(reply(530, text))).toBe(full);
    });
  }
  test("the same text with another code is not ProFTPD's 530 (a 421 is full anyway, a 550 is not)", () => {
    expect(tooManyClients(reply(550, "Sorry, the maximum number of clients (5) from your host are already connected."))).toBe(false);
  });
});

// Pure-FTPd's own 421 for it is in pure-ftpd.test.ts.
describe("a login refused for want of TLS fails at once and says to use --tls", () => {
  const refusals = [
    { server: "vsftpd (force_local_logins_ssl)", reply: "530 Non-anonymous sessions must use encryption." },
    { server: "ProFTPD (TLSRequired), pyftpdlib", reply: "550 SSL/TLS required on the control channel" },
    { server: "IIS (RFC 4217's 534)", reply: "534 Policy requires SSL." },
  ];
  for (const { server, reply } of refusals) {
    test(`${server}: "${reply}" says to use --tls`, async () => {
      const fake = t.start({ busy: { at: "login", times: 10, reply } });
      const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`], { cwd: t.work });
      expect(r.stderr).toContain("the server wants an encrypted session: use --tls");
      expect(r.code).toBe(6);
      expect(fake.connections).toBe(1);
    });
  }
  test("a full server's 421 is still retried, without the --tls hint", async () => {
    const fake = t.start({ busy: { at: "login", times: 1 } });
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${fake.port}/`, "--retries", "1"], { cwd: t.work });
    expect(r.stderr).not.toContain("--tls");
    expect(r.code).toBe(0);
    expect(fake.connections).toBe(2);
  });
});
