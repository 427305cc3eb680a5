// FTPS from the command line: `ftpkit serve --tls-*` start-up errors and flags, `ftpkit cert`, certificate hot swap.
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { CERT, KEY, OTHER_CERT, OTHER_KEY, run, serverFingerprint, tempDir, tlsOptions } from "./helpers.ts";

const FTPKIT = resolve(import.meta.dir, "../../cli/ftpkit.ts");
let srv: TestServer | null = null;
const dirs: string[] = [];
const pids: number[] = [];

afterEach(async () => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  await srv?.stop();
  srv = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

function env(): Record<string, string> {
  const e = { ...process.env, NO_COLOR: "1" } as Record<string, string>;
  delete e.NODE_ENV; // consola hides info lines under test
  delete e.TEST;
  return e;
}

async function serveFails(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const d = dir();
  const proc = Bun.spawn(["bun", FTPKIT, "serve", "--host", "127.0.0.1", "--port", "0", "--users", join(d, "users.ini"), ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: env(),
  });
  pids.push(proc.pid);
  const timer = setTimeout(() => proc.kill(9), 10_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  clearTimeout(timer);
  return { code: proc.exitCode, stderr: (err + out).trim() };
}

describe("ftpkit serve start-up errors", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["a missing certificate", ["--tls-cert", "/nonexistent/cert.pem", "--tls-key", KEY], /--tls-cert \/nonexistent\/cert\.pem: not found/],
    ["a missing key", ["--tls-cert", CERT, "--tls-key", "/nonexistent/key.pem"], /--tls-key \/nonexistent\/key\.pem: not found/],
    ["a key that does not match", ["--tls-cert", CERT, "--tls-key", OTHER_KEY], /does not match the certificate/],
    ["a file that is not PEM", ["--tls-cert", FTPKIT, "--tls-key", KEY], /no PEM certificate/],
    ["--tls-cert without --tls-key", ["--tls-cert", CERT], /--tls-cert and --tls-key go together/],
    ["--require-tls without a certificate", ["--require-tls"], /--require-tls needs --tls-cert and --tls-key/],
    ["a bad --tls-session-reuse", ["--tls-cert", CERT, "--tls-key", KEY, "--tls-session-reuse", "always"], /required or preferred/],
    ["a bad --tls-upload-eof", ["--tls-cert", CERT, "--tls-key", KEY, "--tls-upload-eof", "maybe"], /strict or lenient/],
    ["--tls-upload-eof without a certificate", ["--tls-upload-eof", "lenient"], /needs --tls-cert/],
    // Refused before anything listens (it said "port already in use" once the control port did).
    ["--implicit-tls-port equal to --port", ["--port", "2990", "--tls-cert", CERT, "--tls-key", KEY, "--implicit-tls-port", "2990"], /--implicit-tls-port must differ from the control port \(2990\)/],
  ];
  for (const [what, args, message] of cases) {
    test(`${what}: one clear line and a non-zero exit`, async () => {
      const r = await serveFails(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split("\n").filter((l) => l.trim()).length).toBe(1);
      expect(r.stderr).not.toContain("    at ");
    });
  }
});

// A byte order mark saved by a Windows editor before the first PEM line: refused as "the key does not
// match the certificate" (the parsers saw no certificate); openssl and nginx skip it.
test("a certificate and key saved with a byte order mark load as without it", async () => {
  const d = dir();
  writeFileSync(join(d, "cert.pem"), "\uFEFF" + readFileSync(CERT, "utf8"));
  writeFileSync(join(d, "key.pem"), "\uFEFF" + readFileSync(KEY, "utf8"));
  const { loadTlsMaterial } = await import("../../server/tls/config.ts");
  expect(loadTlsMaterial(join(d, "cert.pem"), join(d, "key.pem")).fingerprint).toBe(loadTlsMaterial(CERT, KEY).fingerprint);
});

describe("ftpkit serve with TLS flags", () => {
  test("--tls-cert/--tls-key/--implicit-tls-port: prints both listeners; curl round trips on each", async () => {
    const d = dir();
    await makeUsersFile(d, [{ name: "alice", password: "alice-pw" }]);
    const proc = Bun.spawn(
      ["bun", FTPKIT, "serve", "--host", "127.0.0.1", "--port", "0", "--users", join(d, "users.ini"), "--tls-cert", CERT, "--tls-key", KEY, "--implicit-tls-port", "0", "--tls-session-reuse", "required"],
      { stdout: "pipe", stderr: "pipe", env: env() },
    );
    pids.push(proc.pid);
    let text = "";
    const dec = new TextDecoder();
    const pump = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s) text += dec.decode(c, { stream: true });
    };
    void pump(proc.stdout);
    void pump(proc.stderr);
    const deadline = Date.now() + 10_000;
    while (!/ftps:\/\/[^\s]+:\d+/.test(text) && Date.now() < deadline && proc.exitCode === null) await Bun.sleep(20);
    const port = Number(/listening on ftp:\/\/[^\s:]+:(\d+)/.exec(text)?.[1]);
    const implicit = Number(/listening on ftps:\/\/[^\s:]+:(\d+)/.exec(text)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect(implicit).toBeGreaterThan(0);
    expect(text).toContain("session reuse required");
    writeFileSync(join(d, "up.txt"), "x".repeat(100_000));
    expect((await run(["curl", "-sS", "--ssl-reqd", "-k", "-T", join(d, "up.txt"), `ftp://alice:alice-pw@127.0.0.1:${port}/u.txt`])).code).toBe(0);
    expect((await run(["curl", "-sS", "-k", `ftps://alice:alice-pw@127.0.0.1:${implicit}/u.txt`, "-o", join(d, "down.txt")])).code).toBe(0);
    expect(readFileSync(join(d, "down.txt"), "utf8")).toBe("x".repeat(100_000));
    await Bun.sleep(100);
    expect(text).toMatch(/verb=STOR .*tls=reused/);
    expect(text).toMatch(/verb=RETR .*tls=reused/);
  });
});

describe("ftpkit cert", () => {
  test.each(["2001:db8::1", "192.0.2.7", "127.0.0.1"])("an IP --host %s: the certificate names it, localhost and 127.0.0.1", async (host) => {
    const d = dir();
    const r = await run(["bun", FTPKIT, "cert", "--out", join(d, "tls"), "--host", host]);
    expect(r.code).toBe(0);
    const text = await run(["openssl", "x509", "-in", join(d, "tls/cert.pem"), "-noout", "-ext", "subjectAltName"]);
    const names = text.stdout.split("\n")[1]!.trim().split(", ").sort();
    const ip = host === "2001:db8::1" ? "IP Address:2001:DB8:0:0:0:0:0:1" : `IP Address:${host}`;
    expect(names).toEqual([...new Set([ip, "IP Address:127.0.0.1", "DNS:localhost"])].sort());
  });

  test("makes a self-signed pair the server accepts (CN and SAN from --host, --days)", async () => {
    const d = dir();
    const r = await run(["bun", FTPKIT, "cert", "--out", join(d, "tls"), "--host", "ftp.example.test", "--days", "30"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([join(d, "tls/cert.pem"), join(d, "tls/key.pem")]);
    const text = await run(["openssl", "x509", "-in", join(d, "tls/cert.pem"), "-noout", "-subject", "-ext", "subjectAltName", "-enddate"]);
    expect(text.stdout).toContain("CN = ftp.example.test");
    expect(text.stdout).toContain("DNS:ftp.example.test");
    expect(text.stdout).toContain("IP Address:127.0.0.1");
    const { loadTlsMaterial } = await import("../../server/tls/config.ts");
    expect(loadTlsMaterial(join(d, "tls/cert.pem"), join(d, "tls/key.pem")).fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    // As a shell runs it (bun test's NODE_ENV=test silences consola): the messages go to stderr, one
    // plain line each in a pipe, and stdout still carries the two paths alone.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "NODE_ENV" && k !== "NO_COLOR") env[k] = v;
    const shell = Bun.spawn(["bun", FTPKIT, "cert", "--out", join(d, "tls2")], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(shell.stdout).text(), new Response(shell.stderr).text(), shell.exited]);
    expect(out.trim().split("\n")).toEqual([join(d, "tls2/cert.pem"), join(d, "tls2/key.pem")]);
    expect(err).toMatch(/^\[success\] self-signed certificate for localhost, valid 825 days\n\[info\] SHA-256 fingerprint /);
    // A second run does not overwrite without --force.
    const again = await run(["bun", FTPKIT, "cert", "--out", join(d, "tls")]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("--force");
  });

  test("rejects a bad --days or --host with one line", async () => {
    const d = dir();
    expect((await run(["bun", FTPKIT, "cert", "--out", d, "--days", "0"])).stderr).toContain("--days must be");
    expect((await run(["bun", FTPKIT, "cert", "--out", d, "--host", "bad host!"])).stderr).toContain("--host must be");
    for (const bad of ["bad:host!", "::g"]) {
      const r = await run(["bun", FTPKIT, "cert", "--out", d, "--host", bad]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringContaining("--host must be")]);
    }
  });

  test("a mistyped flag is named as unknown, not as a missing --out; no --out at all says it is required", async () => {
    const typo = await run(["bun", FTPKIT, "cert", "--out-dir", dir()]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown option --out-dir");
    const none = await run(["bun", FTPKIT, "cert"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--out DIR is required");
  });
});

describe("certificate hot swap", () => {
  test("replacing the files changes the certificate new connections see, without a restart", async () => {
    const d = dir();
    const cert = join(d, "cert.pem");
    const key = join(d, "key.pem");
    copyFileSync(CERT, cert);
    copyFileSync(KEY, key);
    srv = await startTestServer({ options: { tls: tlsOptions({ certFile: cert, keyFile: key, certPollMs: 100 }) } });
    const before = await serverFingerprint(srv.port);
    expect(before).toBe(srv.server.ftps!.store!.current.fingerprint);
    // Atomic replacement, key first: a half-swapped pair (new key, old cert) is not adopted.
    copyFileSync(OTHER_KEY, `${key}.new`);
    renameSync(`${key}.new`, key);
    await Bun.sleep(300);
    expect(await serverFingerprint(srv.port)).toBe(before);
    copyFileSync(OTHER_CERT, `${cert}.new`);
    renameSync(`${cert}.new`, cert);
    const deadline = Date.now() + 5000;
    let after = before;
    while (after === before && Date.now() < deadline) {
      await Bun.sleep(150);
      after = await serverFingerprint(srv.port);
    }
    expect(after).not.toBe(before);
    const expected = (await run(["openssl", "x509", "-in", OTHER_CERT, "-noout", "-fingerprint", "-sha256"])).stdout.trim().replace(/^.*=/, "");
    expect(after).toBe(expected);
    // And the new pair works for a full FTPS round trip.
    writeFileSync(join(d, "up.txt"), "after the swap\n");
    const r = await run(["curl", "-sS", "--ssl-reqd", "-k", "-T", join(d, "up.txt"), `ftp://alice:alice-pw@127.0.0.1:${srv.port}/s.txt`]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(srv.home("alice"), "s.txt"), "utf8")).toBe("after the swap\n");
  });
});
