// startServer's temp directories (its root, the folder of a PEM key) when the script never calls close():
// a process.exit, or a test run stopped by Ctrl-C or SIGTERM, must not leave them in the temp directory.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, cleanEnv, removeDir, tempDir } from "../helpers/peers.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/**
 * Run a script that starts a server with a PEM certificate (two temp directories) under its own
 * TMPDIR, then does `after`; once it has printed "ready", send it `signal` (if any). Returns how it
 * ended, what it printed, and what is left in its TMPDIR. `launcher`: what runs bun (nohup).
 */
async function runScript(after: string, signal?: NodeJS.Signals, launcher: string[] = []) {
  const dir = tempDir("ftpkit-api-tmp-");
  dirs.push(dir);
  const tmp = join(dir, "tmp");
  const script = join(dir, "script.ts");
  writeFileSync(
    script,
    [
      `import { mkdirSync, readFileSync } from "node:fs";`,
      `import { startServer } from ${JSON.stringify(join(REPO, "cli/api.ts"))};`,
      `mkdirSync(${JSON.stringify(tmp)});`,
      `const pem = (f: string) => readFileSync(${JSON.stringify(join(REPO, "fixtures/tls"))} + "/" + f, "utf8");`,
      `const server = await startServer({ users: [{ name: "me", password: "pw" }], tls: { cert: pem("cert.pem"), key: pem("key.pem") } });`,
      after,
      `console.log("ready");`,
    ].join("\n"),
  );
  const proc = Bun.spawn([...launcher, "bun", script], { env: { ...cleanEnv(), TMPDIR: tmp }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  let out = "";
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value, { stream: true });
    if (signal && out.includes("ready\n")) {
      proc.kill(signal);
      signal = undefined;
    }
  }
  await proc.exited;
  clearTimeout(timer);
  return { out, code: proc.exitCode, signal: proc.signalCode, left: readdirSync(tmp) };
}

describe("startServer's temp directories without close()", () => {
  test("a script that calls process.exit leaves none", async () => {
    const r = await runScript(`console.log("ready"); process.exit(0);`);
    expect(r.out).toBe("ready\n");
    expect(r.code).toBe(0);
    expect(r.left).toEqual([]);
  }, 30_000);

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`a script stopped by ${signal} leaves none and still ends by that signal`, async () => {
      const r = await runScript("", signal);
      expect(r.out).toBe("ready\n");
      expect(r.signal).toBe(signal);
      expect(r.left).toEqual([]);
    }, 30_000);
  }

  test("a script's own SIGTERM handler keeps the signal: the server still serves its root until it closes it", async () => {
    const r = await runScript(
      [
        `process.on("SIGTERM", async () => {`,
        `  const { existsSync } = await import("node:fs");`,
        `  console.log("handler root=" + existsSync(server.root));`,
        `  await server.close();`,
        `});`,
      ].join("\n"),
      "SIGTERM",
    );
    expect(r.out).toBe("ready\nhandler root=true\n");
    expect(r.code).toBe(0);
    expect(r.left).toEqual([]);
  }, 30_000);

  test("under nohup, SIGHUP stays ignored while the server runs and after close()", async () => {
    const ignored = `((BigInt("0x" + /SigIgn:\\s*(\\w+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) & 1n) === 1n)`;
    const r = await runScript([`console.log("running " + ${ignored});`, `await server.close();`, `console.log("closed " + ${ignored});`].join("\n"), undefined, ["nohup"]);
    // Before: "running false" and "closed false": a SIGHUP listener, even gone, undid nohup's ignoring.
    expect(r.out).toBe("running true\nclosed true\nready\n");
    expect(r.code).toBe(0);
    expect(r.left).toEqual([]);
  }, 30_000);
});
