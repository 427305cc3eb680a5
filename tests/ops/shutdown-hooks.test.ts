// Hooks still running when `ftpkit serve` stops: killed with their process groups, and said in the log,
// on a clean stop (SIGTERM) and on a second signal that exits at once.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeUsersFile } from "../helpers/users.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { tempDir } from "../tls/helpers.ts";
import { SourcedWire, until } from "./helpers.ts";

const t = cleanedAfterEach();

/** A server whose mkdir hook sleeps for a minute; returns it, logged in, once the hook runs after MKD /d1. */
async function serverWithRunningHook() {
  t.dir = tempDir();
  await makeUsersFile(t.dir, [{ name: "alice", password: "alice-pw" }]);
  const marker = `${1000 + Math.floor(Math.random() * 8000)}.${process.pid}`;
  const script = join(t.dir, "slow.sh");
  writeFileSync(script, `#!/bin/sh\nsleep ${marker}\n`, { mode: 0o755 });
  const srv = await spawnServe(["--users", "users.ini", "--hook", `mkdir=${script}`, "--hook-timeout", "60s", "--shutdown-grace", "1"], { cwd: t.dir });
  t.pid = srv.proc.pid;
  const w = await SourcedWire.connect(srv.port, "127.0.0.1");
  t.wires.push(w);
  expect((await w.login("alice", "alice-pw")).pass?.code).toBe(230);
  expect((await w.cmd("MKD d1"))?.code).toBe(257);
  const sleeping = () => Bun.spawnSync(["pgrep", "-f", `sleep ${marker}`]).stdout.toString().trim();
  await until(() => sleeping() !== "", 10_000, "the hook to run");
  // Killed by PID after the test, whatever it asserted.
  const cleanup = () => {
    for (const pid of sleeping().split("\n").filter(Boolean)) process.kill(Number(pid), "SIGKILL");
  };
  return { srv, sleeping, cleanup };
}

describe("hooks at shutdown", () => {
  test("SIGTERM: a hook still running is killed and the log says which (event, hook, path)", async () => {
    const { srv, sleeping, cleanup } = await serverWithRunningHook();
    try {
      expect(await within(srv.kill("SIGTERM"), 20_000)).toBe(0);
      expect(sleeping()).toBe("");
      expect(srv.stdout()).toMatch(/WARN +hook killed at shutdown hookEvent=mkdir hook=\S+slow\.sh path=\/d1/);
    } finally {
      cleanup();
    }
  }, 30_000);

  test("a second signal exits at once (1), and the running hook does not outlive the server", async () => {
    const { srv, sleeping, cleanup } = await serverWithRunningHook();
    try {
      process.kill(srv.proc.pid, "SIGTERM");
      await until(() => srv.stderr().includes("SIGTERM: stopping") || srv.stdout().includes("SIGTERM: stopping"), 5000, "the first signal to be taken");
      expect(await within(srv.kill("SIGTERM"), 5000)).toBe(1);
      await until(() => sleeping() === "", 3000, "the hook's process to be gone");
      expect(srv.stdout()).toMatch(/hook killed at shutdown hookEvent=mkdir/);
    } finally {
      cleanup();
    }
  }, 30_000);
});

/** `p`, or a rejection after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, Bun.sleep(ms).then(() => Promise.reject(new Error(`not within ${ms} ms`)))]);
}
