// A job's first connection is bounded by --stall-timeout until its session is settled, as its
// reconnections are: a server frozen before its greeting or during the login is given up in seconds
// by every client command, with one line naming the server and what it did not answer.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TCPSocketListener } from "bun";
import { randomBytes } from "node:crypto";
import { runFtpkit } from "../helpers/peers.ts";
import { startFakeServer, useFakeServerWork, type FakeServer } from "./fake-server.ts";

const t = useFakeServerWork();

let silent: TCPSocketListener<undefined> | null = null;
let frozenFake: FakeServer | null = null;
afterEach(() => {
  silent?.stop(true);
  silent = null;
  frozenFake?.stop();
  frozenFake = null;
});

/** A server that accepts connections and never sends a byte (stopped with SIGSTOP, or hung). */
function silentServer(port = 0): number {
  silent = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
  return silent.port;
}

/**
 * The server a command meets: "no greeting" is silentServer, "silent after USER" a fake that greets
 * and then answers nothing. `resume` first leaves a pending download of a server that is then gone,
 * and meets the frozen one on the same port.
 */
async function frozenServerFor(command: string, how: "no greeting" | "silent after USER", work: string): Promise<number> {
  let port = 0;
  if (command === "resume") {
    const dropped = t.start({ files: new Map([["/f.bin", randomBytes(100_000)]]), feat: ["SIZE", "REST STREAM"], dropRetrAfter: 10_000, goneAfterDrop: true });
    port = dropped.port;
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${port}/f.bin`, "--retries", "0"], { cwd: work });
    expect(r.code).toBe(4);
    expect(existsSync(join(work, ".ftpkit"))).toBe(true);
    dropped.stop();
  }
  if (how === "no greeting") return silentServer(port);
  frozenFake = startFakeServer({ port, mutedAfter: 0 });
  return frozenFake.port;
}

const COMMANDS: Record<string, (url: string) => string[]> = {
  get: (url) => ["get", `${url}/f.bin`],
  put: (url) => ["put", "local.bin", `${url}/f.bin`],
  ls: (url) => ["ls", `${url}/`],
  sync: (url) => ["sync", `${url}/`, "mirror"],
  resume: () => ["resume"],
};

describe("a server frozen on the first connection", () => {
  for (const [how, awaited] of [["no greeting", "greeting"], ["silent after USER", "reply to USER"]] as const) {
    for (const [command, args] of Object.entries(COMMANDS)) {
      test(`${command} --stall-timeout 1 against a server with ${how}: exit 4 in seconds, naming the server and the ${awaited}`, async () => {
        writeFileSync(join(t.work, "local.bin"), "local");
        const port = await frozenServerFor(command, how, t.work);
        const started = performance.now();
        const r = await runFtpkit([...args(`ftp://u:p@127.0.0.1:${port}`), "--stall-timeout", "1"], { cwd: t.work, timeoutMs: 15_000 });
        expect(r.stderr).toContain(`timed out waiting for the server's ${awaited} (127.0.0.1:${port}, 1 s)`);
        expect(r.code).toBe(4);
        expect(performance.now() - started).toBeLessThan(8_000);
        if (command === "sync") expect(readdirSync(t.work)).not.toContain("mirror");
      });
    }
  }
});

describe("--stall-timeout and a refused password answered late on purpose", () => {
  test("a 530 that comes 1.5 s after PASS is a refused login (6) under --stall-timeout 1, not a network failure (4)", async () => {
    const fake = t.start({ files: new Map([["/a.txt", Buffer.from("a")]]), password: "right", refusalDelayMs: 1_500 });
    for (const args of [["ls", `ftp://u:wrong@127.0.0.1:${fake.port}/`], ["get", `ftp://u:wrong@127.0.0.1:${fake.port}/a.txt`]]) {
      const r = await runFtpkit([...args, "--stall-timeout", "1"], { cwd: t.work, timeoutMs: 15_000 });
      expect(r.stderr).toContain("Login incorrect.");
      expect(r.code).toBe(6);
    }
  });
});

describe("--stall-timeout and a slow greeting", () => {
  test("a greeting 1.5 s late fails under --stall-timeout 1 and is waited for under --stall-timeout 0 (never: the usual bounds)", async () => {
    const fake = t.start({ files: new Map([["/a.txt", Buffer.from("a")]]), greetingDelayMs: 1_500 });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/`;
    const short = await runFtpkit(["ls", url, "--names", "--stall-timeout", "1"], { cwd: t.work, timeoutMs: 15_000 });
    expect(short.stderr).toContain(`timed out waiting for the server's greeting (127.0.0.1:${fake.port}, 1 s)`);
    expect(short.code).toBe(4);
    const never = await runFtpkit(["ls", url, "--names", "--stall-timeout", "0"], { cwd: t.work, timeoutMs: 15_000 });
    expect(never.stderr).toBe("");
    expect(never.code).toBe(0);
    expect(never.stdout).toBe("a.txt\n");
  });
});
