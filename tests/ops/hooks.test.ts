// --hook: programs get events in FTPKIT_* variables (no shell, hostile names stay inert), URLs get a
// JSON POST, pre-upload can refuse, slow hooks never hold up the session.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import type { HookSpec } from "../../server/ops/options.ts";
import { useServers } from "../helpers/server.ts";
import { captureLogger, tempDir } from "../tls/helpers.ts";
import { scrape, until } from "./helpers.ts";

const servers = useServers();
let work = "";
afterEach(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  work = "";
});

/** Hook programs run with Bun (Python takes seconds to start on a loaded test box). */
const BUN = process.execPath;

/** A hook program that appends its FTPKIT_* environment and argv as one JSON line to argv[1]. */
function dumpScript(dir: string): string {
  const path = join(dir, "dump.js");
  writeFileSync(
    path,
    `const fs = require("node:fs");
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("FTPKIT_")));
fs.appendFileSync(process.argv[2], JSON.stringify({ env, argv: process.argv.slice(2) }) + "\\n");
`,
  );
  return path;
}

function readEvents(file: string): Array<{ env: Record<string, string>; argv: string[] }> {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const HOSTILE = `a b 'c' "d" $(touch PWNED) ; touch PWNED2 \`id\` .txt`;

describe("program hooks", () => {
  test("a hook never gets the server's secrets (the object store's key, a client password); other variables pass", async () => {
    work = tempDir();
    const script = join(work, "secrets.js");
    const out = join(work, "secrets.json");
    writeFileSync(script, `require("node:fs").writeFileSync(process.argv[2], JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(S3_SECRET_ACCESS_KEY|AWS_SECRET_ACCESS_KEY|S3_SESSION_TOKEN|S3_ENDPOINT|FTPKIT_PASSWORD|HOOK_TEST_PLAIN)$/.test(k)))));`);
    const given = { S3_SECRET_ACCESS_KEY: "s3leak", AWS_SECRET_ACCESS_KEY: "awsleak", S3_SESSION_TOKEN: "tok", FTPKIT_PASSWORD: "leaky", S3_ENDPOINT: "http://127.0.0.1:1", HOOK_TEST_PLAIN: "kept" };
    const before = Object.fromEntries(Object.keys(given).map((k) => [k, process.env[k]]));
    Object.assign(process.env, given);
    try {
      await servers.start({ options: { ops: { hooks: [{ event: "login", command: `${BUN} '${script}' '${out}'` }] } } });
      await servers.login();
      await until(() => existsSync(out) && readFileSync(out, "utf8").length > 0, 15_000, "the hook's dump");
      expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ S3_ENDPOINT: "http://127.0.0.1:1", HOOK_TEST_PLAIN: "kept" });
    } finally {
      for (const [k, v] of Object.entries(before)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test("every event reaches its hook in FTPKIT_* variables; a name with spaces, quotes and $(…) runs nothing", async () => {
    work = tempDir();
    const script = dumpScript(work);
    const out = join(work, "events file.jsonl");
    const events = ["upload", "download", "delete", "rename", "mkdir", "rmdir", "login", "login-failed"] as const;
    // The command line is split like a shell would (quotes kept together) but never run by one.
    const hooks: HookSpec[] = events.map((event) => ({ event, command: `${BUN} '${script}' "${out}" --tag=${event}` }));
    const ts = await servers.start({ options: { ops: { hooks } } });
    const bad = await servers.connect();
    expect((await bad.login("alice", "nope")).code).toBe(530);
    const w = await servers.login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    const payload = Buffer.from("hook payload\n");
    expect((await w.transfer(`STOR ${HOSTILE}`, payload)).final?.code).toBe(226);
    expect((await w.transfer(`RETR ${HOSTILE}`)).data.equals(payload)).toBe(true);
    expect((await w.cmd("MKD dir $(x)")).code).toBe(257);
    expect((await w.cmd(`RNFR ${HOSTILE}`)).code).toBe(350);
    expect((await w.cmd("RNTO dir $(x)/moved.txt")).code).toBe(250);
    expect((await w.cmd("DELE dir $(x)/moved.txt")).code).toBe(250);
    expect((await w.cmd("RMD dir $(x)")).code).toBe(250);
    await until(() => readEvents(out).length === events.length, 15_000, "one line per event");

    const byEvent = new Map(readEvents(out).map((e) => [e.env.FTPKIT_EVENT!, e]));
    const home = ts.home("alice");
    const sha = new Bun.CryptoHasher("sha256").update(payload).digest("hex");
    expect(byEvent.get("upload")!.env).toEqual({
      FTPKIT_EVENT: "upload",
      FTPKIT_USER: "alice",
      FTPKIT_PATH: `/${HOSTILE}`,
      FTPKIT_REAL_PATH: join(home, HOSTILE),
      FTPKIT_BYTES: String(payload.length),
      FTPKIT_SHA256: sha,
      FTPKIT_CLIENT_IP: "127.0.0.1",
      FTPKIT_RESULT: "ok",
    });
    expect(byEvent.get("upload")!.argv).toEqual([out, "--tag=upload"]);
    expect(byEvent.get("download")!.env).toMatchObject({ FTPKIT_PATH: `/${HOSTILE}`, FTPKIT_BYTES: String(payload.length), FTPKIT_RESULT: "ok" });
    expect(byEvent.get("rename")!.env).toMatchObject({ FTPKIT_FROM_PATH: `/${HOSTILE}`, FTPKIT_PATH: "/dir $(x)/moved.txt", FTPKIT_REAL_PATH: join(home, "dir $(x)/moved.txt") });
    expect(byEvent.get("delete")!.env).toMatchObject({ FTPKIT_PATH: "/dir $(x)/moved.txt", FTPKIT_BYTES: String(payload.length) });
    expect(byEvent.get("mkdir")!.env).toMatchObject({ FTPKIT_PATH: "/dir $(x)", FTPKIT_REAL_PATH: join(home, "dir $(x)") });
    expect(byEvent.get("rmdir")!.env).toMatchObject({ FTPKIT_PATH: "/dir $(x)" });
    expect(byEvent.get("login")!.env).toMatchObject({ FTPKIT_USER: "alice", FTPKIT_CLIENT_IP: "127.0.0.1", FTPKIT_RESULT: "ok" });
    expect(byEvent.get("login-failed")!.env).toMatchObject({ FTPKIT_USER: "alice", FTPKIT_RESULT: "failed" });
    // Nothing in the names was executed anywhere.
    for (const dir of [work, home, ts.root, process.cwd()]) {
      expect(readdirSync(dir).filter((n) => n.startsWith("PWNED"))).toEqual([]);
    }
  }, 30_000);

  test("an upload refused by its quota at its first chunk: FTPKIT_BYTES is 0 (nothing was stored), the log says what was received", async () => {
    work = tempDir();
    const script = dumpScript(work);
    const out = join(work, "events.jsonl");
    const logger = captureLogger();
    const ts = await servers.start({
      users: [{ name: "qu", password: "qu-pw", quota: 10_000 }],
      options: { logger, ops: { hooks: [{ event: "upload", command: `${BUN} ${script} ${out}` }] } },
    });
    const w = await servers.login("qu", "qu-pw");
    const r = await w.transfer("STOR big.bin", new Uint8Array(50_000).fill(1));
    expect(r.final?.code).toBe(552);
    await until(() => readEvents(out).length === 1, 15_000, "the upload hook");
    // Before: 50000, the bytes received, none of which was stored.
    expect(readEvents(out)[0]!.env).toMatchObject({ FTPKIT_EVENT: "upload", FTPKIT_BYTES: "0", FTPKIT_RESULT: "quota" });
    expect(statSync(join(ts.home("qu"), "big.bin"), { throwIfNoEntry: false })?.size ?? 0).toBe(0);
    const logged = logger.events.find((e) => e.event === "transfer")?.fields;
    expect(logged).toMatchObject({ bytes: 0, result: "quota" });
    expect(Number(logged?.received)).toBeGreaterThan(10_000);
  }, 30_000);

  test("a URL hook gets the same fields as a JSON POST", async () => {
    const posts: Array<Record<string, unknown>> = [];
    const http = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        posts.push({ method: req.method, type: req.headers.get("content-type"), ...((await req.json()) as Record<string, unknown>) });
        return new Response("ok");
      },
    });
    try {
      await servers.start({ options: { ops: { hooks: [{ event: "upload", command: `http://127.0.0.1:${http.port}/ftp-event` }] } } });
      const w = await servers.login();
      expect((await w.transfer(`STOR ${HOSTILE}`, Buffer.from("x"))).final?.code).toBe(226);
      await until(() => posts.length === 1, 10_000, "the POST");
      expect(posts[0]).toMatchObject({ method: "POST", type: "application/json", event: "upload", user: "alice", path: `/${HOSTILE}`, bytes: 1, clientIp: "127.0.0.1", result: "ok" });
    } finally {
      http.stop(true);
    }
  });

  test("a URL hook that answers with an endless body: its status decides at once, the body is not read (memory stays flat)", async () => {
    // A hostile or broken endpoint: 2xx or 403, then bytes without end (capped at 256 MiB here, then
    // silent, so that a server reading the body whole costs a test run only that much).
    const CAP = 256 * 1024 * 1024;
    let status = 200;
    let pulled = 0;
    let cancels = 0;
    const http = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        await req.arrayBuffer();
        const chunk = new Uint8Array(64 * 1024).fill(120);
        const body = new ReadableStream(
          {
            async pull(c) {
              if (pulled >= CAP) return Bun.sleep(60_000);
              c.enqueue(chunk.slice());
              pulled += chunk.length;
            },
            cancel() {
              cancels++;
            },
          },
          { highWaterMark: 1 },
        );
        return new Response(body, { status });
      },
    });
    const logger = captureLogger();
    let peak = 0;
    const base = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss - base)), 10);
    try {
      const ts = await servers.start({ options: { logger, ops: { hookTimeoutMs: 10_000, hooks: [{ event: "pre-upload", command: `http://127.0.0.1:${http.port}/gate` }] } } });
      const w = await servers.login();
      let started = Date.now();
      // 2xx is success (README): the upload goes through without waiting for the body or the timeout.
      const ok = await w.transfer("STOR a.txt", Buffer.from("fine"));
      expect([ok.first.code, ok.final?.code]).toEqual([150, 226]);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(readFileSync(join(ts.home("alice"), "a.txt"), "utf8")).toBe("fine");
      status = 403;
      started = Date.now();
      expect((await w.transfer("STOR b.txt", Buffer.from("no"))).first.code).toBe(550);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(logger.events.find((e) => e.event === "upload refused by pre-upload hook")?.fields).toMatchObject({ result: "failed", detail: "HTTP 403" });
      // Both bodies were given up: the endpoint saw them cancelled, having sent no more than socket buffers hold.
      await until(() => cancels === 2, 5000, "both bodies cancelled");
      const sent = pulled;
      await Bun.sleep(200);
      expect(pulled).toBe(sent);
      expect(pulled).toBeLessThan(64 * 1024 * 1024);
      expect(peak).toBeLessThan(128 * 1024 * 1024);
    } finally {
      clearInterval(sampler);
      http.stop(true);
    }
  }, 30_000);
});

describe("upload hooks and killed clients", () => {
  test("a client that dies mid-upload of a new file: the hook says aborted, and the bytes stay for a resume", async () => {
    work = tempDir();
    const script = dumpScript(work);
    const out = join(work, "events.jsonl");
    const ts = await servers.start({ options: { ops: { hooks: [{ event: "upload", command: `${BUN} '${script}' "${out}"` }] } } });
    const w = await servers.login();
    const data = await Bun.connect({ hostname: "127.0.0.1", port: parseEpsvReply((await w.cmd("EPSV")).lines[0]!), socket: { data() {} } });
    expect((await w.cmd("STOR partial.bin")).code).toBe(150);
    const sent = new Uint8Array(64 * 1024).fill(7);
    data.write(sent);
    const target = join(ts.home("alice"), "partial.bin");
    await until(() => existsSync(target) && statSync(target).size === sent.length, 5000, "the bytes on disk");
    // How a killed process ends: its kernel closes the data connection (a FIN, like a finished
    // upload), then, after being scheduled out for a moment, the control connection.
    data.end();
    await Bun.sleep(2);
    w.close();
    await until(() => readEvents(out).length === 1, 15_000, "the upload hook");
    expect(readEvents(out)[0]!.env).toMatchObject({ FTPKIT_EVENT: "upload", FTPKIT_PATH: "/partial.bin", FTPKIT_RESULT: "aborted" });
    expect(readFileSync(target).equals(Buffer.from(sent))).toBe(true);
  });
});

describe("pre-upload", () => {
  test("a refusing hook answers 550 and stores nothing (neither a new file nor over an old one); others go through", async () => {
    work = tempDir();
    const script = join(work, "gate.js");
    writeFileSync(script, `process.exit(process.env.FTPKIT_PATH.includes("secret") ? 1 : 0);\n`);
    const ts = await servers.start({ options: { ops: { hooks: [{ event: "pre-upload", command: `${BUN} ${script}` }] } } });
    writeFileSync(join(ts.home("alice"), "secret-old.txt"), "old content");
    const w = await servers.login();
    const refused = await w.transfer("STOR secret-new.txt", Buffer.from("new"));
    expect(refused.first.code).toBe(550);
    expect((await w.transfer("STOR secret-old.txt", Buffer.from("new"))).first.code).toBe(550);
    expect((await w.transfer("APPE secret-old.txt", Buffer.from("more"))).first.code).toBe(550);
    expect(readdirSync(ts.home("alice")).filter((n) => n.includes("secret") || n.startsWith(".ftpkit-upload"))).toEqual(["secret-old.txt"]);
    expect(readFileSync(join(ts.home("alice"), "secret-old.txt"), "utf8")).toBe("old content");
    expect((await w.transfer("STOR public.txt", Buffer.from("fine"))).final?.code).toBe(226);
    expect(readFileSync(join(ts.home("alice"), "public.txt"), "utf8")).toBe("fine");
  });

  test("a pre-upload hook that times out refuses the upload", async () => {
    const logger = captureLogger();
    const ts = await servers.start({ options: { logger, ops: { hookTimeoutMs: 300, hooks: [{ event: "pre-upload", command: "sleep 10" }] } } });
    const w = await servers.login();
    expect((await w.transfer("STOR slow.txt", Buffer.from("x"))).first.code).toBe(550);
    expect(existsSync(join(ts.home("alice"), "slow.txt"))).toBe(false);
    expect(logger.events.find((e) => e.event === "upload refused by pre-upload hook")?.fields).toMatchObject({ result: "timeout", path: "/slow.txt" });
  });

  test("a pre-upload hook's no is logged as info; one that can no longer run (no longer executable, removed) as a warning", async () => {
    work = tempDir();
    const script = join(work, "gate.sh");
    writeFileSync(script, `#!/bin/sh\ncase "$FTPKIT_PATH" in *secret*) exit 1;; esac\n`, { mode: 0o755 });
    const lines: Array<{ level: string; event: string; fields: Record<string, unknown> }> = [];
    const at = (level: string) => (event: string, fields: Record<string, unknown> = {}) => void lines.push({ level, event, fields });
    const logger = { info: at("info"), warn: at("warn"), error: at("error") };
    const ts = await servers.start({ options: { logger, ops: { hooks: [{ event: "pre-upload", command: script }] } } });
    const w = await servers.login();
    const refusals = () => lines.filter((l) => l.event === "upload refused by pre-upload hook");
    expect((await w.transfer("STOR secret.txt", Buffer.from("x"))).first.code).toBe(550);
    expect(refusals().at(-1)).toMatchObject({ level: "info", fields: { path: "/secret.txt", result: "failed", detail: "exit 1" } });
    chmodSync(script, 0o644);
    expect((await w.transfer("STOR a.txt", Buffer.from("x"))).first.code).toBe(550);
    expect(refusals().at(-1)).toMatchObject({ level: "warn", fields: { path: "/a.txt", result: "failed" } });
    expect(String(refusals().at(-1)!.fields.detail)).toContain("EACCES");
    rmSync(script);
    expect((await w.transfer("STOR b.txt", Buffer.from("x"))).first.code).toBe(550);
    expect(refusals().at(-1)).toMatchObject({ level: "warn", fields: { path: "/b.txt" } });
    expect(String(refusals().at(-1)!.fields.detail)).toContain("ENOENT");
    expect(["secret.txt", "a.txt", "b.txt"].filter((n) => existsSync(join(ts.home("alice"), n)))).toEqual([]);
  });

  // A client that sent STOR and hung up kept its pre-upload hook running until the hook timeout, past
  // every connection limit (its session was gone): 600 such STORs in 2 s left 600 hook processes.
  test("a pre-upload hook is killed when its client hangs up; clients that keep doing so leave no process running", async () => {
    work = tempDir();
    const marker = `${1000 + Math.floor(Math.random() * 8000)}.${process.pid}`;
    const script = join(work, "scan.sh");
    writeFileSync(script, `#!/bin/sh\nsleep ${marker}\n`, { mode: 0o755 });
    const logger = captureLogger();
    const ts = await servers.start({ options: { logger, ops: { hookTimeoutMs: 60_000, hooks: [{ event: "pre-upload", command: script }] } } });
    const sleeping = () => Bun.spawnSync(["pgrep", "-f", `sleep ${marker}`]).stdout.toString().trim().split("\n").filter((l) => l).length;
    // The first client waits until its hook runs, then hangs up.
    const first = await servers.login();
    await first.cmd("EPSV");
    first.raw("STOR scan-0.bin\r\n");
    await until(() => sleeping() === 1, 10_000, "the first hook to run");
    first.close();
    await until(() => sleeping() === 0, 5_000, "the first hook to be killed");
    // Twenty more send STOR and hang up at once.
    for (let i = 1; i <= 20; i++) {
      const w = await servers.login();
      await w.cmd("EPSV");
      w.raw(`STOR scan-${i}.bin\r\n`);
      w.close();
    }
    await until(() => ts.server.context.sessions.size === 0, 5_000, "their sessions to end");
    await until(() => sleeping() === 0, 5_000, "no hook process left");
    expect(logger.events.filter((e) => e.event === "upload refused by pre-upload hook").length).toBeGreaterThan(0);
  }, 30_000);
});

describe("a flood of one event", () => {
  test("cannot get another event's hooks dropped: failed logins anyone can cause do not crowd out the upload scan", async () => {
    work = tempDir();
    const script = dumpScript(work);
    const out = join(work, "uploads.jsonl");
    const logger = captureLogger();
    const ts = await servers.start({
      options: {
        logger,
        ops: {
          metrics: { host: "127.0.0.1", port: 0 },
          hookTimeoutMs: 4000, // outlasts the five failures (each waits longer than the one before)
          hookConcurrency: 1,
          hookQueueSize: 2,
          hooks: [
            { event: "login-failed", command: "sleep 10" }, // a slow alerting endpoint
            { event: "upload", command: `${BUN} ${script} ${out}` },
          ],
        },
      },
    });
    const port = ts.server.ops.metricsPort!;
    // Five failures: one hook runs, two wait, two are dropped.
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const bad = await servers.connect();
        expect((await bad.login("alice", "nope")).code).toBe(530);
        bad.close();
      }),
    );
    expect((await scrape(port)).get("ftpkit_hook_queue_dropped_total")).toBe(2);
    const w = await servers.login();
    expect((await w.transfer("STOR malware.exe", Buffer.from("EICAR"))).final?.code).toBe(226);
    // The upload's hook waits its turn (after the running one times out), it is not dropped.
    expect((await scrape(port)).get("ftpkit_hook_queue_dropped_total")).toBe(2);
    await until(() => readEvents(out).length === 1, 15_000, "the upload hook");
    expect(readEvents(out)[0]!.env).toMatchObject({ FTPKIT_EVENT: "upload", FTPKIT_PATH: "/malware.exe" });
  }, 30_000);
});

describe("hooks of one event that hang", () => {
  test("never hold every slot: an upload's hook runs while download hooks hang", async () => {
    work = tempDir();
    const script = dumpScript(work);
    const out = join(work, "uploads.jsonl");
    const marker = `${1000 + Math.floor(Math.random() * 8000)}.${process.pid}`;
    const sleeping = () => Bun.spawnSync(["pgrep", "-f", `sleep ${marker}`]).stdout.toString().trim().split("\n").filter((l) => l).length;
    await servers.start({
      options: {
        ops: {
          hookTimeoutMs: 60_000,
          hookConcurrency: 2,
          hooks: [
            { event: "download", command: `sleep ${marker}` }, // hangs past the test
            { event: "upload", command: `${BUN} ${script} ${out}` },
          ],
        },
      },
    });
    const w = await servers.login();
    for (let i = 0; i < 3; i++) expect((await w.transfer("RETR hello.txt")).final?.code).toBe(226);
    await until(() => sleeping() === 1, 10_000, "a download hook to run");
    expect((await w.transfer("STOR scanned.txt", Buffer.from("x"))).final?.code).toBe(226);
    // Before: both slots held by download hooks, the upload hook waited the whole hook timeout.
    await until(() => readEvents(out).length === 1, 10_000, "the upload hook");
    expect(sleeping()).toBe(1);
    await servers.server.server.close(0);
    await until(() => sleeping() === 0, 10_000, "the download hooks to be killed at shutdown");
  }, 40_000);
});

describe("slow and failing post-event hooks", () => {
  test("never hold up the session: a full queue drops (logged, counted), timeouts and failures are logged", async () => {
    const logger = captureLogger();
    const ts = await servers.start({
      options: {
        logger,
        ops: {
          metrics: { host: "127.0.0.1", port: 0 },
          hookTimeoutMs: 1500, // long enough for five commands to be answered first on a busy machine
          hookConcurrency: 1,
          hookQueueSize: 1,
          hooks: [
            { event: "mkdir", command: "sleep 10" },
            { event: "rmdir", command: "false" },
          ],
        },
      },
    });
    const w = await servers.login();
    // Four MKDs answered while the first hook is still sleeping: one runs, one waits, two are dropped.
    for (const d of ["d1", "d2", "d3", "d4"]) expect((await w.cmd(`MKD ${d}`)).code).toBe(257);
    expect(logger.events.some((e) => e.event === "hook timeout")).toBe(false);
    expect((await w.cmd("RMD d4")).code).toBe(250); // queued: rmdir has its own queue, which mkdir events cannot fill
    const port = ts.server.ops.metricsPort!;
    await until(async () => (await scrape(port)).get('ftpkit_hooks_total{event="mkdir",result="timeout"}') === 2, 15_000, "both mkdir hooks to time out");
    const m = await scrape(port);
    expect(m.get("ftpkit_hook_queue_dropped_total")).toBe(2);
    expect(logger.events.find((e) => e.event === "hook queue full: event dropped")?.fields).toMatchObject({ hookEvent: "mkdir" });
    expect(logger.events.find((e) => e.event === "hook timeout")?.fields).toMatchObject({ hookEvent: "mkdir", hook: "sleep …", path: "/d1" });
    // A failing hook (RMD d4's): logged with its exit status.
    await until(() => logger.events.some((e) => e.event === "hook failed"), 10_000, "the failing rmdir hook");
    expect(logger.events.find((e) => e.event === "hook failed")?.fields).toMatchObject({ hookEvent: "rmdir", detail: "exit 1" });
  }, 30_000);
});
