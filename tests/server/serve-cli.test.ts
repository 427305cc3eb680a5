// `ftpkit serve` as a process: bad flags fail with one clear stderr line and a non-zero exit;
// banners from flags reach clients.
import type { TCPSocketListener } from "bun";
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FTPKIT } from "../helpers/peers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { serveEnv, spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";
import { run, type Ran } from "../interop/run.ts";

let ts: TestServer | null = null;
let serve: ServeProcess | null = null;
const wires: Wire[] = [];
let blocker: TCPSocketListener<undefined> | null = null;

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await serve?.kill();
  serve = null;
  blocker?.stop(true);
  blocker = null;
  await ts?.stop();
  ts = null;
});

/** Users file and homes of a test server whose own listener is closed. */
async function fixture(): Promise<TestServer> {
  ts = await startTestServer();
  await ts.server.close(0);
  return ts;
}

/** Run `ftpkit serve ARGS` expecting it to fail fast (killed after 15 s). */
async function serveFails(args: string[], cwd: string): Promise<Ran> {
  return run(["bun", FTPKIT, "serve", "--host", "127.0.0.1", ...args], { cwd, env: serveEnv(), timeoutMs: 15_000 });
}

function expectOneClearLine(r: { code: number; stdout: string; stderr: string }, mention: string): void {
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBe(137); // not killed by the timer: it exited by itself
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  expect(lines.length).toBe(1);
  expect(lines[0]).toContain(mention);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.stdout).not.toContain("listening");
}

describe("bad flags", () => {
  const cases: [string, string[], string][] = [
    ["a port that is not a number", ["--port", "abc"], "--port"],
    ["a port above 65535", ["--port", "70000"], "--port"],
    ["a reversed passive range", ["--pasv-ports", "5-1"], "--pasv-ports"],
    ["a passive range below 1024", ["--pasv-ports", "80-90"], "--pasv-ports"],
    ["an unknown log format", ["--log-format", "xml"], "--log-format"],
    ["a negative idle timeout", ["--idle-timeout", "-1"], "--idle-timeout"],
    ["a zero idle timeout", ["--idle-timeout", "0"], "--idle-timeout"],
    ["zero max connections", ["--max-connections", "0"], "--max-connections"],
    ["a bad rate", ["--max-rate", "fast"], "--max-rate"],
    ["a negative rate: the no-limit spelling is named", ["--max-rate", "-1"], "--max-rate: size \"-1\" is negative: for no limit, write 0, none or unlimited"],
    ["a welcome that looks like an option: the = spelling is named", ["--welcome", "-x"], "write --welcome=-x"],
    ["a missing welcome file", ["--welcome", "@/nonexistent/welcome.txt"], "--welcome"],
    ["an unknown flag (a typo)", ["--idle-timout", "5"], "--idle-timout"],
  ];
  test.each(cases)("%s", async (_name, args, mention) => {
    const t = await fixture();
    expectOneClearLine(await serveFails(["--port", "0", "--users", t.usersFile, ...args], t.root), mention);
  });

  test("a corrupt users file", async () => {
    const t = await fixture();
    const bad = join(t.root, "bad.ini");
    writeFileSync(bad, "[alice\npassword = x\n");
    expectOneClearLine(await serveFails(["--port", "0", "--users", bad], t.root), "bad.ini");
  });

  test("a port already in use", async () => {
    const t = await fixture();
    const busy = Bun.listen<undefined>({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    blocker = busy;
    expectOneClearLine(await serveFails(["--port", String(busy.port), "--users", t.usersFile], t.root), "already in use");
  });
});

describe("banners", () => {
  test("--welcome @FILE is the 220 greeting and --goodbye TEXT the 221", async () => {
    const t = await fixture();
    const file = join(t.root, "welcome.txt");
    writeFileSync(file, "Welcome to the test archive\nAuthorised use only\n");
    serve = await spawnServe(["--users", t.usersFile, "--welcome", `@${file}`, "--goodbye", "See you later"], { cwd: t.root });
    const w = await Wire.connect(serve.port);
    wires.push(w);
    const hello = await w.read();
    expect(hello?.code).toBe(220);
    expect(hello?.lines.join("\n")).toContain("Welcome to the test archive");
    expect(hello?.lines.join("\n")).toContain("Authorised use only");
    await w.cmd("USER alice");
    expect((await w.cmd("PASS alice-pw")).code).toBe(230);
    const bye = await w.cmd("QUIT");
    expect(bye.code).toBe(221);
    expect(bye.lines.join(" ")).toContain("See you later");
    expect(await w.read()).toBeNull();
  }, 30_000);

  test("--welcome TEXT", async () => {
    const t = await fixture();
    serve = await spawnServe(["--users", t.usersFile, "--welcome", "Hello from ftpkit tests"], { cwd: t.root });
    const w = await Wire.connect(serve.port);
    wires.push(w);
    const hello = await w.read();
    expect(hello?.code).toBe(220);
    expect(hello?.lines.join(" ")).toContain("Hello from ftpkit tests");
  }, 30_000);
});

describe("--port 0", () => {
  test("the URL is the first stdout line even when start-up logs a warning (a users file not created yet)", async () => {
    const t = await fixture();
    const missing = join(t.root, "not-yet.ini");
    serve = await spawnServe(["--users", missing], { cwd: t.root, alsoWaitFor: /not found: no one can log in/ });
    const lines = serve.stdout().split("\n");
    expect(lines[0]).toBe(`ftp://127.0.0.1:${serve.port}/`);
    expect(serve.stdout()).toContain(`users file ${missing} not found`);
  }, 30_000);
});
