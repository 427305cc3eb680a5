// $FTPKIT_PASSWORD is the password of the account a URL names: an anonymous login never sends it.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, tempDir } from "../helpers/peers.ts";

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
