// startServer's errors (cli/api-errors.ts): one exported class, every message "startServer: …", and a
// kind that tells a bad option (fix the call) from this machine's refusal (a port in use). The client
// API's: a ClientError of kind "usage", prefixed with the function's name, for a bad call.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClientError, StartServerError, connect, get, list, probeServer, put, startServer } from "../../cli/api.ts";

const CERT = readFileSync(join(import.meta.dir, "../../fixtures/tls/cert.pem"), "utf8");
const KEY = readFileSync(join(import.meta.dir, "../../fixtures/tls/key.pem"), "utf8");
const OTHER_KEY = readFileSync(join(import.meta.dir, "../../fixtures/tls/other-key.pem"), "utf8");
const me = [{ name: "me", password: "pw" }];

async function thrown(p: Promise<unknown>): Promise<StartServerError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(StartServerError);
  const e = err as StartServerError;
  expect(e.message).toStartWith("startServer: ");
  return e;
}

describe("startServer's errors", () => {
  test.each([
    ["no account", {}],
    ["a bad port (its own check)", { users: me, port: -1 }],
    ["a bad user name (the users file's check)", { users: [{ name: "../x", password: "p" }] }],
    ["a user given twice (was kind runtime)", { users: [{ name: "me", password: "pw" }, { name: "me", password: "x" }] }],
    ["a user without a password", { users: [{ name: "me", password: "" }] }],
    ["a root that is not there (serve --root's check)", { users: me, root: "/nonexistent/ftpkit-root" }],
    ["a certificate file that is not there (the TLS loader's check)", { users: me, tls: { cert: "/nonexistent/cert.pem", key: KEY } }],
    ["a key that does not match its certificate", { users: me, tls: { cert: CERT, key: OTHER_KEY } }],
  ] as Array<[string, Parameters<typeof startServer>[0]]>)("%s: a StartServerError of kind option, prefixed", async (_what, opts) => {
    expect((await thrown(startServer(opts))).kind).toBe("option");
  });

  test.each([
    ["a misspelt option, with the name meant", { users: me, anonymus: true }, "unknown option anonymus (did you mean anonymous?)"],
    ["an option in another case", { users: me, maxrate: 10 }, "unknown option maxrate (did you mean maxRate?)"],
    ["an option nothing is close to", { users: me, bogusOpt: 1 }, "unknown option bogusOpt (known: root, users, anonymous, write, host, port, tls, idleTimeoutSec, maxRate, log)"],
    ["a misspelt tls option", { users: me, tls: { cert: CERT, key: KEY, implicitPrt: 0 } }, "unknown option tls.implicitPrt (did you mean tls.implicitPort?)"],
    ["a misspelt user field", { users: [{ name: "me", password: "pw", quoat: "1MB" }] }, "unknown option users[0].quoat (did you mean users[0].quota?)"],
    ["a string for write", { users: me, write: "yes" }, 'write must be true or false, got "yes"'],
    ["a number for anonymous", { anonymous: 1 }, "anonymous must be true or false, got 1"],
    ["tls: true (the client's option)", { users: me, tls: true }, "tls must be { cert, key } (PEM text or file names), got true"],
    ["a string for tls.require", { users: me, tls: { cert: CERT, key: KEY, require: "yes" } }, 'tls.require must be true or false, got "yes"'],
    ["a number for a home", { users: [{ name: "me", password: "pw", home: 1 }] }, "users[0].home must be a directory name relative to the root, got 1"],
    ["a boolean for a quota", { users: [{ name: "me", password: "pw", quota: true }] }, "users[0].quota must be a whole number of bytes or a size such as 10MB (0: no limit), got true"],
    ["a number for root", { users: me, root: 5 }, "root must be a directory name, got 5"],
  ] as Array<[string, unknown, string]>)("%s is refused before anything starts, by its API name", async (_what, opts, message) => {
    const e = await thrown(startServer(opts as Parameters<typeof startServer>[0]));
    expect([e.kind, e.message]).toEqual(["option", `startServer: ${message}`]);
  });

  test("a key given as bytes (readFileSync without an encoding) is refused by its kind and size, never with the key in the message", async () => {
    const key = readFileSync(join(import.meta.dir, "../../fixtures/tls/key.pem"));
    const e = await thrown(startServer({ users: me, tls: { cert: CERT, key: key as unknown as string } }));
    expect(e.kind).toBe("option");
    expect(e.message).toBe(`startServer: tls.key must be PEM text or a file name, got Buffer of ${key.length} bytes (read it as text: readFileSync(file, "utf8"))`);
    expect(e.message).not.toContain("PRIVATE KEY");
  });

  // `tls: useTls && { cert, key }`, `anonymous: cond ? true : null`: the API took them before it checked its options.
  test("null for an option, and tls: false, mean the option is not set: the server starts without it", async () => {
    const unset = { users: [{ name: "me", password: "pw", quota: null, home: null }], tls: false, anonymous: null, write: null, port: null };
    await using server = await startServer(unset as unknown as Parameters<typeof startServer>[0]);
    expect((await list(server.urlFor("me", "/"))).length).toBeGreaterThanOrEqual(0);
    await using tlsServer = await startServer({ users: me, tls: { cert: CERT, key: KEY, require: null, implicitPort: null } } as unknown as Parameters<typeof startServer>[0]);
    expect(tlsServer.urlFor("me")).toStartWith("ftp://");
  });

  test("a password longer than PASS can carry (4,090 bytes) is refused, one that fits is taken", async () => {
    const e = await thrown(startServer({ users: [{ name: "me", password: "é".repeat(2046) }] }));
    expect([e.kind, e.message]).toEqual(["option", "startServer: the password of me has 4092 bytes in UTF-8: the server's command line carries at most 4090 after PASS, so no client could log in with it"]);
    await using server = await startServer({ users: [{ name: "me", password: "é".repeat(2045) }] });
    expect(server.urlFor("me")).toStartWith("ftp://");
  });

  test("a control port and an implicit TLS port in use: kind runtime", async () => {
    const busy = Bun.listen<undefined>({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      expect((await thrown(startServer({ users: me, port: busy.port }))).kind).toBe("runtime");
      const tls = await thrown(startServer({ users: me, tls: { cert: CERT, key: KEY, implicitPort: busy.port } }));
      expect([tls.kind, tls.message]).toEqual(["runtime", `startServer: tls.implicitPort ${busy.port} is already in use`]);
    } finally {
      busy.stop(true);
    }
  });

  test("a user named anonymous is refused with the API's option, anonymous: true, not serve's --anonymous", async () => {
    const e = await thrown(startServer({ users: [{ name: "anonymous", password: "x" }] }));
    expect([e.kind, e.message]).toEqual(["option", 'startServer: "anonymous" is the anonymous login, which takes any password: use anonymous: true for read-only anonymous access, or choose another user name']);
  });

  test("urlFor of an unknown user: a StartServerError of kind option", async () => {
    await using server = await startServer({ users: me });
    let err: unknown;
    try {
      server.urlFor("nobody");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StartServerError);
    expect([(err as StartServerError).kind, (err as Error).message]).toEqual(["option", 'startServer: no user "nobody"']);
  });
});

describe("the client API's errors", () => {
  const url = "ftp://me:pw@127.0.0.1:1/f";
  const local = "/nonexistent/ftpkit-f";
  test.each([
    ["get: rate must be a whole number of bytes per second (0: no limit), got -1", () => get(url, local, { rate: -1 })],
    ["get: trace must be a function (line: string) => void, got string", () => get(url, local, { trace: "x" as unknown as () => void })],
    ["put: insecure: true needs TLS: add tls: true (explicit FTPS) or use an ftps:// URL", () => put(local, url, { insecure: true })],
    ["list: ca needs TLS: add tls: true (explicit FTPS) or use an ftps:// URL", () => list(url, { ca: [CERT] })],
    ["connect: ca[0] /nonexistent/ca.pem: not found", () => connect(url, { tls: true, ca: ["/nonexistent/ca.pem"] })],
    ["probeServer: ca[0] must be PEM text or a file name, got \"\"", () => probeServer({ host: "127.0.0.1", port: 1, ca: [""] })],
    // Before, each of these came back as a report whose greeting failed.
    ["probeServer: port must be a whole number from 1 to 65535, got undefined", () => probeServer({ host: "127.0.0.1" } as Parameters<typeof probeServer>[0])],
    ["probeServer: port must be a whole number from 1 to 65535, got 70000", () => probeServer({ host: "127.0.0.1", port: 70000 })],
    ["probeServer: host must be a host name or address, got \"\"", () => probeServer({ host: "", port: 21 })],
    ['probeServer: tls must be "explicit" or "implicit" (or left out), got "bogus"', () => probeServer({ host: "127.0.0.1", port: 21, tls: "bogus" as "explicit" })],
    ['probeServer: user must be a user name (leave it out for anonymous), got ""', () => probeServer({ host: "127.0.0.1", port: 21, user: "" })],
    ["probeServer: timeoutMs must be a number of milliseconds of at least 1, got -1", () => probeServer({ host: "127.0.0.1", port: 21, timeoutMs: -1 })],
  ] as Array<[string, () => Promise<unknown>]>)("%s: a ClientError of kind usage", async (message, call) => {
    const err = await call().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect([(err as ClientError).kind, (err as Error).message]).toEqual(["usage", message]);
  });

  test("probeServer over explicit TLS: pasv-theft is n/a and says to leave out tls: \"explicit\", not --tls", async () => {
    await using server = await startServer({ users: me, tls: { cert: CERT, key: KEY } });
    const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", tls: "explicit", ca: [CERT] });
    const item = report.items.find((i) => i.id === "pasv-theft");
    expect([item?.status, item?.reason]).toEqual(["n/a", 'data connections are TLS here; run without tls: "explicit" to check']);
  }, 60_000);

  test("a server that never greets: the API's messages name stallMs and tls: true, not --stall-timeout and --tls", async () => {
    const silent = Bun.listen<undefined>({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const url = `ftp://me:pw@127.0.0.1:${silent.port}/x`;
      const stalled = await get(url, join(tmpdir(), "never.bin"), { stallMs: 500 }).then(() => null, (e: Error) => e);
      expect(stalled?.message).toContain("no reply in 0.5 s (stallMs)");
      const quiet = await get(url, join(tmpdir(), "never.bin"), { stallMs: 500, tls: true, insecure: true }).then(() => null, (e: Error) => e);
      expect(quiet?.message).toContain("use an ftps:// URL instead of tls: true");
    } finally {
      silent.stop(true);
    }
  });

  test("a call that is right but finds no server: a ClientError of another kind", async () => {
    const closed = Bun.listen<undefined>({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const err = await list(`ftp://me:pw@127.0.0.1:${port}/`).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).kind).toBe("network");
  });
});
