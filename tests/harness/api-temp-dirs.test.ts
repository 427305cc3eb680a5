// startServer's temp directories (its root, the folder of a PEM key) when the script never calls close():
// a process.exit, or a test run stopped by Ctrl-C or SIGTERM, must not leave them in the temp directory.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, cleanEnv, removeDir, tempDir, waitFor } from "../helpers/peers.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/**
 * Run a script that starts a server with a PEM certificate (two temp directories) under its own
 * TMPDIR, then does `after`; once it has printed "ready", send it `signal` (if any). Returns how it
 * ended, what it printed, and what is left in its TMPDIR. `launcher`: what runs bun (nohup).
 */
async function runScript(after: string, signal?: NodeJS.Signals, launcher: string[] = [], relativeTmp = false) {
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
  // relativeTmp: TMPDIR as "tmp", the same directory named from the script's working directory.
  const env = { ...cleanEnv(), TMPDIR: relativeTmp ? "tmp" : tmp };
  const proc = Bun.spawn([...launcher, "bun", script], { env, cwd: dir, stdout: "pipe", stderr: "pipe" });
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
  return { out, code: proc.exitCode, signal: proc.signalCode, left: readdirSync(tmp), tmp };
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

  test("a script killed with SIGKILL leaves none: no handler runs, a watcher process removes them", async () => {
    const r = await runScript(`process.kill(process.pid, "SIGKILL");`);
    expect(r.signal).toBe("SIGKILL");
    await waitFor(() => readdirSync(r.tmp).length === 0, 5_000, "the temp directories removed");
  }, 30_000);

  test("close() ends the watcher process: the script has no child left", async () => {
    const children = `readFileSync(\`/proc/\${process.pid}/task/\${process.pid}/children\`, "utf8").trim().split(" ").filter(Boolean).length`;
    const r = await runScript([`console.log("open " + ${children});`, `await server.close();`, `for (const end = Date.now() + 5000; ${children} > 0 && Date.now() < end; ) await Bun.sleep(20);`, `console.log("closed " + ${children});`].join("\n"));
    expect(r.out).toBe("open 1\nclosed 0\nready\n");
    expect(r.left).toEqual([]);
  }, 30_000);

  test("a relative TMPDIR: the root is absolute, and close() after a chdir removes it", async () => {
    // Before: root "tmp/ftpkit-root-…" was removed relative to the new working directory (nothing
    // there), so it stayed, and server.root named another place once the script had moved.
    const r = await runScript([`console.log("absolute " + server.root.startsWith("/"));`, `process.chdir("/");`, `await server.close();`].join("\n"), undefined, [], true);
    expect(r.out).toBe("absolute true\nready\n");
    expect(r.code).toBe(0);
    expect(r.left).toEqual([]);
  }, 30_000);

  test("a bun test run that ends with a server a failed test never closed leaves none", async () => {
    // bun test ends its run without the "exit" event: before, the root and the key's folder stayed.
    const dir = tempDir("ftpkit-api-tmp-");
    dirs.push(dir);
    const tmp = join(dir, "tmp");
    mkdirSync(tmp);
    writeFileSync(
      join(dir, "leak.test.ts"),
      [
        `import { test } from "bun:test";`,
        `import { readFileSync } from "node:fs";`,
        `import { startServer } from ${JSON.stringify(join(REPO, "cli/api.ts"))};`,
        `const pem = (f: string) => readFileSync(${JSON.stringify(join(REPO, "fixtures/tls"))} + "/" + f, "utf8");`,
        `test("fails before close", async () => {`,
        `  await startServer({ users: [{ name: "me", password: "pw" }], tls: { cert: pem("cert.pem"), key: pem("key.pem") } });`,
        `  console.log("started");`,
        `  throw new Error("the test failed");`,
        `});`,
      ].join("\n"),
    );
    const proc = Bun.spawn(["bun", "test", "./leak.test.ts"], { cwd: dir, env: { ...cleanEnv(), TMPDIR: tmp }, stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill(9), 20_000);
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    clearTimeout(timer);
    expect(out).toContain("started");
    expect(proc.exitCode).toBe(1);
    await waitFor(() => readdirSync(tmp).length === 0, 5_000, "the temp directories removed");
  }, 30_000);

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
