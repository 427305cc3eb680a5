// `ftpkit serve --demo`: the README's first command. Its box tells the real port, and stdout keeps
// its contracts (--port 0: the URL first; --log-format json: JSON records only).
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { list } from "../../cli/api.ts";
import { runFtpkit } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";

let dir = "";
let serve: ServeProcess | null = null;
afterEach(async () => {
  await serve?.kill("SIGTERM");
  serve = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

describe("serve --demo", () => {
  test("with --port 0 the first stdout line is the URL, and the box shows the port it listens on; demo/demo logs in", async () => {
    dir = mkdtempSync(join(tmpdir(), "ftpkit-demo-"));
    serve = await spawnServe(["--demo"], { cwd: dir, alsoWaitFor: /Ctrl-C stops the server/ });
    const out = serve.stdout();
    expect(out.split("\n")[0]).toBe(`ftp://127.0.0.1:${serve.port}/`);
    expect(out).toContain(`curl ftp://demo:demo@127.0.0.1:${serve.port}/`);
    expect(out).not.toContain("127.0.0.1:0/");
    const names = (await list(`ftp://demo:demo@127.0.0.1:${serve.port}/`)).map((e) => e.name);
    expect(names).toContain("hello.txt");
  }, 30_000);

  test("under --log-format json every stdout line is a JSON record, the demo's logins included", async () => {
    dir = mkdtempSync(join(tmpdir(), "ftpkit-demo-"));
    serve = await spawnServe(["--demo", "--log-format", "json"], { cwd: dir, alsoWaitFor: /"event":"demo"/ });
    const lines = serve.stdout().split("\n").filter((l) => l !== "");
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.map((l) => JSON.parse(l)).find((r) => r.event === "demo")).toMatchObject({ user: "demo", password: "demo" });
  }, 30_000);

  test("--demo with --users is refused in one line: the box's logins are the demo's", async () => {
    dir = mkdtempSync(join(tmpdir(), "ftpkit-demo-"));
    const r = await runFtpkit(["serve", "--demo", "--users", join(dir, "other.ini"), "--port", "0"], { cwd: dir, timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--demo serves ./ftpkit-demo/users.ini and cannot be combined with --users");
    expect(r.stdout).toBe("");
  }, 30_000);

  test("--demo listens on loopback only: --host 0.0.0.0 or another address is refused in one line (demo/demo has full rights)", async () => {
    dir = mkdtempSync(join(tmpdir(), "ftpkit-demo-"));
    for (const host of ["0.0.0.0", "::"]) {
      const r = await runFtpkit(["serve", "--demo", "--host", host, "--port", "0"], { cwd: dir, timeoutMs: 15_000 });
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringContaining(`--demo listens on loopback only`)]);
      expect(r.stdout).toBe("");
    }
  }, 30_000);

  test("--demo --host ::1 (a loopback address) is served there", async () => {
    dir = mkdtempSync(join(tmpdir(), "ftpkit-demo-"));
    serve = await spawnServe(["--demo", "--host", "::1"], { cwd: dir, alsoWaitFor: /Ctrl-C stops the server/ });
    const names = (await list(`ftp://demo:demo@[::1]:${serve.port}/`)).map((e) => e.name);
    expect(names).toContain("hello.txt");
  }, 30_000);
});
