// Hook processes and what the log says of hooks: a timed-out hook and what an exited one left running
// are killed with their process groups; a program's arguments and a URL's secrets stay out of the log.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { captureLogger, tempDir } from "../tls/helpers.ts";
import { scrape, until } from "./helpers.ts";

const servers = useServers();
let work = "";
afterEach(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  work = "";
});

describe("hook processes and secrets", () => {
  test("a timed-out hook is killed with everything it started (a shell script's children too)", async () => {
    work = tempDir();
    const marker = `${1000 + Math.floor(Math.random() * 8000)}.${process.pid}`;
    const script = join(work, "slow.sh");
    writeFileSync(script, `#!/bin/sh\nsleep ${marker}\n`, { mode: 0o755 });
    const logger = captureLogger();
    await servers.start({ options: { logger, ops: { hookTimeoutMs: 500, hooks: [{ event: "mkdir", command: script }] } } });
    const w = await servers.login();
    expect((await w.cmd("MKD d1")).code).toBe(257);
    const sleeping = () => Bun.spawnSync(["pgrep", "-f", `sleep ${marker}`]).stdout.toString().trim();
    await until(() => sleeping() !== "", 10_000, "the hook's child to start");
    await until(() => logger.events.some((e) => e.event === "hook timeout"), 10_000, "the hook to time out");
    await until(() => sleeping() === "", 5_000, "the hook's child to be gone");
  });

  test("what an exited hook left running (`cmd &` in a script) is killed at the hook timeout, and logged", async () => {
    work = tempDir();
    const marker = `${1000 + Math.floor(Math.random() * 8000)}.${process.pid}`;
    const script = join(work, "background.sh");
    writeFileSync(script, `#!/bin/sh\nsleep ${marker} &\nexit 0\n`, { mode: 0o755 });
    const logger = captureLogger();
    const sleeping = () => Bun.spawnSync(["pgrep", "-f", `sleep ${marker}`]).stdout.toString().trim();
    try {
      const ts = await servers.start({ options: { logger, ops: { metrics: { host: "127.0.0.1", port: 0 }, hookTimeoutMs: 1000, hooks: [{ event: "mkdir", command: script }] } } });
      const w = await servers.login();
      expect((await w.cmd("MKD d1")).code).toBe(257);
      await until(() => sleeping() !== "", 10_000, "the hook's background child to start");
      // The hook itself succeeded: its exit status decides.
      await until(async () => (await scrape(ts.server.ops.metricsPort!)).get('ftpkit_hooks_total{event="mkdir",result="ok"}') === 1, 10_000, "the hook to count ok");
      await until(() => sleeping() === "", 5_000, "the background child to be killed");
      expect(logger.events.find((e) => e.event === "hook left processes running: killed at the hook timeout")?.fields).toMatchObject({ hookEvent: "mkdir", path: "/d1" });
    } finally {
      for (const pid of sleeping().split("\n").filter(Boolean)) process.kill(Number(pid), "SIGKILL");
    }
  });

  test("process groups exited hooks leave running are bounded (4 per --hook concurrency slot): past that, what a hook leaves is killed at once, and logged", async () => {
    work = tempDir();
    const marker = `${1000 + Math.floor(Math.random() * 8000)}.${process.pid}`;
    const script = join(work, "background.sh");
    writeFileSync(script, `#!/bin/sh\nsleep ${marker} &\nexit 0\n`, { mode: 0o755 });
    const logger = captureLogger();
    const sleeping = () => Bun.spawnSync(["pgrep", "-f", `sleep ${marker}`]).stdout.toString().split("\n").filter(Boolean);
    try {
      const ts = await servers.start({ options: { logger, ops: { metrics: { host: "127.0.0.1", port: 0 }, hookTimeoutMs: 60_000, hookConcurrency: 1, hooks: [{ event: "mkdir", command: script }] } } });
      const w = await servers.login();
      for (let i = 0; i < 8; i++) expect((await w.cmd(`MKD d${i}`)).code).toBe(257);
      await until(async () => (await scrape(ts.server.ops.metricsPort!)).get('ftpkit_hooks_total{event="mkdir",result="ok"}') === 8, 20_000, "the eight hooks to run");
      await until(() => logger.events.filter((e) => e.event === "hook left processes running: killed at once").length === 4, 10_000, "four leftovers killed at once");
      await until(() => sleeping().length === 4, 5_000, "four leftover groups to remain");
      expect(logger.events.find((e) => e.event === "hook left processes running: killed at once")?.fields).toMatchObject({ hookEvent: "mkdir", left_running: 4 });
    } finally {
      for (const pid of sleeping()) process.kill(Number(pid), "SIGKILL");
    }
  });

  test("what left the hook's process group (setsid) keeps no pipe of the server's open past the hook timeout", async () => {
    work = tempDir();
    const marker = `${1000 + Math.floor(Math.random() * 8000)}.${process.pid}`;
    const broken = join(work, "broken");
    const script = join(work, "daemon.sh");
    // A daemon that leaves the group (no group kill reaches it) and keeps the hook's stderr: 1.5 s
    // after the 1 s hook timeout it writes there, and notes whether the server had let the pipe go.
    writeFileSync(script, `#!/bin/sh\nsetsid sh -c 'trap "" PIPE; sleep 2.5; echo late >&2 || touch ${broken}; exec sleep ${marker}' &\nexit 0\n`, { mode: 0o755 });
    const running = () => Bun.spawnSync(["pgrep", "-f", `sleep ${marker}`]).stdout.toString().trim();
    try {
      await servers.start({ options: { ops: { hookTimeoutMs: 1000, hooks: [{ event: "mkdir", command: script }] } } });
      const w = await servers.login();
      expect((await w.cmd("MKD d1")).code).toBe(257);
      await until(() => running() !== "", 10_000, "the daemon to start");
      // Read until the hook's deadline, then closed: else one descriptor per such event stayed open for as long as its daemon ran.
      await until(() => existsSync(broken), 10_000, "the daemon's late write to find the server's end closed");
    } finally {
      for (const pid of running().split("\n").filter(Boolean)) process.kill(Number(pid), "SIGKILL");
    }
  });

  test("a program hook's arguments (a token) stay out of the log; the program is named", async () => {
    const logger = captureLogger();
    await servers.start({ options: { logger, ops: { hooks: [{ event: "mkdir", command: "false --token=Pr0gramS3cret 'Authorization: Bearer B34rerS3cret'" }] } } });
    const w = await servers.login();
    expect((await w.cmd("MKD d1")).code).toBe(257);
    await until(() => logger.events.some((e) => e.event === "hook failed"), 10_000, "the hook to fail");
    expect(JSON.stringify(logger.events)).not.toMatch(/Pr0gramS3cret|B34rerS3cret/);
    expect(logger.events.find((e) => e.event === "hook failed")?.fields).toMatchObject({ hook: "false …", detail: "exit 1" });
  });

  test("a URL hook's password, path and query stay out of the log", async () => {
    const logger = captureLogger();
    const port = 9; // discard: nothing listens, so the hook fails and is logged
    await servers.start({ options: { logger, ops: { hookTimeoutMs: 2000, hooks: [{ event: "mkdir", command: `http://hookuser:S3cretT0ken@127.0.0.1:${port}/services/T0/B1/PathS3cret?token=QueryS3cret` }] } } });
    const w = await servers.login();
    expect((await w.cmd("MKD d1")).code).toBe(257);
    await until(() => logger.events.some((e) => e.event === "hook failed"), 10_000, "the hook to fail");
    const logged = JSON.stringify(logger.events);
    for (const secret of ["S3cretT0ken", "PathS3cret", "QueryS3cret", "hookuser"]) expect(logged).not.toContain(secret);
    expect(logger.events.find((e) => e.event === "hook failed")?.fields).toMatchObject({ hook: `http://…@127.0.0.1:${port}/services/…` });
  });
});
