// The ftpkit client over FTPS (RFC 4217) against `ftpkit serve` with TLS: explicit (--tls) and
// implicit (ftps://) round trips verified by HASH, session reuse required by the server, kill -9 and
// resume over TLS, certificate checks (one clear line), no clear-text fallback, no password in clear.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, tempDir, waitFor } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { describeDataTlsError, describeTlsError } from "../../client/tls-trust.ts";
import { secureControl } from "../../client/control-tls.ts";
import { ClientError, NotTlsAnswer } from "../../client/errors.ts";
import type { FtpClient } from "../../client/client.ts";
import { recordingProxy } from "../helpers/proxy.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

const FIXTURES = join(import.meta.dir, "../../fixtures/tls");
const CERT = join(FIXTURES, "cert.pem");
const KEY = join(FIXTURES, "key.pem");
const OTHER_CERT = join(FIXTURES, "other-cert.pem");
const PASSWORD = "s3cret-Zq81"; // distinctive, so a search of the wire cannot match by accident

interface TlsPeer {
  serve: ServeProcess;
  port: number;
  implicitPort: number;
  dir: string;
  home: string;
  url(path: string, opts?: { implicit?: boolean; password?: boolean; host?: string }): string;
  /** The server's log so far (transfer lines carry tls=reused|new). */
  log(): string;
  stop(): Promise<void>;
}

/** `ftpkit serve` with the fixture certificate, an implicit TLS port and `extra` flags (user "user"). */
async function startTlsServer(extra: string[] = [], opts: { tls?: boolean } = {}): Promise<TlsPeer> {
  const dir = tempDir("ftpkit-tls-client-");
  const home = join(dir, "home", "user");
  const users = await makeUsersFile(dir, [{ name: "user", password: PASSWORD, home }]);
  const tls = opts.tls === false ? [] : ["--tls-cert", CERT, "--tls-key", KEY, "--implicit-tls-port", "0"];
  const serve = await spawnServe(["--users", users, ...tls, ...extra], { cwd: dir });
  let implicitPort = 0;
  if (opts.tls !== false) {
    await waitFor(() => /listening on ftps:\/\/[^\s:]+:(\d+)/.test(serve.stdout() + serve.stderr()), 10_000, "the implicit TLS listener");
    implicitPort = Number(/listening on ftps:\/\/[^\s:]+:(\d+)/.exec(serve.stdout() + serve.stderr())![1]);
  }
  return {
    serve,
    port: serve.port,
    implicitPort,
    dir,
    home,
    url(path, o = {}) {
      const cred = o.password === false ? "user@" : `user:${PASSWORD}@`;
      const p = path.startsWith("/") ? path : `/${path}`;
      const host = o.host ?? "127.0.0.1";
      return o.implicit ? `ftps://${cred}${host}:${implicitPort}${p}` : `ftp://${cred}${host}:${serve.port}${p}`;
    },
    log: () => serve.stdout() + serve.stderr(),
    async stop() {
      await serve.kill();
      removeDir(dir);
    },
  };
}

/** The `tls=` field of every transfer line the server logged for `path`. */
function transferTls(peer: TlsPeer, path: string): string[] {
  return peer
    .log()
    .split("\n")
    .filter((l) => /\btransfer\b/.test(l) && l.includes(`path=${path} `))
    .map((l) => /tls=(\w+)/.exec(l)?.[1] ?? "none");
}

/** stderr as the lines a user sees (consola pads with blank lines). */
const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

let fast: TlsPeer; // TLS, session reuse required (like vsftpd's require_ssl_reuse=YES)
let slow: TlsPeer; // TLS, --max-rate, for kill -9 mid-download
let plain: TlsPeer; // no TLS at all
let work: string;

beforeAll(async () => {
  [fast, slow, plain] = await Promise.all([
    startTlsServer(["--tls-session-reuse", "required"]),
    startTlsServer(["--max-rate", "256K", "--tls-session-reuse", "required"]),
    startTlsServer([], { tls: false }),
  ]);
  work = tempDir("ftpkit-tls-work-");
});

afterAll(async () => {
  await Promise.all([fast?.stop(), slow?.stop(), plain?.stop()]);
  removeDir(work);
});

describe("explicit FTPS (--tls)", () => {
  for (const [size, hash] of [[0, "sha256"], [1_500_000, "md5"]] as const) {
    test(`get and put ${size} bytes round trip, verified by HASH (${hash}); every data connection reuses the session`, async () => {
      const name = `ex-${size}.bin`;
      const data = randomFile(join(fast.home, name), size);
      const g = await runFtpkit(["get", "--tls", "--ca", CERT, fast.url(`/${name}`), "--hash", hash], { cwd: work });
      expect(g.stderr).toContain(`${hash} ${digest(data, hash)} (verified by HASH)`);
      expect(g.code).toBe(0);
      expect(readFileSync(join(work, name)).equals(Buffer.from(data))).toBe(true);
      const p = await runFtpkit(["put", "--tls", "--insecure", name, fast.url(`/up-${name}`), "--hash", hash], { cwd: work });
      expect(p.stderr).toContain("(verified by HASH)");
      expect(p.code).toBe(0);
      expect(readFileSync(join(fast.home, `up-${name}`)).equals(Buffer.from(data))).toBe(true);
      // The server requires reuse: a data connection without it would have been refused (522).
      expect(transferTls(fast, `/${name}`)).toEqual(["reused"]);
      expect(transferTls(fast, `/up-${name}`)).toEqual(["reused"]);
    });
  }

  test("active mode (--active) under TLS: we accept the connection and stay the TLS client, session reused", async () => {
    const data = randomFile(join(work, "act.bin"), 700_000);
    const p = await runFtpkit(["put", "--tls", "--ca", CERT, "--active", "act.bin", fast.url("/act.bin")], { cwd: work });
    expect(p.stderr).toContain("(verified by HASH)");
    expect(p.code).toBe(0);
    const g = await runFtpkit(["get", "--tls", "--ca", CERT, "--active", fast.url("/act.bin"), "act-back.bin"], { cwd: work });
    expect(g.code).toBe(0);
    expect(readFileSync(join(work, "act-back.bin")).equals(Buffer.from(data))).toBe(true);
    expect(transferTls(fast, "/act.bin")).toEqual(["reused", "reused"]);
  });

  test("ls --tls lists over an encrypted data connection (passive and active)", async () => {
    randomFile(join(fast.home, "listed-tls.bin"), 4321);
    const r = await runFtpkit(["ls", "--tls", "--ca", CERT, fast.url("/"), "--json"], { cwd: work });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.stdout) as { name: string; size: number; type: string }[];
    expect(entries.find((e) => e.name === "listed-tls.bin")).toMatchObject({ type: "file", size: 4321 });
    const a = await runFtpkit(["ls", "--tls", "--insecure", "--active", fast.url("/")], { cwd: work });
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/ 4321 .* listed-tls\.bin\n/);
  });

  test("the password never crosses in clear: AUTH TLS goes first, USER/PASS only inside TLS", async () => {
    const proxy = recordingProxy(fast.port);
    try {
      writeFileSync(join(fast.home, "via-proxy.txt"), "through the proxy\n");
      const url = `ftp://user:${PASSWORD}@127.0.0.1:${proxy.port}/via-proxy.txt`;
      const r = await runFtpkit(["get", "--tls", "--ca", CERT, url, "via-proxy.txt"], { cwd: work });
      expect(r.code).toBe(0);
      expect(readFileSync(join(work, "via-proxy.txt"), "utf8")).toBe("through the proxy\n");
      const wire = proxy.sent();
      expect(wire.toString("latin1").startsWith("AUTH TLS\r\n")).toBe(true); // the first thing we say
      expect(wire.includes(PASSWORD)).toBe(false);
      expect(wire.includes("USER")).toBe(false);
      expect(wire.includes("PASS")).toBe(false);
      expect(wire.length).toBeGreaterThan(500); // the encrypted session did go through the proxy
    } finally {
      proxy.stop();
    }
  });

  test("--tls against a server without TLS: one clear line, nothing sent in clear after AUTH", async () => {
    const proxy = recordingProxy(plain.port);
    try {
      writeFileSync(join(plain.home, "clear.txt"), "x");
      const r = await runFtpkit(["get", "--tls", `ftp://user:${PASSWORD}@127.0.0.1:${proxy.port}/clear.txt`, "clear.txt"], { cwd: work });
      expect(r.code).toBe(5);
      const out = lines(r.stderr);
      expect(out).toHaveLength(1);
      expect(out[0]).toMatch(/server does not support AUTH TLS: .*\(5\d\d\); refusing to continue in clear text$/);
      const wire = proxy.sent().toString("latin1");
      expect(wire.startsWith("AUTH TLS\r\n")).toBe(true);
      expect(wire).not.toContain("USER");
      expect(wire).not.toContain(PASSWORD);
      expect(existsSync(join(work, "clear.txt"))).toBe(false);
    } finally {
      proxy.stop();
    }
  });
});

describe("implicit FTPS (ftps://)", () => {
  test("get and put round trip with --ca (no --insecure), verified by HASH, session reused", async () => {
    const data = randomFile(join(fast.home, "im.bin"), 1_200_000);
    const g = await runFtpkit(["get", "--ca", CERT, fast.url("/im.bin", { implicit: true })], { cwd: work });
    expect(g.stderr).toContain(`sha256 ${digest(data)} (verified by HASH)`);
    expect(g.code).toBe(0);
    expect(readFileSync(join(work, "im.bin")).equals(Buffer.from(data))).toBe(true);
    const p = await runFtpkit(["put", "--ca", CERT, "im.bin", fast.url("/im-up.bin", { implicit: true }), "--hash", "md5"], { cwd: work });
    expect(p.stderr).toContain(`md5 ${digest(data, "md5")} (verified by HASH)`);
    expect(p.code).toBe(0);
    expect(readFileSync(join(fast.home, "im-up.bin")).equals(Buffer.from(data))).toBe(true);
    expect(transferTls(fast, "/im.bin")).toEqual(["reused"]);
    expect(transferTls(fast, "/im-up.bin")).toEqual(["reused"]);
  });

  test("ls ftps:// and the hostname localhost (also on the certificate)", async () => {
    writeFileSync(join(fast.home, "named.txt"), "n");
    const r = await runFtpkit(["ls", "--ca", CERT, fast.url("/named.txt", { implicit: true, host: "localhost" })], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ 1 .* named\.txt\n$/);
  });

  test("the password never crosses in clear: TLS from the first byte", async () => {
    const proxy = recordingProxy(fast.implicitPort);
    try {
      writeFileSync(join(fast.home, "im-proxy.txt"), "implicit\n");
      const r = await runFtpkit(["get", "--insecure", `ftps://user:${PASSWORD}@127.0.0.1:${proxy.port}/im-proxy.txt`, "im-proxy.txt"], { cwd: work });
      expect(r.code).toBe(0);
      const wire = proxy.sent();
      expect(wire[0]).toBe(0x16); // a TLS handshake record, not an FTP command
      expect(wire.includes(PASSWORD)).toBe(false);
      expect(wire.includes("USER")).toBe(false);
    } finally {
      proxy.stop();
    }
  });
});

describe("the wrong kind of port", () => {
  test("ftps:// to a clear-text FTP port: one line that suggests --tls", async () => {
    const r = await runFtpkit(["ls", "--insecure", `ftps://user@127.0.0.1:${plain.port}/`], { cwd: work, timeoutMs: 20_000 });
    expect(r.code).toBe(5);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain("the server did not answer in TLS (for an ftp:// port use --tls, not ftps://)");
  });

  test("--tls to a port that waits for TLS and then closes (an implicit port's handshake timeout): one line that suggests ftps://", async () => {
    // What ftpkit's implicit port does 10 s after a client that never starts TLS: it closes, having said nothing.
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void setTimeout(() => s.end(), 200), data() {} } });
    try {
      const r = await runFtpkit(["ls", "--tls", `ftp://user:pw@127.0.0.1:${silent.port}/`], { cwd: work, timeoutMs: 20_000 });
      expect(r.code).toBe(5);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain(`no greeting from 127.0.0.1:${silent.port} in clear text (it closed the connection without one): if it is an implicit TLS port, use an ftps:// URL instead of --tls`);
    } finally {
      silent.stop(true);
    }
  });
});

describe("certificate verification", () => {
  const SELF_SIGNED = "TLS: certificate for 127.0.0.1 is not trusted (self-signed); use --ca FILE or --insecure";

  test("a self-signed certificate without --ca/--insecure fails with one clear line (explicit and implicit)", async () => {
    for (const [args, what] of [
      [["get", "--tls", fast.url("/nothing.txt")], "explicit get"],
      [["ls", fast.url("/", { implicit: true })], "implicit ls"],
      [["put", "--tls", "--active", join(FIXTURES, "README.md"), fast.url("/x.md")], "explicit active put"],
    ] as const) {
      const r = await runFtpkit([...args], { cwd: work });
      expect({ what, code: r.code }).toEqual({ what, code: 5 });
      expect(lines(r.stderr).map((l) => l.replace(/^(\[error\]|ERROR)\s+/, ""))).toEqual([SELF_SIGNED]);
      expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
    }
    // Nothing was sent after the handshake failed: the server never saw a login.
    expect(fast.log()).not.toMatch(/login failed/);
  });

  test("trusting another certificate with --ca does not make this one trusted", async () => {
    const r = await runFtpkit(["get", "--tls", "--ca", OTHER_CERT, fast.url("/nothing.txt")], { cwd: work });
    expect(r.code).toBe(5);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/TLS: certificate for 127\.0\.0\.1 is not trusted/);
  });

  test("flag mistakes are one line each (exit 2, ls and test alike): --ca or --insecure without TLS, an unreadable, non-PEM or corrupt --ca", async () => {
    const corrupt = join(work, "corrupt.pem");
    writeFileSync(corrupt, "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n");
    const cases: [string[], RegExp][] = [
      [["get", "--insecure", fast.url("/a")], /--insecure needs TLS: add --tls \(explicit FTPS\) or use an ftps:\/\/ URL/],
      [["ls", "--ca", CERT, fast.url("/")], /--ca needs TLS/],
      [["get", "--tls", "--ca", join(work, "missing.pem"), fast.url("/a")], /--ca .*missing\.pem: no such file/],
      [["get", "--tls", "--ca", join(FIXTURES, "README.md"), fast.url("/a")], /no PEM certificate/],
      [["get", "--tls", "--ca", work, fast.url("/a")], /--ca \S+: a directory, not a PEM file/],
      // PEM armour around no certificate: before, Bun's "Invalid CA" with a stack trace, exit 1.
      [["ls", "--tls", "--ca", corrupt, fast.url("/")], /--ca \S+: its certificate cannot be read \(corrupt or cut short\)/],
      [["test", "--tls", "--ca", corrupt, fast.url("/")], /--ca \S+: its certificate cannot be read/],
      [["test", "--tls", "--ca", join(work, "missing.pem"), fast.url("/")], /no such file/],
    ];
    for (const [args, re] of cases) {
      const r = await runFtpkit(args, { cwd: work });
      expect(r.code).toBe(2);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  });
});

describe("TLS error lines", () => {
  const err = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
  const settings = { host: "ftp.example.com" };
  for (const [e, expected] of [
    [err("self signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT"), "TLS: certificate for ftp.example.com is not trusted (self-signed); use --ca FILE or --insecure"],
    [err("self-signed certificate in certificate chain", "SELF_SIGNED_CERT_IN_CHAIN"), "TLS: certificate for ftp.example.com is not trusted (self-signed); use --ca FILE or --insecure"],
    [
      err("Hostname/IP does not match certificate's altnames: Host: ftp.example.com. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1", "ERR_TLS_CERT_ALTNAME_INVALID"),
      "TLS: certificate does not match ftp.example.com (it is for DNS:localhost, IP Address:127.0.0.1); connect by a name it carries or use --insecure",
    ],
    [
      err("Hostname/IP does not match certificate's altnames: Host: ftp.example.com. is not cert's CN: 127.0.0.1", "ERR_TLS_CERT_ALTNAME_INVALID"),
      "TLS: certificate does not match ftp.example.com (it is for CN 127.0.0.1); connect by a name it carries or use --insecure",
    ],
    [
      err("Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: 127.0.0.1", "ERR_TLS_CERT_ALTNAME_INVALID"),
      "TLS: certificate does not match ftp.example.com (it is for IP 127.0.0.1); connect by a name it carries or use --insecure",
    ],
    [
      err("Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: ", "ERR_TLS_CERT_ALTNAME_INVALID"),
      "TLS: certificate does not match ftp.example.com (it names no IP address: a CN does not count for one); connect by a name it carries or use --insecure",
    ],
    [err("certificate has expired", "CERT_HAS_EXPIRED"), "TLS: certificate for ftp.example.com has expired; use --insecure to accept it anyway"],
    [err("unable to get local issuer certificate", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"), "TLS: certificate for ftp.example.com is not trusted (unknown issuer); use --ca FILE or --insecure"],
    [err("error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", "EPROTO"), "TLS handshake with ftp.example.com failed: the server did not answer in TLS (for an ftp:// port use --tls, not ftps://)"],
    [err("handshake failure", "ECONNRESET"), "TLS handshake with ftp.example.com failed: handshake failure (ECONNRESET)"],
  ] as const) {
    test(`${(e as { code?: string }).code}: ${expected.slice(0, 60)}…`, () => {
      const out = describeTlsError(e, settings);
      expect(out.message).toBe(expected);
      expect(out.message).not.toContain("\n");
      expect(out.retryable).toBe(false);
      // "Not TLS at all" is a type, not a phrase to search for (control-tls.ts tests on it).
      expect(out instanceof NotTlsAnswer).toBe(expected.includes("did not answer in TLS"));
    });
  }
});

describe("TLS error lines when --ca was given", () => {
  test("a certificate none of the --ca certificates vouches for says so (a resumed job keeps its --ca), not just \"use --ca\"", () => {
    const e = Object.assign(new Error("self signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    expect(describeTlsError(e, { host: "ftp.example.com", ca: ["-----BEGIN CERTIFICATE-----\n"] }).message).toBe(
      "TLS: certificate for ftp.example.com is not trusted (self-signed); no --ca certificate vouches for it either (--ca takes the root CA of its chain, or the server's own certificate only when self-signed; has the server's certificate changed?); use the right --ca FILE or --insecure",
    );
  });
});

describe("TLS error lines of a data connection", () => {
  const err = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
  const settings = { host: "ftp.example.com" };
  const failed = "TLS handshake on the data connection with ftp.example.com failed: ";
  for (const [e, expected, retryable] of [
    [err("Connection reset by peer", "ECONNRESET"), `${failed}the server reset it during the handshake (ECONNRESET)`, true],
    [null, `${failed}the server closed it during the handshake`, true],
    [err("error:1000042e:SSL routines:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION", "EPROTO"), `${failed}error:1000042e:SSL routines:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION (EPROTO)`, true],
    [err("error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", "EPROTO"), `${failed}the server did not answer in TLS (EPROTO)`, true],
    // A certificate we refuse is refused on every new connection too: the control connection's line, not retried.
    [err("self signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT"), "TLS: certificate for ftp.example.com is not trusted (self-signed); use --ca FILE or --insecure", false],
  ] as const) {
    test(`${e?.code ?? "closed"}: ${expected.slice(0, 70)}…`, () => {
      const out = describeDataTlsError(e, settings);
      expect(out.message).toBe(expected);
      expect(out.kind).toBe("tls");
      expect(out.retryable).toBe(retryable);
      expect(out instanceof NotTlsAnswer).toBe(expected.includes("did not answer in TLS"));
    });
  }
});

describe("resume over TLS", () => {
  const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);
  const records = (cwd: string) => {
    const d = join(cwd, ".ftpkit", "transfers");
    return existsSync(d) ? readdirSync(d).filter((n) => n.endsWith(".json")) : [];
  };

  test("kill -9 mid-download over --tls, then `ftpkit resume` continues over TLS (ranged HASH, session reused)", async () => {
    const cwd = tempDir("ftpkit-tls-resume-");
    try {
      const SIZE = 2_000_000;
      const data = randomFile(join(slow.home, "slow.bin"), SIZE);
      const part = join(cwd, "slow.bin.ftpkit-part");
      const proc = spawnFtpkit(["get", "--tls", "--ca", CERT, slow.url("/slow.bin")], { cwd });
      try {
        await waitFor(() => sizeOf(part) >= 300_000, 20_000, "bytes to land");
      } finally {
        proc.kill(9);
        await proc.exited;
      }
      const kept = sizeOf(part);
      expect(kept).toBeLessThan(SIZE);
      const [rec] = records(cwd);
      const saved = JSON.parse(readFileSync(join(cwd, ".ftpkit", "transfers", rec!), "utf8"));
      expect(saved).toMatchObject({ direction: "get", tls: "explicit", remoteSize: SIZE });
      expect(saved.url).not.toContain(PASSWORD);
      // An ftp:// URL begun with --tls: the list says it goes on over TLS.
      expect((await runFtpkit(["resume", "--list"], { cwd })).stdout).toContain(`get ${saved.url} → ${join(cwd, "slow.bin")} over TLS (started`);

      // No --tls: the journal says the transfer was encrypted, so it stays encrypted.
      const r = await runFtpkit(["resume", "--ca", CERT], { cwd, env: { FTPKIT_PASSWORD: PASSWORD }, timeoutMs: 45_000 });
      expect(r.stderr).toContain(`partial data verified (${kept} bytes, sha256 via ranged HASH)`);
      expect(r.stderr).toContain("(verified by HASH)");
      expect(r.code).toBe(0);
      expect(digest(readFileSync(join(cwd, "slow.bin")))).toBe(digest(data));
      expect(records(cwd)).toEqual([]);
      // Every RETR of this file (the killed one may not be logged yet) ran over a reused TLS session.
      await waitFor(() => transferTls(slow, "/slow.bin").length >= 1, 5_000, "the transfer log");
      expect(transferTls(slow, "/slow.bin").every((t) => t === "reused")).toBe(true);
    } finally {
      removeDir(cwd);
    }
  });

  test("kill -9 mid-upload over ftps://, then `ftpkit resume --insecure` completes it", async () => {
    const cwd = tempDir("ftpkit-tls-resume-put-");
    try {
      const SIZE = 1_500_000;
      const data = randomFile(join(cwd, "up.bin"), SIZE);
      const remote = join(slow.home, "up.bin");
      const proc = spawnFtpkit(["put", "--insecure", "up.bin", slow.url("/up.bin", { implicit: true, password: false })], {
        cwd,
        env: { FTPKIT_PASSWORD: PASSWORD },
      });
      try {
        await waitFor(() => sizeOf(remote) >= 200_000, 20_000, "bytes to land");
      } finally {
        proc.kill(9);
        await proc.exited;
      }
      // The killed client's last bytes may still be in flight: the file is final once the server
      // has ended that upload (it logs it after closing the file).
      await waitFor(() => transferTls(slow, "/up.bin").length >= 1, 15_000, "the killed upload to end on the server");
      expect(sizeOf(remote)).toBeLessThan(SIZE);
      const r = await runFtpkit(["resume", "--insecure", "up.bin"], { cwd, env: { FTPKIT_PASSWORD: PASSWORD }, timeoutMs: 45_000 });
      expect(r.stderr).toContain("(verified by HASH)");
      expect(r.code).toBe(0);
      expect(digest(readFileSync(remote))).toBe(digest(data));
      expect(records(cwd)).toEqual([]);
    } finally {
      removeDir(cwd);
    }
  });
});

describe("--help", () => {
  test("get, put, ls and resume describe --tls, --ca and --insecure", async () => {
    for (const cmd of ["get", "put", "ls", "resume"]) {
      const r = await runFtpkit([cmd, "--help"], { cwd: work, timeoutMs: 15_000 });
      const text = r.stdout + r.stderr;
      expect(text).toContain("--tls");
      expect(text).toContain("AUTH TLS");
      expect(text).toContain("--ca");
      expect(text).toContain("--insecure");
    }
  });
});

describe("AUTH TLS answered 234, then no TLS", () => {
  /** A client whose server says 234 to AUTH TLS and whose handshake then fails with `failure`. */
  function clientFailingWith(failure: Error): FtpClient {
    const rejected = Promise.reject(failure);
    rejected.catch(() => {});
    return {
      command: async () => ({ code: 234, lines: ["go ahead"] }),
      holdsUnreadReplies: false,
      control: { startTls() {}, ready: rejected, destroy() {} },
      endpoint: () => "127.0.0.1:21",
      opts: { tls: { settings: { host: "ftp.example.com" } } },
    } as unknown as FtpClient;
  }

  test("the typed not-TLS failure is said as the 234 it came after, whatever its text", async () => {
    const err = await secureControl(clientFailingWith(new NotTlsAnswer("any words at all")), "explicit", 0).catch((e) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect(err.kind).toBe("tls");
    expect(err.message).toBe("TLS handshake with ftp.example.com failed: the server answered AUTH TLS with 234 but did not speak TLS after it");
  });

  test("another TLS failure whose text happens to say \"did not answer in TLS\" is passed on as it is", async () => {
    const other = new ClientError("TLS: a certificate whose name says the server did not answer in TLS", { kind: "tls" });
    expect(await secureControl(clientFailingWith(other), "explicit", 0).catch((e) => e)).toBe(other);
  });
});
