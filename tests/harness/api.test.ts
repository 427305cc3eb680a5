// The package's programmatic API (cli/api.ts): startServer for other projects' tests, and the client.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClientError, connect, get, list, put, startServer, type RunningServer } from "../../cli/api.ts";
import { REPO, cleanEnv, removeDir, runFtpkit, tempDir } from "../helpers/peers.ts";
import { CERT, KEY, useApiServers } from "./api-fixture.ts";

const OTHER_KEY = readFileSync(join(import.meta.dir, "../../fixtures/tls/other-key.pem"), "utf8");

const { start, work } = useApiServers();

describe("startServer", () => {
  test("with no root it serves a new temp directory on 127.0.0.1 and removes it on close (await using)", async () => {
    let root = "";
    {
      await using server = await startServer({ users: [{ name: "me", password: "pw" }], write: true });
      root = server.root;
      expect(server.url).toBe(`ftp://127.0.0.1:${server.port}/`);
      expect(server.host).toBe("127.0.0.1");
      expect(existsSync(root)).toBe(true);
      const local = join(work(), "a.txt");
      writeFileSync(local, "round trip\n");
      const r = await put(local, server.urlFor("me", "/a.txt"));
      expect(r.verifiedBy).toContain("HASH");
      expect(readFileSync(join(root, "a.txt"), "utf8")).toBe("round trip\n");
    }
    expect(existsSync(root)).toBe(false);
  }, 30_000);

  test("servers started and closed one after another release their root directories' descriptors", async () => {
    const heldRoots = () => readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return /ftpkit-root-.*\(deleted\)$/.test(readlinkSync(`/proc/self/fd/${fd}`));
      } catch {
        return false;
      }
    }).length;
    const local = join(work(), "a.txt");
    writeFileSync(local, "x\n");
    for (let i = 0; i < 12; i++) {
      await using server = await startServer({ users: [{ name: "me", password: "pw" }], write: true });
      await put(local, server.urlFor("me", "/a.txt"));
    }
    // The descriptors go with their jails, once nothing can reach those (the collector decides when).
    for (let i = 0; i < 50 && heldRoots() > 2; i++) {
      Bun.gc(true);
      await Bun.sleep(20);
    }
    expect(heldRoots()).toBeLessThanOrEqual(2);
  }, 60_000);

  test("put, list and get round-trip through the client API, leaving nothing in the cwd", async () => {
    const root = work();
    const server = await start({ root, users: [{ name: "me", password: "p:w @x" }], write: true });
    const dir = work();
    const before = readdirSync(process.cwd());
    writeFileSync(join(dir, "up.bin"), new Uint8Array(200_000).fill(7));
    await put(join(dir, "up.bin"), server.urlFor("me", "/up.bin"));
    const entries = await list(server.urlFor("me", "/"));
    expect(entries.map((e) => [e.name, e.size])).toEqual([["up.bin", 200_000]]);
    const back = await get(server.urlFor("me", "/up.bin"), join(dir, "down.bin"));
    expect(back.size).toBe(200_000);
    expect(readFileSync(join(dir, "down.bin"))).toEqual(readFileSync(join(dir, "up.bin")));
    expect(readdirSync(process.cwd())).toEqual(before);
  }, 30_000);

  // An overwrite is written in the root's .ftpkit-tmp/ first; the server that made that directory removes it when it stops.
  async function overwrite(root: string): Promise<RunningServer> {
    writeFileSync(join(root, "a.txt"), "old");
    const server = await start({ root, users: [{ name: "me", password: "pw" }], write: true });
    const local = join(work(), "a.txt");
    writeFileSync(local, "new content");
    await put(local, server.urlFor("me", "/a.txt"));
    expect(readdirSync(root).sort()).toEqual([".ftpkit-tmp", "a.txt"]);
    return server;
  }

  test("close() removes the empty .ftpkit-tmp an overwrite made in the caller's root", async () => {
    const root = work();
    await (await overwrite(root)).close();
    expect(readdirSync(root)).toEqual(["a.txt"]);
    expect(readFileSync(join(root, "a.txt"), "utf8")).toBe("new content");
  }, 30_000);

  test("close() keeps a .ftpkit-tmp it did not make, and one it made that holds a file (another server's upload)", async () => {
    const before = work();
    mkdirSync(join(before, ".ftpkit-tmp"));
    await (await overwrite(before)).close();
    expect(readdirSync(join(before, ".ftpkit-tmp"))).toEqual([]);
    const shared = work();
    const server = await overwrite(shared);
    writeFileSync(join(shared, ".ftpkit-tmp/other-server-upload"), "x");
    await server.close();
    expect(readdirSync(join(shared, ".ftpkit-tmp"))).toEqual(["other-server-upload"]);
  }, 30_000);

  test("close() removes a home it made in the caller's root while empty, and keeps one that holds an upload or was there", async () => {
    const root = work();
    mkdirSync(join(root, "kept"));
    const server = await start({
      root,
      users: [
        { name: "ro", password: "pw", perm: "read", home: "pub/deep" },
        { name: "up", password: "pw", perm: "read,write", home: "in" },
        { name: "old", password: "pw", perm: "read", home: "kept" },
      ],
    });
    expect(readdirSync(root).sort()).toEqual(["in", "kept", "pub"]);
    const local = join(work(), "f.txt");
    writeFileSync(local, "f");
    await put(local, server.urlFor("up", "/f.txt"));
    await server.close();
    expect(readdirSync(root).sort()).toEqual(["in", "kept"]);
    expect(readdirSync(join(root, "in"))).toEqual(["f.txt"]);
  }, 30_000);

  test("a home one server made stays while another server on the same root uses it, and goes when the last one closes", async () => {
    const root = work();
    const users = [{ name: "ro", password: "pw", perm: "read", home: "pub" }];
    const first = await start({ root, users });
    const second = await start({ root, users });
    await first.close();
    expect(existsSync(join(root, "pub"))).toBe(true);
    expect(await list(second.urlFor("ro", "/"))).toEqual([]);
    await second.close();
    expect(readdirSync(root)).toEqual([]);
  }, 30_000);

  test("urlFor names a file whose name holds a wildcard or URL syntax, not what the wildcard matches", async () => {
    const root = work();
    const names = ["a*.txt", "a?.txt", "a[1].txt", "a#1.txt", "a%41.txt", "a b.txt"];
    for (const n of names) writeFileSync(join(root, n), n);
    writeFileSync(join(root, "ab.txt"), "ab.txt"); // what a*.txt or a?.txt would match as a pattern
    const server = await start({ root, users: [{ name: "me", password: "pw" }] });
    for (const n of names) {
      expect((await list(server.urlFor("me", `/${n}`))).map((e) => e.name)).toEqual([n]);
      const local = join(work(), "copy");
      await get(server.urlFor("me", `/${n}`), local);
      expect(readFileSync(local, "utf8")).toBe(n);
    }
  }, 30_000);

  test("without write the users are read-only: an upload is refused with 550 and nothing lands", async () => {
    const root = work();
    writeFileSync(join(root, "seed.txt"), "seed\n");
    const server = await start({ root, users: [{ name: "me", password: "pw" }] });
    const local = join(work(), "x.txt");
    writeFileSync(local, "x\n");
    const err = await put(local, server.urlFor("me", "/x.txt")).catch((e) => e);
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(550);
    expect(readdirSync(root)).toEqual(["seed.txt"]);
    await get(server.urlFor("me", "/seed.txt"), join(work(), "seed.txt"));
  }, 30_000);

  test("per-user home, perm and quota, and anonymous read-only", async () => {
    const root = work();
    mkdirSync(join(root, "bob"));
    writeFileSync(join(root, "public.txt"), "public\n");
    const server = await start({
      root,
      anonymous: true,
      users: [
        { name: "alice", password: "a", perm: "read,write,modify", quota: "1KB" },
        { name: "bob", password: "b", home: "bob", perm: ["read", "write"] },
      ],
    });
    const dir = work();
    writeFileSync(join(dir, "big.bin"), new Uint8Array(5000));
    writeFileSync(join(dir, "small.txt"), "small\n");
    // alice: over quota → 552, nothing kept beyond the limit.
    const over = await put(join(dir, "big.bin"), server.urlFor("alice", "/big.bin")).catch((e) => e);
    expect(over).toBeInstanceOf(ClientError);
    expect((over as ClientError).message).toContain("Quota exceeded");
    // bob: jailed in root/bob.
    await put(join(dir, "small.txt"), server.urlFor("bob", "/small.txt"));
    expect(readFileSync(join(root, "bob/small.txt"), "utf8")).toBe("small\n");
    expect((await list(server.urlFor("bob", "/"))).map((e) => e.name)).toEqual(["small.txt"]);
    // anonymous: reads the root, cannot write.
    await get(server.urlFor("anonymous", "/public.txt"), join(dir, "public.txt"));
    const anon = await put(join(dir, "small.txt"), server.urlFor("anonymous", "/anon.txt")).catch((e) => e);
    expect((anon as ClientError).code).toBe(550);
  }, 30_000);

  test("tls with PEM text: FTPS works with the certificate trusted, and the temp key file is removed on close", async () => {
    const tlsTemps = () => readdirSync(tmpdir()).filter((n) => n.startsWith("ftpkit-tls-"));
    const before = tlsTemps();
    const server = await start({ users: [{ name: "me", password: "pw" }], write: true, tls: { cert: CERT, key: KEY } });
    const client = await connect(server.urlFor("me", "/"), { tls: true, ca: [CERT] });
    expect(client.secured).toBe(true);
    await client.quit();
    const plain = await connect(server.urlFor("me", "/"));
    await plain.quit();
    expect(tlsTemps().length).toBe(before.length + 1);
    await server.close();
    expect(tlsTemps()).toEqual(before);
  }, 30_000);

  test("--insecure (insecure: true) accepts a self-signed certificate without subjectAltName", async () => {
    const dir = work();
    const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=127.0.0.1"], { stdout: "ignore", stderr: "ignore" });
    expect(made.exitCode).toBe(0);
    const server = await start({ users: [{ name: "me", password: "pw" }], tls: { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") } });
    const strict = await connect(server.urlFor("me", "/"), { tls: true }).catch((e) => e);
    expect((strict as Error).message).toContain("not trusted");
    const client = await connect(server.urlFor("me", "/"), { tls: true, insecure: true });
    expect(await client.list("/")).toEqual([]);
    await client.quit();
  }, 30_000);

  test("close() twice is harmless, and a server with no accounts is refused up front", async () => {
    const server = await startServer({ anonymous: true });
    await server.close();
    await server.close();
    expect(startServer({})).rejects.toThrow("give at least one user");
    expect(startServer({ users: [{ name: "../x", password: "p" }] })).rejects.toThrow("invalid user name");
  }, 30_000);

  test("a script that downloads and closes its server exits at once: close() leaves no timer behind", async () => {
    const dir = work();
    const script = join(dir, "script.ts");
    writeFileSync(join(dir, "a.txt"), "x\n");
    writeFileSync(
      script,
      [
        `import { get, put, startServer } from ${JSON.stringify(join(import.meta.dir, "../../cli/api.ts"))};`,
        `const server = await startServer({ users: [{ name: "me", password: "pw" }], write: true });`,
        `await put(${JSON.stringify(join(dir, "a.txt"))}, server.urlFor("me", "/a.txt"));`,
        `await get(server.urlFor("me", "/a.txt"), ${JSON.stringify(join(dir, "b.txt"))});`,
        `await server.close();`,
        `const closed = performance.now();`,
        `process.on("exit", () => console.log(JSON.stringify({ lingered: performance.now() - closed })));`,
      ].join("\n"),
    );
    const proc = Bun.spawn(["bun", script], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill(9), 20_000);
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    clearTimeout(timer);
    expect(code).toBe(0);
    // A deadline lost in a race (the data connection's 2 s close grace, close()'s own wait) kept it 2 s.
    expect(JSON.parse(out.trim()).lingered).toBeLessThan(1000);
  }, 30_000);

});

describe("the API's resume records", () => {
  test("a put through the API never sends `ftpkit resume` elsewhere to its caller's directory, where nothing waits", async () => {
    const base = tempDir("ftpkit-api-journal-");
    try {
      const tmp = join(base, "tmp");
      const state = join(base, "state");
      const caller = join(base, "caller");
      const other = join(base, "other");
      for (const d of [tmp, state, caller, other]) mkdirSync(d);
      // A transfer an earlier API caller left unfinished, in the API's shared journal.
      const journal = join(tmp, `ftpkit-transfers-${process.getuid?.() ?? "user"}`);
      mkdirSync(journal);
      writeFileSync(join(journal, "0123456789abcdef.json"), "{}\n");
      const env = { ...cleanEnv(), TMPDIR: tmp, XDG_STATE_HOME: state, NO_COLOR: "1" };
      const script = [
        `import { put, startServer } from ${JSON.stringify(join(REPO, "cli/api.ts"))};`,
        `import { writeFileSync } from "node:fs";`,
        `await using s = await startServer({ users: [{ name: "me", password: "pw" }], write: true });`,
        `writeFileSync("a.txt", "hello");`,
        `await put("a.txt", s.urlFor("me", "/a.txt"));`,
      ].join("\n");
      writeFileSync(join(caller, "run.ts"), script);
      const proc = Bun.spawn(["bun", "run.ts"], { cwd: caller, env, stdout: "pipe", stderr: "pipe" });
      const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(err).toBe("");
      expect(code).toBe(0);
      const r = await runFtpkit(["resume", "--list"], { cwd: other, env });
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(caller);
    } finally {
      removeDir(base);
    }
  }, 60_000);
});

describe("API errors name the API's options, not ftpkit serve's or get's flags", () => {
  const me = [{ name: "me", password: "pw" }];
  const refused = async (p: Promise<unknown>): Promise<string> => {
    const err = await p.then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).not.toMatch(/(^|\s)--[a-z]/); // no CLI flag named
    return err!.message;
  };

  test.each([
    ["startServer: maxRate must be a whole number of bytes per second (0: no limit), got -1", { users: me, maxRate: -1 }],
    ['startServer: maxRate must be a whole number of bytes per second (0: no limit), got "2MB"', { users: me, maxRate: "2MB" as unknown as number }],
    ["startServer: idleTimeoutSec must be a number of seconds of at least 1, got 0", { users: me, idleTimeoutSec: 0 }],
    ["startServer: port must be a whole number from 0 to 65535, got 70000", { users: me, port: 70000 }],
    ["startServer: host 999.1.1.1 is not an IPv4 address (four numbers from 0 to 255, e.g. 192.0.2.10)", { users: me, host: "999.1.1.1" }],
    ["startServer: host 1.2.3 is not an IPv4 address (four numbers from 0 to 255, e.g. 192.0.2.10)", { users: me, host: "1.2.3" }],
    ["startServer: host ::g is not an IPv6 address (e.g. ::1, or :: for every address)", { users: me, host: "::g" }],
    ['startServer: host "a b" is not an address or a host name', { users: me, host: "a b" }],
    ["startServer: host no-such-host.invalid: no such host (the name resolves to no address)", { users: me, host: "no-such-host.invalid" }],
    ['startServer: log must be "text" or "json", got "xml"', { users: me, log: "xml" as "text" }],
    ["startServer: users[0].quota must be a whole number of bytes or a size such as 10MB (0: no limit), got -5", { users: [{ name: "me", password: "pw", quota: -5 }] }],
    ['startServer: users[0].quota: size "-1" is negative: for no limit, write 0, none or unlimited', { users: [{ name: "me", password: "pw", quota: "-1" }] }],
    ['startServer: users[1].perm: unknown permission "rwx" (use read, write, modify)', { users: [me[0]!, { name: "you", password: "pw", perm: "rwx" }] }],
    // Shapes only an untyped caller can give: each was accepted (a user who could not even list) or a TypeError.
    ['startServer: users[0].perm: unknown permission "Read" (use read, write, modify)', { users: [{ name: "me", password: "pw", perm: ["Read"] as never }] }],
    ['startServer: users must be an array of { name, password }, got "me:pw"', { users: "me:pw" as never }],
    ["startServer: users[0] must be an object { name, password }, got null", { users: [null as never] }],
    ["startServer: users[0].password must be a string, got 123", { users: [{ name: "me", password: 123 as never }] }],
    ["startServer: tls.cert /nonexistent/cert.pem: not found", { users: me, tls: { cert: "/nonexistent/cert.pem", key: KEY } }],
    ["startServer: tls.key /nonexistent/key.pem: not found", { users: me, tls: { cert: CERT, key: "/nonexistent/key.pem" } }],
    // PEM text is named as such, not by the temp file it was written to (gone once startServer threw).
    ["startServer: tls.cert (PEM text): not a PEM certificate", { users: me, tls: { cert: "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n", key: KEY } }],
    ["startServer: tls.key (PEM text): not an unencrypted PEM private key", { users: me, tls: { cert: CERT, key: "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n" } }],
    ["startServer: tls.key (PEM text) does not match the certificate given as tls.cert", { users: me, tls: { cert: CERT, key: OTHER_KEY } }],
    ["startServer: tls.implicitPort must be a whole number from 0 to 65535, got -1", { users: me, tls: { cert: CERT, key: KEY, implicitPort: -1 } }],
    ["startServer: tls.implicitPort must be another port than port (27521), got 27521", { users: me, port: 27521, tls: { cert: CERT, key: KEY, implicitPort: 27521 } }],
  ] as Array<[string, Parameters<typeof startServer>[0]]>)("%s", async (expected, opts) => {
    expect(await refused(startServer(opts))).toBe(expected);
  });

  test.each(["::1", "localhost"])("host %s (an IPv6 address; a host name that resolves) still listens", async (host) => {
    const server = await startServer({ users: me, host });
    try {
      expect(server.port).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });

  test("a busy implicit TLS port is named tls.implicitPort", async () => {
    const busy = Bun.listen<undefined>({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      expect(await refused(startServer({ users: me, tls: { cert: CERT, key: KEY, implicitPort: busy.port } }))).toBe(`startServer: tls.implicitPort ${busy.port} is already in use`);
    } finally {
      busy.stop(true);
    }
  });

  test("a busy control port is named port, not Bun's \"Failed to listen at 127.0.0.1\"", async () => {
    const busy = Bun.listen<undefined>({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      expect(await refused(startServer({ users: me, port: busy.port }))).toBe(`startServer: port ${busy.port} is already in use`);
    } finally {
      busy.stop(true);
    }
  });

  test("get, put, list and connect", async () => {
    const url = "ftp://me:pw@127.0.0.1:1/f";
    const local = join(work(), "f");
    writeFileSync(local, "x");
    expect(await refused(get(url, local, { rate: -1 }))).toBe("get: rate must be a whole number of bytes per second (0: no limit), got -1");
    expect(await refused(get(url, local, { retries: 1.5 }))).toBe("get: retries must be a whole number from 0 to 100, got 1.5");
    expect(await refused(get(url, local, { segments: 0 }))).toBe("get: segments must be a whole number from 1 to 32, got 0");
    expect(await refused(put(local, url, { hash: "sha1" as "md5" }))).toBe('put: hash must be "sha256", "md5" or "crc32", got "sha1"');
    const noTls = "insecure: true needs TLS: add tls: true (explicit FTPS) or use an ftps:// URL";
    expect(await refused(get(url, local, { insecure: true }))).toBe(`get: ${noTls}`);
    expect(await refused(put(local, url, { insecure: true }))).toBe(`put: ${noTls}`);
    expect(await refused(list(url, { insecure: true }))).toBe(`list: ${noTls}`);
    expect(await refused(connect(url, { ca: [CERT] }))).toBe("connect: ca needs TLS: add tls: true (explicit FTPS) or use an ftps:// URL");
  });
});
