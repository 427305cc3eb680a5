// `ftpkit serve --root DIR --user NAME:PASS`: a server in one line, no users file.
import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, tempDir, waitFor } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";

const FIXTURES = join(import.meta.dir, "../../fixtures");
let serve: ServeProcess | null = null;
let dirs: string[] = [];

afterEach(async () => {
  await serve?.kill();
  serve = null;
  for (const d of dirs.splice(0)) removeDir(d);
});

/** A site to serve (with one file) and an empty working directory for the server process. */
function site(): { root: string; cwd: string } {
  const base = tempDir("ftpkit-serve-root-");
  dirs.push(base);
  const root = join(base, "site");
  const cwd = join(base, "cwd");
  mkdirSync(root);
  mkdirSync(cwd);
  writeFileSync(join(root, "hello.txt"), "hello from the root\n");
  return { root, cwd };
}

async function curl(args: string[]): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "10", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: out + err };
}

describe("serve --root", () => {
  // The suite runs as root in CI; as another user there is nothing to see.
  test.skipIf(process.getuid?.() !== 0)("run as root, serve warns at start that file modes stop no account", async () => {
    const { root, cwd } = site();
    serve = await spawnServe(["--root", root, "--user", "me:pw"], { cwd });
    const warning = "running as root: file permissions do not limit what accounts may read or change";
    // Written after the listening line on stdout, which spawnServe waits for.
    await waitFor(() => serve!.stderr().includes(warning), 10_000, "the root warning");
    expect(serve.stderr()).toContain(warning);
  }, 30_000);

  test("--port 0 prints the URL as the first stdout line, and the user can download", async () => {
    const { root, cwd } = site();
    serve = await spawnServe(["--root", root, "--user", "me:pw"], { cwd });
    const first = serve.stdout().split("\n")[0];
    expect(first).toBe(`ftp://127.0.0.1:${serve.port}/`);
    const r = await curl([`ftp://me:pw@127.0.0.1:${serve.port}/hello.txt`]);
    expect(r).toEqual({ code: 0, out: "hello from the root\n" });
  }, 30_000);

  test("without --write the user is read-only; with --write uploads land in the root", async () => {
    const { root, cwd } = site();
    const upload = join(cwd, "up.txt");
    writeFileSync(upload, "uploaded\n");
    serve = await spawnServe(["--root", root, "--user", "me:pw"], { cwd });
    const refused = await curl(["-T", upload, `ftp://me:pw@127.0.0.1:${serve.port}/up.txt`]);
    expect(refused.code).not.toBe(0);
    expect(existsSync(join(root, "up.txt"))).toBe(false);
    await serve.kill();

    serve = await spawnServe(["--root", root, "--user", "me:pw", "--write"], { cwd });
    const ok = await curl(["-T", upload, `ftp://me:pw@127.0.0.1:${serve.port}/up.txt`]);
    expect(ok.code).toBe(0);
    expect(readFileSync(join(root, "up.txt"), "utf8")).toBe("uploaded\n");
  }, 30_000);

  test("several --user flags, a wrong password is refused, and a password may contain ':'", async () => {
    const { root, cwd } = site();
    serve = await spawnServe(["--root", root, "--user", "alice:a-pw", "--user=bob:b:pw"], { cwd });
    expect((await curl([`ftp://alice:a-pw@127.0.0.1:${serve.port}/hello.txt`])).code).toBe(0);
    expect((await curl([`ftp://bob:b%3Apw@127.0.0.1:${serve.port}/hello.txt`])).code).toBe(0);
    const bad = await curl([`ftp://alice:wrong@127.0.0.1:${serve.port}/hello.txt`]);
    expect(bad.code).toBe(67); // curl: login denied
  }, 30_000);

  test("--anonymous can download but never upload, even with --write", async () => {
    const { root, cwd } = site();
    const upload = join(cwd, "anon.txt");
    writeFileSync(upload, "x\n");
    serve = await spawnServe(["--root", root, "--anonymous", "--write"], { cwd });
    expect((await curl([`ftp://127.0.0.1:${serve.port}/hello.txt`])).out).toBe("hello from the root\n");
    expect((await curl(["-T", upload, `ftp://127.0.0.1:${serve.port}/anon.txt`])).code).not.toBe(0);
    expect(existsSync(join(root, "anon.txt"))).toBe(false);
  }, 30_000);

  test("nothing is written: no users file, and the password appears in no file or output", async () => {
    const { root, cwd } = site();
    serve = await spawnServe(["--root", root, "--user", "me:Secret-Pw-123", "--write"], { cwd });
    expect((await curl([`ftp://me:Secret-Pw-123@127.0.0.1:${serve.port}/hello.txt`])).code).toBe(0);
    expect(readdirSync(cwd)).toEqual([]);
    expect(readdirSync(root)).toEqual(["hello.txt"]);
    expect(serve.stdout() + serve.stderr()).not.toContain("Secret-Pw-123");
  }, 30_000);

  test("SIGTERM and SIGINT stop it cleanly (exit 0)", async () => {
    const { root, cwd } = site();
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      serve = await spawnServe(["--root", root, "--user", "me:pw"], { cwd });
      expect(await serve.kill(signal)).toBe(0);
      expect(serve.stderr()).not.toContain("Error");
      serve = null;
    }
  }, 30_000);

  test("a root holding the --tls-key or --xferlog file is refused: one line, exit 1, nothing written", async () => {
    const { root, cwd } = site();
    mkdirSync(join(root, "tls"));
    // A working pair: without the check the server starts and serves the key (then killed at 5 s).
    copyFileSync(join(FIXTURES, "tls/key.pem"), join(root, "tls/key.pem"));
    copyFileSync(join(FIXTURES, "tls/cert.pem"), join(cwd, "cert.pem"));
    // The key named through a symlink outside the root is still the root's file.
    symlinkSync(join(root, "tls"), join(cwd, "tls"));
    const cases: Array<[string[], string]> = [
      [["--tls-cert", "cert.pem", "--tls-key", join(root, "tls/key.pem")], `--root ${root} holds the --tls-key file ${join(root, "tls/key.pem")}: every account could download the server's private key; keep it outside the served directory`],
      [["--tls-cert", "cert.pem", "--tls-key", "tls/key.pem"], `--root ${root} holds the --tls-key file tls/key.pem`],
      [["--xferlog", join(root, "xfer.log")], `--root ${root} holds the --xferlog file ${join(root, "xfer.log")}: every account could read the log of every account's transfers`],
    ];
    for (const [flags, message] of cases) {
      const r = await runFtpkit(["serve", "--port", "0", "--root", root, "--user", "me:pw", ...flags], { cwd, timeoutMs: 5_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split("\n").filter((l) => l.trim()).length).toBe(1);
    }
    expect(existsSync(join(root, "xfer.log"))).toBe(false);
  }, 30_000);

  test("--user with a password of more than the 4,090 bytes PASS can carry is one clear error line, exit 2", async () => {
    const cwd = tempDir("ftpkit-serve-root-err-");
    dirs.push(cwd);
    const r = await runFtpkit(["serve", "--port", "0", "--root", ".", "--user", `me:${"a".repeat(4091)}`], { cwd, timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n").filter((l) => l.trim())).toEqual([expect.stringContaining("the password of me has 4091 bytes in UTF-8: the server's command line carries at most 4090 after PASS, so no client could log in with it")]);
  }, 30_000);

  test.each([
    [["--root", ".", "--user", "me:pw", "--users", "users.ini"], 2, "--root and --users cannot be combined"],
    [["--user", "me:pw"], 2, "--user needs --root DIR"],
    [["--anonymous"], 2, "--anonymous needs --root DIR"],
    [["--root", "."], 2, "--root needs at least one --user NAME:PASSWORD, or --anonymous"],
    [["--root", ".", "--user", "nopassword"], 2, '--user must look like NAME:PASSWORD, got "nopassword"'],
    [["--root", "./missing", "--user", "me:pw"], 1, "--root ./missing: no such directory"],
    [["--root", ".", "--user", "../x:pw"], 2, "invalid user name"],
    [["--root", ".", "--user", "me:pw", "--user", "me:other"], 2, 'user "me" is given twice'],
    [["--root", ".", "--user", "me:p\rw"], 2, "the password of me has CR, LF or NUL: no FTP client can send it"],
  ] as Array<[string[], number, string]>)("%p is one clear error line, exit %d", async (args, code, message) => {
    const cwd = tempDir("ftpkit-serve-root-err-");
    dirs.push(cwd);
    const r = await runFtpkit(["serve", "--port", "0", ...args], { cwd, timeoutMs: 15_000 });
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split("\n").filter((l) => l.trim()).length).toBe(1);
    expect(readdirSync(cwd)).toEqual([]);
  }, 30_000);
});
