// $FTPKIT_PASSWORD is the password of the account a URL names: an anonymous login never sends it.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, FTPKIT, removeDir, runFtpkit, tempDir } from "../helpers/peers.ts";

let work: string;
beforeEach(() => {
  work = tempDir("ftpkit-anon-pass-");
});
afterEach(() => removeDir(work));

/** A server that greets, takes any USER, records each PASS line as sent, and refuses it (530). */
function passRecorder() {
  const passes: string[] = [];
  const server = Bun.listen<{ buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { buf: "" };
        s.write("220 ready\r\n");
      },
      data(s, chunk) {
        s.data.buf += chunk.toString("latin1");
        let i: number;
        while ((i = s.data.buf.indexOf("\r\n")) >= 0) {
          const line = s.data.buf.slice(0, i);
          s.data.buf = s.data.buf.slice(i + 2);
          if (line.startsWith("USER ")) s.write("331 password please\r\n");
          else if (line.startsWith("PASS")) {
            passes.push(line);
            s.write("530 Login incorrect\r\n");
          } else s.write("502 no\r\n");
        }
      },
    },
  });
  return { port: server.port, passes, stop: () => server.stop(true) };
}

test.each([
  ["no user in the URL", (port: number) => `ftp://127.0.0.1:${port}/pub/`],
  ["the user anonymous", (port: number) => `ftp://anonymous@127.0.0.1:${port}/pub/`],
  ["the user ANONYMOUS, which servers take in any case", (port: number) => `ftp://ANONYMOUS@127.0.0.1:${port}/pub/`],
  ["the user Ftp", (port: number) => `ftp://Ftp@127.0.0.1:${port}/pub/`],
])("an anonymous login (%s) sends anonymous@, never $FTPKIT_PASSWORD", async (_label, url) => {
  const srv = passRecorder();
  try {
    const r = await runFtpkit(["ls", url(srv.port), "--retries", "0"], { cwd: work, env: { FTPKIT_PASSWORD: "SeCrEt-of-alice", HOME: work } });
    expect(r.code).toBe(6);
    expect(srv.passes).toEqual(["PASS anonymous@"]);
  } finally {
    srv.stop();
  }
});

test("a named user still logs in with $FTPKIT_PASSWORD", async () => {
  const srv = passRecorder();
  try {
    const r = await runFtpkit(["ls", `ftp://alice@127.0.0.1:${srv.port}/pub/`, "--retries", "0"], { cwd: work, env: { FTPKIT_PASSWORD: "SeCrEt-of-alice", HOME: work } });
    expect(r.code).toBe(6);
    expect(srv.passes).toEqual(["PASS SeCrEt-of-alice"]);
  } finally {
    srv.stop();
  }
});

/** `ftpkit ARGS` in a session of its own (setsid): no controlling terminal to ask a password on. */
async function withoutTerminal(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn([Bun.which("setsid") ?? "/usr/bin/setsid", "-w", "bun", FTPKIT, ...args], { cwd: work, env: { ...cleanEnv(), NO_COLOR: "1", ...env }, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stderr };
}

// A secret CI left undefined expands to "": sent, it was a refused login ("login failed", one more
// toward a ban), not the missing password it is.
test("an empty $FTPKIT_PASSWORD is not set: no PASS is sent, the usual no-password line, exit 6", async () => {
  const srv = passRecorder();
  try {
    const r = await withoutTerminal(["ls", `ftp://alice@127.0.0.1:${srv.port}/pub/`, "--retries", "0"], { FTPKIT_PASSWORD: "", HOME: work });
    expect(r.stderr).toBe(`[error] no password for alice@127.0.0.1 (put it in the URL, $FTPKIT_PASSWORD or ~/.netrc)\n`);
    expect(r.code).toBe(6);
    // Before: "PASS " sent, and "login failed for user "alice": Login incorrect (530)".
    expect(srv.passes).toEqual([]);
  } finally {
    srv.stop();
  }
});

test("an empty $FTPKIT_PASSWORD gives way to ~/.netrc; an empty password in the URL is still sent", async () => {
  const srv = passRecorder();
  try {
    writeFileSync(join(work, ".netrc"), "machine 127.0.0.1 login alice password from-netrc\n", { mode: 0o600 });
    const fromNetrc = await runFtpkit(["ls", `ftp://alice@127.0.0.1:${srv.port}/pub/`, "--retries", "0"], { cwd: work, env: { FTPKIT_PASSWORD: "", HOME: work } });
    expect(fromNetrc.code).toBe(6);
    const empty = await runFtpkit(["ls", `ftp://alice:@127.0.0.1:${srv.port}/pub/`, "--retries", "0"], { cwd: work, env: { FTPKIT_PASSWORD: "", HOME: work } });
    expect(empty.code).toBe(6);
    expect(srv.passes).toEqual(["PASS from-netrc", "PASS"]);
  } finally {
    srv.stop();
  }
});

test.each([
  ["a login with its password (that password is sent)", "machine 127.0.0.1 login carol password netrc-pw-of-carol\n", ["PASS netrc-pw-of-carol"]],
  ["a login without a password (nothing is sent: no terminal to ask)", "machine 127.0.0.1 login carol\n", []],
])("a URL naming no user, for which ~/.netrc gives %s, never sends $FTPKIT_PASSWORD", async (_label, netrc, sent) => {
  const srv = passRecorder();
  try {
    writeFileSync(join(work, ".netrc"), netrc);
    chmodSync(join(work, ".netrc"), 0o600);
    const r = await runFtpkit(["ls", `ftp://127.0.0.1:${srv.port}/pub/`, "--retries", "0"], { cwd: work, env: { FTPKIT_PASSWORD: "SeCrEt-of-alice", HOME: work } });
    expect(r.code).toBe(6);
    expect(srv.passes).toEqual(sent);
  } finally {
    srv.stop();
  }
});
