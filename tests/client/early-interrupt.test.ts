// Ctrl-C or SIGTERM before a get, put or sync has recorded anything (still connecting, or before the
// job's own handler is installed): one line says nothing was recorded and to run the command again.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, FTPKIT, REPO, runFtpkit, waitFor } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

setDefaultTimeout(30_000); // CLI processes; see BUN-NOTES on the preload

const t = useFakeServerWork();
const procs: Bun.Subprocess[] = [];

afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill(9);
});

/** Read `reader` until `text` has come, or without one to the stream's end; what was read. */
async function readUntil(reader: { read(): Promise<{ value?: Uint8Array; done: boolean }> }, text?: string): Promise<string> {
  let out = "";
  const decoder = new TextDecoder();
  while (text === undefined || !out.includes(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += decoder.decode(value, { stream: true });
  }
  return out;
}

const nothingRecorded = (signal: string) => `interrupted by ${signal} before the job started: nothing was transferred or recorded by this run; run the command again`;

describe("interrupted before anything was recorded", () => {
  for (const [verb, signal, status] of [
    ["get", "SIGINT", 130],
    ["put", "SIGTERM", 143],
    ["sync", "SIGINT", 130],
  ] as const) {
    test(`${verb} backing off from a full server, ${signal}: exit ${status} with the one line, and resume has nothing`, async () => {
      const fake = t.start({ busy: { at: "greeting", times: 99 } });
      writeFileSync(join(t.work, "f.bin"), "data");
      const url = `ftp://u:p@127.0.0.1:${fake.port}`;
      const argv = verb === "get" ? ["get", `${url}/f.bin`] : verb === "put" ? ["put", "f.bin", `${url}/f.bin`] : ["sync", `${url}/d/`, "d"];
      const proc = Bun.spawn(["bun", FTPKIT, ...argv, "--retries", "9"], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      procs.push(proc);
      // The first 421 came: the client backs off, its job's handler in place, no record written.
      await waitFor(() => fake.connections >= 1, 10_000, "the first connection");
      proc.kill(signal);
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(code).toBe(status);
      const lines = stderr.trim().split("\n").filter((l) => !/retrying \(attempt/.test(l));
      expect(lines).toEqual([nothingRecorded(signal)]);
      expect((await runFtpkit(["resume", "--list"], { cwd: t.work })).stdout).toMatch(/^nothing to resume/);
    });
  }

  test("before the job's handler is installed (cli/early-interrupt.ts alone), SIGINT exits 130 with the line", async () => {
    // The module as cli/ftpkit.ts loads it first, for a get; "ready" once it is loaded.
    const script = join(t.work, "early.ts");
    writeFileSync(script, `import ${JSON.stringify(join(REPO, "cli/early-interrupt.ts"))};\nconsole.log("ready");\nawait Bun.sleep(20_000);\n`);
    const proc = Bun.spawn(["bun", script, "get", "ftp://127.0.0.1:1/x"], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    await readUntil(proc.stdout.getReader(), "ready");
    proc.kill("SIGINT");
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(130);
    expect(stderr).toBe(`${nothingRecorded("SIGINT")}\n`);
  });

  test("before the job's handler is installed, a --json run's SIGTERM prints its one report on stdout", async () => {
    const script = join(t.work, "early.ts");
    // "ready" on stderr: stdout carries only the report.
    writeFileSync(script, `import ${JSON.stringify(join(REPO, "cli/early-interrupt.ts"))};\nconsole.error("ready");\nawait Bun.sleep(20_000);\n`);
    const proc = Bun.spawn(["bun", script, "sync", "ftp://127.0.0.1:1/d/", "d", "--json"], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    const reader = proc.stderr.getReader();
    let err = await readUntil(reader, "ready");
    proc.kill("SIGTERM");
    err += await readUntil(reader);
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(143);
    expect(JSON.parse(stdout)).toEqual({ files: [], copied: 0, created: 0, skipped: 0, deleted: 0, failed: 1, bytesMoved: 0, error: "interrupted by SIGTERM" });
    expect(err).toBe(`ready\n${nothingRecorded("SIGTERM")}\n`);
  });

  test("a job interrupted after its record was written still says where to resume", async () => {
    const fake = t.start({ files: new Map([["/f.bin", Buffer.alloc(4_000_000, 1)]]), feat: ["SIZE", "MDTM", "REST STREAM"] });
    const proc = Bun.spawn(["bun", FTPKIT, "get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--limit-rate", "100K"], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    await waitFor(() => fake.commands.some((c) => c.startsWith("RETR")), 10_000, "the RETR");
    proc.kill("SIGINT");
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(130);
    expect(stderr).toContain("interrupted: run `ftpkit resume` here to continue");
    expect(stderr).not.toContain("nothing was transferred");
  });
});
