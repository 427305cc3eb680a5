// The package API's client (cli/api.ts: get, put, list, connect, probeServer) as another project's tests
// use it: no password prompt, certificates given by file, errors in the API's words, cut-off transfers.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, get, list, probeServer, put } from "../../cli/api.ts";
import { REPO, cleanEnv, removeDir, tempDir } from "../helpers/peers.ts";
import { CERT, KEY, useApiServers } from "./api-fixture.ts";

const me = [{ name: "me", password: "pw" }];

const { start, work } = useApiServers();

/** The message of the error `p` rejects with, which names no CLI flag. */
async function refused(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  expect(err!.message).not.toMatch(/(^|\s)--[a-z]/);
  return err!.message;
}

describe("a password the URL does not give", () => {
  test("get, put, list and connect of a URL without a password fail at once on a terminal, never asking for one", async () => {
    const dir = work();
    const home = join(dir, "home"); // no ~/.netrc to find
    mkdirSync(home);
    const script = join(dir, "script.ts");
    writeFileSync(join(dir, "a.txt"), "x\n");
    writeFileSync(
      script,
      [
        `import { connect, get, list, put, startServer } from ${JSON.stringify(join(import.meta.dir, "../../cli/api.ts"))};`,
        `await using server = await startServer({ users: [{ name: "me", password: "pw" }], write: true });`,
        `const url = \`ftp://me@127.0.0.1:\${server.port}/a.txt\`;`,
        `const calls = { list: () => list(url), get: () => get(url, ${JSON.stringify(join(dir, "b.txt"))}), put: () => put(${JSON.stringify(join(dir, "a.txt"))}, url), connect: () => connect(url) };`,
        `for (const [name, call] of Object.entries(calls)) await call().then(() => console.log(name + ": ok"), (e) => console.log(name + ": " + e.message));`,
      ].join("\n"),
    );
    // Under a pseudo-terminal, as a developer runs `bun test`: the prompt waited there for ever.
    const proc = Bun.spawn(["script", "-qfec", `bun ${script}`, "/dev/null"], { cwd: dir, env: { ...cleanEnv(), HOME: home, NO_COLOR: "1" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill(9), 20_000);
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    clearTimeout(timer);
    expect(code).toBe(0);
    const missing = "no password for me@127.0.0.1 (put it in the URL, $FTPKIT_PASSWORD or ~/.netrc)";
    expect(out.replaceAll("\r", "").trim().split("\n")).toEqual(["list", "get", "put", "connect"].map((n) => `${n}: ${missing}`));
  }, 30_000);
});

describe("FTPS: ca by file name, errors in the API's words", () => {
  test("ca takes file names as well as PEM text (as tls does), and a missing file is named by the option", async () => {
    const dir = work();
    writeFileSync(join(dir, "a.txt"), "hello\n");
    const server = await start({ users: [{ name: "me", password: "pw" }], write: true, tls: { cert: CERT, key: KEY, require: true } });
    const caFile = join(import.meta.dir, "../../fixtures/tls/cert.pem");
    // Before: each call with a file name failed with Bun's "Invalid CA".
    const client = await connect(server.urlFor("me", "/"), { tls: true, ca: [caFile] });
    expect(client.secured).toBe(true);
    await client.quit();
    expect((await put(join(dir, "a.txt"), server.urlFor("me", "/a.txt"), { tls: true, ca: [caFile] })).size).toBe(6);
    expect((await list(server.urlFor("me", "/"), { tls: true, ca: [caFile] })).map((e) => e.name)).toEqual(["a.txt"]);
    expect((await get(server.urlFor("me", "/a.txt"), join(dir, "b.txt"), { tls: true, ca: [CERT] })).size).toBe(6);
    const missing = await list(server.urlFor("me", "/"), { tls: true, ca: [join(dir, "nope.pem")] }).catch((e: Error) => e.message);
    expect(missing).toBe(`list: ca[0] ${join(dir, "nope.pem")}: not found`);
    const noPem = await get(server.urlFor("me", "/a.txt"), join(dir, "c.txt"), { tls: true, ca: [join(dir, "a.txt")] }).catch((e: Error) => e.message);
    expect(noPem).toBe(`get: ca[0] ${join(dir, "a.txt")}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it`);
    // PEM armour around no certificate: before, a bare Error("Invalid CA") from Bun's TLS.
    const corrupt = await list(server.urlFor("me", "/"), { tls: true, ca: ["-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----"] }).catch((e: Error) => e.message);
    expect(corrupt).toBe("list: ca[0] (PEM text): its certificate cannot be read (corrupt or cut short)");
  }, 30_000);

  test("probeServer's ca takes a file name too: the greeting over TLS passes", async () => {
    const server = await start({ users: [{ name: "me", password: "pw" }], write: true, tls: { cert: CERT, key: KEY } });
    const caFile = join(import.meta.dir, "../../fixtures/tls/cert.pem");
    const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", tls: "explicit", ca: [caFile] });
    // Before: { status: "fail", reason: "Invalid CA" }, and every other item "no session".
    expect(report.items.find((i) => i.id === "greeting")).toMatchObject({ status: "pass" });
    expect(report.requiredFailed).toBe(0);
  }, 30_000);

  test("a certificate not trusted, and a server that wants TLS, are told with the API's options", async () => {
    const server = await start({ users: me, tls: { cert: CERT, key: KEY, require: true } });
    const url = server.urlFor("me", "/");
    // Before: "use --ca FILE or --insecure", "use --tls (or an ftps:// URL)".
    const untrusted = "TLS: certificate for 127.0.0.1 is not trusted (self-signed); use ca: [CERT] or insecure: true";
    expect(await refused(list(url, { tls: true }))).toBe(untrusted);
    expect(await refused(connect(url, { tls: true }))).toBe(untrusted);
    expect(await refused(get(url + "a.txt", join(work(), "a.txt"), { tls: true }))).toBe(untrusted);
    expect(await refused(list(url))).toEndWith("the server wants an encrypted session: use tls: true (or an ftps:// URL)");
  }, 30_000);

  test("probeServer tells a certificate not trusted, and a server that wants TLS, with the API's options too", async () => {
    const server = await start({ users: me, tls: { cert: CERT, key: KEY, require: true } });
    const probe = (tls?: "explicit") => probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", ...(tls ? { tls } : {}) });
    // Before: "…(self-signed); use --ca FILE or --insecure" and "…use --tls (or an ftps:// URL)",
    // flags a script cannot pass to probeServer.
    const explicit = await probe("explicit");
    // The 220 came; TLS failed after it: the TLS item's failure (required once asked for), not the greeting's.
    expect(explicit.items.find((i) => i.id === "greeting")).toMatchObject({ status: "pass" });
    expect(explicit.items.find((i) => i.id === "tls")).toMatchObject({
      status: "fail",
      required: true,
      reason: "TLS: certificate for 127.0.0.1 is not trusted (self-signed); use ca: [CERT] or insecure: true",
    });
    expect(explicit.requiredFailed).toBeGreaterThan(0);
    const plain = (await probe()).items.map((i) => i.reason).join("\n");
    expect(plain).toContain('the server wants an encrypted session: use tls: "explicit" (or an ftps:// URL)');
    expect(plain).not.toMatch(/(^|\s)--[a-z]/);
  }, 30_000);
});

describe("a transfer cut off", () => {
  test("a put cut off by its server's close() says to call put() again, and keeps no password in the user's state directory", async () => {
    const base = tempDir("ftpkit-api-journal-");
    try {
      const tmp = join(base, "tmp");
      const state = join(base, "state");
      for (const d of [tmp, state]) mkdirSync(d);
      const env = { ...cleanEnv(), TMPDIR: tmp, XDG_STATE_HOME: state, NO_COLOR: "1" };
      const script = [
        `import { put, startServer } from ${JSON.stringify(join(REPO, "cli/api.ts"))};`,
        `import { writeFileSync } from "node:fs";`,
        `const s = await startServer({ users: [{ name: "me", password: "pw" }], write: true, maxRate: 100_000 });`,
        `writeFileSync("big.bin", new Uint8Array(2_000_000));`,
        `const cut = put("big.bin", s.urlFor("me", "/big.bin")).then(() => "done", (e) => "cut: " + e.message);`,
        `while (!(await Bun.file(s.root + "/big.bin").exists())) await Bun.sleep(10);`,
        `await s.close();`,
        `console.log(await cut);`,
      ].join("\n");
      writeFileSync(join(base, "run.ts"), script);
      const proc = Bun.spawn(["bun", "run.ts"], { cwd: base, env, stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => proc.kill(9), 20_000);
      const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      clearTimeout(timer);
      expect(code).toBe(0);
      expect(out).toStartWith("cut: ");
      // `ftpkit resume` does not look in the API's journal (before: "run `ftpkit resume` to continue the upload").
      expect(out.trim()).toEndWith("; call put() again with the same arguments to continue the upload");
      // The job's record stays in the API's journal (a second put of that URL continues it)...
      expect(readdirSync(join(tmp, `ftpkit-transfers-${process.getuid?.() ?? "user"}`)).filter((n) => n.endsWith(".json")).length).toBe(1);
      // ...but its password, which that URL carries, is not kept: before, "pw" for a port that never comes back.
      expect(existsSync(join(state, "ftpkit", "credentials")) ? readdirSync(join(state, "ftpkit", "credentials")) : []).toEqual([]);
    } finally {
      removeDir(base);
    }
  }, 30_000);
});

describe("a transfer the server will not let be verified", () => {
  test("a put into an upload-only directory says why it is not verified, as ftpkit put's info line does", async () => {
    const server = await start({ users: [{ name: "up", password: "pw", perm: "write" }] });
    const local = join(work(), "f.txt");
    writeFileSync(local, "hello");
    const r = await put(local, server.urlFor("up", "/f.txt"));
    expect(r.verifiedBy).toBe("not verified");
    expect(r.whyUnverified).toBe("the server refused the digest (HASH /f.txt: Permission denied (550)), as an upload-only directory does; not verified");
    expect(readFileSync(join(server.root, "f.txt"), "utf8")).toBe("hello");
  }, 15_000);

  test("a verified put carries no whyUnverified", async () => {
    const server = await start({ users: me, write: true });
    const local = join(work(), "f.txt");
    writeFileSync(local, "hello");
    const r = await put(local, server.urlFor("me", "/f.txt"));
    expect(r.verifiedBy).toContain("HASH");
    expect(r.whyUnverified).toBeUndefined();
  }, 15_000);
});
