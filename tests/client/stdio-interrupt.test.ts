// Ctrl-C or SIGTERM during `put - URL` or `get URL -`: the upload's data connection is reset, so
// the server does not take what arrived for a complete file (a FIN would say the input ended), and
// each prints one line saying what was cut short. Against `ftpkit serve --xferlog`, whose log line
// says whether the server counted the upload complete ("c") or incomplete ("i").
import { afterAll, afterEach, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { startFakeServer } from "./fake-server.ts";
import type { FakeServer } from "./fake-server-options.ts";
import { cleanEnv, digest, FTPKIT, randomFile, removeDir, spawnFtpkit, startFtpkitServer, tempDir, waitFor, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000);

let server: FtpkitPeer;
let logDir: string;
let xferlog: string;
let work: string;
const procs: { kill(sig?: number): void }[] = [];

beforeAll(async () => {
  logDir = tempDir("ftpkit-xferlog-");
  xferlog = join(logDir, "xferlog");
  server = await startFtpkitServer({ args: ["--xferlog", xferlog] });
  work = tempDir();
});

afterAll(async () => {
  await server.stop();
  removeDir(work);
  removeDir(logDir);
});

let cleanupFake: FakeServer | null = null;
afterEach(() => {
  for (const p of procs.splice(0)) p.kill(9);
  cleanupFake?.stop();
  cleanupFake = null;
});

/** The xferlog line of the transfer of `name`, once the server has written it. */
async function loggedTransfer(name: string): Promise<string[]> {
  let line: string | undefined;
  await waitFor(() => (line = existsSync(xferlog) ? readFileSync(xferlog, "utf8").split("\n").find((l) => l.includes(` /${name} `)) : undefined) !== undefined, 10_000, `the xferlog line of ${name}`);
  return line!.split(" ");
}

describe("put - interrupted", () => {
  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    test(`${signal}: exit ${status}, the data connection is reset (the server logs the upload incomplete), one line says so`, async () => {
      const name = `cut-${signal}.bin`;
      const proc = Bun.spawn(["bun", FTPKIT, "put", "-", server.url(`/${name}`)], { cwd: work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      procs.push(proc);
      const first = Buffer.alloc(300_000, 0x61);
      proc.stdin.write(first);
      proc.stdin.flush();
      // The writer pauses (a dump still computing) with its bytes at the server: then the signal.
      const path = join(server.home, name);
      await waitFor(() => existsSync(path) && statSync(path).size === first.length, 10_000, "the first bytes to reach the server");
      proc.kill(signal);
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(code).toBe(status);
      const lines = stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toBe(`put - interrupted by ${signal} after 300000 bytes of standard input: the upload was reset, so the server stored no complete /${name} (it may keep the bytes it got); run the command again`);
      const fields = await loggedTransfer(name);
      expect(fields.at(-1)).toBe("i"); // incomplete: a FIN would have made it "c", a finished upload
    });
  }

  test("an existing file is not replaced by the part that arrived", async () => {
    const old = randomFile(join(server.home, "keep.bin"), 100_000);
    const proc = Bun.spawn(["bun", FTPKIT, "put", "-", server.url("/keep.bin")], { cwd: work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    proc.stdin.write(Buffer.alloc(300_000, 0x62));
    proc.stdin.flush();
    // An overwrite is written to a temp file beside the home (renamed over the file only when complete).
    const temp = join(server.home, ".ftpkit-tmp");
    const arrived = () => existsSync(temp) && readdirSync(temp).some((n) => statSync(join(temp, n)).size === 300_000);
    await waitFor(arrived, 10_000, "the first bytes to reach the server");
    proc.kill("SIGINT");
    const code = await proc.exited;
    expect(code).toBe(130);
    expect((await loggedTransfer("keep.bin")).at(-1)).toBe("i");
    expect(digest(readFileSync(join(server.home, "keep.bin")))).toBe(digest(old));
  });
});

describe("put - interrupted once all was sent", () => {
  test("the line says the bytes went out and the server's check is what was missed", async () => {
    const fake = startFakeServer({ feat: ["SIZE", "HASH SHA-256*"], slowHashMs: 20_000 });
    cleanupFake = fake;
    const proc = Bun.spawn(["bun", FTPKIT, "put", "-", `ftp://u:p@127.0.0.1:${fake.port}/whole.bin`], { cwd: work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    procs.push(proc);
    proc.stdin.write(Buffer.alloc(50_000, 0x63));
    proc.stdin.end();
    await waitFor(() => fake.commands.some((c) => c.startsWith("HASH ")), 10_000, "the client to ask for the digest");
    proc.kill("SIGINT");
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(130);
    expect(stderr.trim()).toBe("put - interrupted by SIGINT after all 50000 bytes of standard input were sent, before the server confirmed /whole.bin: check it, or run the command again");
    expect(fake.files.get("/whole.bin")?.length).toBe(50_000);
  });
});

describe("get URL - interrupted", () => {
  test("SIGINT: exit 130 and one line saying standard output got only part of the file", async () => {
    randomFile(join(server.home, "big.bin"), 8 * 1024 * 1024);
    // Rate-limited, so the download is under way for seconds while the reader reads on (a reader
    // that stops reading holds the client in its write to the pipe, where no signal handler runs).
    const proc = spawnFtpkit(["get", server.url("/big.bin"), "-", "--limit-rate", "1M"], { cwd: work });
    procs.push(proc);
    let got = 0;
    let firstBytes!: () => void;
    const arrived = new Promise<void>((resolve) => (firstBytes = resolve));
    const reading = (async () => {
      for await (const chunk of proc.stdout) {
        got += chunk.length;
        firstBytes();
      }
    })();
    await arrived;
    proc.kill("SIGINT");
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited, reading]);
    expect(code).toBe(130);
    expect(got).toBeLessThan(8 * 1024 * 1024);
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^get - interrupted by SIGINT after \\d+ bytes: standard output has only part of ftp://user@127\\.0\\.0\\.1:${server.port}/big\\.bin \\(8388608 bytes\\)$`));
  });
});

describe("a stream interrupted before its session is up (a full server's 421, backing off)", () => {
  for (const verb of ["get", "put"] as const) {
    test(`${verb}: exit 130 with one line saying nothing moved, not a silent exit`, async () => {
      const fake = startFakeServer({ busy: { at: "greeting", times: 99 } });
      cleanupFake = fake;
      const url = `ftp://u:p@127.0.0.1:${fake.port}/s.bin`;
      const argv = verb === "get" ? ["get", url, "-", "--retries", "9"] : ["put", "-", url, "--retries", "9"];
      const proc = Bun.spawn(["bun", FTPKIT, ...argv], { cwd: work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      procs.push(proc);
      // The first 421 came: the client, its handlers in place since before it connected, backs off.
      await waitFor(() => fake.connections >= 1, 10_000, "the first connection");
      proc.kill("SIGINT");
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(code).toBe(130);
      const lines = stderr.trim().split("\n").filter((l) => !/retrying \(attempt/.test(l));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toBe(
        verb === "get"
          ? `get - interrupted by SIGINT while connecting, before any byte of ftp://u@127.0.0.1:${fake.port}/s.bin: standard output got nothing`
          : `put - interrupted by SIGINT while connecting, before any byte of standard input was sent: nothing of it reached ftp://u@127.0.0.1:${fake.port}/s.bin; run the command again`,
      );
    });
  }
});
