// `get URL FIFO`: the FIFO is written into (as curl and cp do), and while nobody reads it the wait
// for a reader no longer holds the event loop: SIGTERM and Ctrl-C end the process (143, 130) where
// only kill -9 did (openSync blocked in the kernel's fifo_open).
import { expect, test } from "bun:test";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { cleanEnv, digest, FTPKIT, runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

const t = useFakeServerWork();
const DATA = randomBytes(300_000);

function mkfifo(path: string): void {
  expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
}

/** Read the child's stderr until `pattern` shows in it (bounded by the test's timeout). */
async function stderrUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!pattern.test(text)) {
    const r = await reader.read();
    if (r.done) break;
    text += decoder.decode(r.value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  test(`get into a FIFO nobody reads says it waits for a reader, and ${signal} ends it at once (${code})`, async () => {
    const fake = t.start({ files: new Map([["/f.bin", DATA]]), feat: ["SIZE"] });
    const fifo = join(t.work, "ff");
    mkfifo(fifo);
    const proc = Bun.spawn(["bun", FTPKIT, "get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, fifo], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const killer = setTimeout(() => proc.kill(9), 15_000);
    try {
      const said = await stderrUntil(proc.stderr, /waiting for a reader/);
      expect(said).toContain(`${fifo}: waiting for a reader (a FIFO)`);
      const sent = performance.now();
      proc.kill(signal);
      expect(await proc.exited).toBe(code);
      expect(proc.signalCode).toBeNull(); // ended by its own handler, not by the signal's default action
      expect(performance.now() - sent).toBeLessThan(5_000);
      expect(fake.connections).toBe(0); // nothing was asked of the server while no one read
    } finally {
      clearTimeout(killer);
    }
  });
}

test("get into a FIFO with a reader (cat) delivers the whole file", async () => {
  const fake = t.start({ files: new Map([["/f.bin", DATA]]), feat: ["SIZE"] });
  const fifo = join(t.work, "ff");
  mkfifo(fifo);
  const cat = Bun.spawn(["cat", fifo], { stdout: "pipe", stderr: "ignore" });
  const [r, out] = await Promise.all([
    runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, fifo, "--retries", "0"], { cwd: t.work, timeoutMs: 15_000 }),
    new Response(cat.stdout).bytes(),
  ]);
  expect(r.code).toBe(0);
  expect(await cat.exited).toBe(0);
  expect(digest(Buffer.from(out))).toBe(digest(DATA));
});

test("get into a FIFO whose reader comes later waits for it, then delivers the whole file", async () => {
  const fake = t.start({ files: new Map([["/f.bin", DATA]]), feat: ["SIZE"] });
  const fifo = join(t.work, "ff");
  mkfifo(fifo);
  const proc = Bun.spawn(["bun", FTPKIT, "get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, fifo, "--retries", "0"], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const killer = setTimeout(() => proc.kill(9), 15_000);
  try {
    await stderrUntil(proc.stderr, /waiting for a reader/);
    const cat = Bun.spawn(["cat", fifo], { stdout: "pipe", stderr: "ignore" });
    const out = await new Response(cat.stdout).bytes();
    expect(await proc.exited).toBe(0);
    expect(digest(Buffer.from(out))).toBe(digest(DATA));
  } finally {
    clearTimeout(killer);
  }
});
