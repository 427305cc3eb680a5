// A clean stop ends the log with a line that says so, so an admin can tell it from a stop cut short
// (systemd's SIGKILL once TimeoutStopSec is over), which leaves "stopping" as the last word.
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";

let ts: TestServer | null = null;
let serve: ServeProcess | null = null;

afterEach(async () => {
  await serve?.kill();
  serve = null;
  if (ts) rmSync(ts.root, { recursive: true, force: true });
  await ts?.stop();
  ts = null;
});

async function stopped(args: string[]): Promise<string[]> {
  ts = await startTestServer();
  await ts.server.close(0);
  serve = await spawnServe(["--users", ts.usersFile, ...args], { cwd: ts.root });
  process.kill(serve.proc.pid, "SIGTERM");
  const code = await Promise.race([serve.proc.exited, Bun.sleep(20_000).then(() => -1)]);
  expect(code).toBe(0);
  // The pipe may still hold the last bytes once the process has exited.
  const deadline = performance.now() + 2000;
  while (!/stopped/.test(serve.stdout()) && performance.now() < deadline) await Bun.sleep(20);
  return serve.stdout().trim().split("\n");
}

test("text log: SIGTERM's last line is 'SIGTERM: stopped', one process and --workers 2", async () => {
  for (const extra of [[], ["--workers", "2"]]) {
    const lines = await stopped(extra);
    expect(lines.at(-1)).toMatch(/SIGTERM: stopped$/);
    // Once, as "stopped": under --workers each worker said it too.
    expect(lines.filter((l) => /SIGTERM: stopping \(running transfers may finish within 10 s\)$/.test(l))).toHaveLength(1);
    serve = null;
    if (ts) rmSync(ts.root, { recursive: true, force: true });
    ts = null;
  }
}, 60_000);

test("text log under --workers: a worker's exit is a timed WARN line like the workers' own, not framed in blank lines; the open-file limit said once", async () => {
  ts = await startTestServer();
  await ts.server.close(0);
  serve = await spawnServe(["--users", ts.usersFile, "--workers", "2"], { cwd: ts.root });
  const deadline = performance.now() + 20_000;
  while ((serve.stdout().match(/worker listening/g)?.length ?? 0) < 2 && performance.now() < deadline) await Bun.sleep(20);
  const pid = Number(/worker listening worker=0 pid=(\d+)/.exec(serve.stdout())![1]);
  process.kill(pid, "SIGKILL");
  while (!/worker 0 exited/.test(serve.stdout()) && performance.now() < deadline) await Bun.sleep(20);
  const lines = serve.stdout().split("\n");
  const exit = lines.findIndex((l) => /worker 0 exited/.test(l));
  expect(lines[exit]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z WARN  worker 0 exited \(137\); restarting it in 1 s$/);
  expect(lines[exit - 1]).not.toBe("");
  // Said once at start, not by each worker.
  expect(lines.filter((l) => l.includes("open-file limit"))).toHaveLength(1);
}, 30_000);

test("JSON log: SIGTERM's last record is the event stopped, with its signal, one process and --workers 2", async () => {
  for (const extra of [[], ["--workers", "2"]]) {
    const lines = await stopped(["--log-format", "json", ...extra]);
    const last = JSON.parse(lines.at(-1)!);
    expect(last).toMatchObject({ level: "info", event: "stopped", signal: "SIGTERM" });
    const records = lines.map((l) => JSON.parse(l));
    expect(records.filter((r) => r.event === "stopping")).toEqual([expect.objectContaining({ level: "info", signal: "SIGTERM", graceSec: 10 })]);
    serve = null;
    if (ts) rmSync(ts.root, { recursive: true, force: true });
    ts = null;
  }
}, 60_000);
