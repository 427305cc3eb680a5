// A server whose standard output stops being read (journald stalled, a pipe's consumer stopped, a
// terminal paused with Ctrl-S) keeps a bounded backlog of log lines and drops the rest, counted:
// Bun's process.stdout holds whatever is not taken, and clients choose how many lines a server
// writes (every connection, login and failure is one).
import { expect, test } from "bun:test";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, LOG_BACKLOG_MAX } from "../../server/log.ts";
import { workerOutput } from "../../cli/commands/serve-workers.ts";

const LOG_TS = join(import.meta.dir, "../../server/log.ts");

test("500,000 lines into a standard output nobody reads grow the process by the backlog cap, not by the lines; once read again, one line says how many were dropped", async () => {
  // The child logs through the server's logger into a pipe this test does not read, reports its
  // memory growth on stderr, waits until the pipe is read again, and logs one line more.
  const script = `
    import { createLogger } from ${JSON.stringify(LOG_TS)};
    const log = createLogger("text");
    let before = 0;
    for (let i = 0; i < 500_000; i++) {
      log.info("session start", { session: i, ip: "127.0.0.1", note: "x".repeat(40) });
      if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
      // Growth is measured after the first 100,000 lines (8 MB): the allocator's warm-up is not the backlog.
      if (i === 100_000) {
        Bun.gc(true);
        before = process.memoryUsage().rss;
      }
    }
    await Bun.sleep(50);
    Bun.gc(true);
    console.error("grew " + (process.memoryUsage().rss - before));
    // Read again: wait until the output has taken what it held, then one more line.
    await new Promise((r) => process.stdout.write("\\n", r));
    log.info("after");
    await Bun.sleep(50);
    log.flush();
    await new Promise((r) => process.stdout.write("\\n", r));
    process.exit(0);
  `;
  // Standard output is a FIFO this test holds open and does not read until the child has reported.
  const dir = mkdtempSync(join(tmpdir(), "ftpkit-log-"));
  const fifo = join(dir, "out");
  Bun.spawnSync(["mkfifo", fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  const child = Bun.spawn(["bun", "-e", script], { stdout: writer, stderr: "pipe" });
  closeSync(writer);
  try {
    const err = child.stderr.getReader();
    let said = "";
    const deadline = Date.now() + 60_000;
    while (!/grew (-?\d+)/.test(said) && Date.now() < deadline) {
      const { value, done } = await err.read();
      if (done) break;
      said += new TextDecoder().decode(value);
    }
    const grew = Number(/grew (-?\d+)/.exec(said)?.[1] ?? NaN);
    // 400,000 lines (~34 MB) after the measure began: the backlog is LOG_BACKLOG_MAX characters at most (ASCII: bytes).
    expect(grew).toBeLessThan(LOG_BACKLOG_MAX * 2);
    // Read it all now, until the child exits (EOF).
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    while (Date.now() < deadline) {
      let n: number;
      try {
        n = readSync(reader, buf);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        await Bun.sleep(5);
        continue;
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    expect(await child.exited).toBe(0);
    const lines = Buffer.concat(chunks).toString().split("\n").filter((l) => l);
    const notice = lines.find((l) => l.includes("log lines dropped"));
    expect(notice).toBeDefined();
    const dropped = Number(/count=(\d+)/.exec(notice!)?.[1]);
    const started = lines.filter((l) => l.includes("session start")).length;
    expect(dropped).toBeGreaterThan(0);
    expect(started + dropped).toBe(500_000);
    expect(lines.at(-1)).toContain("after");
  } finally {
    child.kill();
    closeSync(reader);
    rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);

test("a sink that only counts what it is given (no callbacks, never backed up) gets every line", async () => {
  let text = "";
  const log = createLogger("text", false, { write: (s: string) => (text += s) }, 1000);
  for (let i = 0; i < 200; i++) log.info("line", { i });
  log.flush!();
  expect(text.split("\n").filter((l) => l)).toHaveLength(200);
});

test("a backed-up stream gets one write at a time; meanwhile at most the cap waits, and the lines beyond it are counted in one line once it takes text again", async () => {
  const held: Array<() => void> = [];
  const writes: string[] = [];
  const out = {
    write(s: string, done?: () => void) {
      writes.push(s);
      held.push(() => done?.());
      return false;
    },
  };
  const log = createLogger("json", false, out, 10_000);
  const turn = () => new Promise((r) => setImmediate(r));
  for (let i = 0; i < 5000; i++) {
    log.info("line", { i });
    if (i % 100 === 99) await turn();
  }
  await turn();
  expect(writes).toHaveLength(1); // the first turn's lines; the rest waits for its callback
  const release = async () => {
    while (held.length) {
      held.shift()!();
      await turn();
    }
  };
  await release();
  log.info("after");
  await turn();
  await release();
  for (const w of writes) expect(w.length).toBeLessThan(10_000 + 100);
  const records = writes.join("").split("\n").filter((l) => l).map((l) => JSON.parse(l) as { event: string; count?: number });
  const notice = records.find((r) => r.event === "log lines dropped");
  expect(notice?.count).toBeGreaterThan(0);
  expect(records.filter((r) => r.event === "line").length + notice!.count!).toBe(5000);
  expect(records.at(-1)?.event).toBe("after");
});

test("serve --workers: the primary reads a worker's output no faster than its own standard output takes it", async () => {
  let pulled = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled === 1000) return controller.close();
      pulled++;
      controller.enqueue(new TextEncoder().encode(`line ${pulled}\n`));
    },
  });
  const held: Array<() => void> = [];
  let text = "";
  const relay = workerOutput(false, {
    write(bytes: Uint8Array, done?: () => void) {
      text += new TextDecoder().decode(bytes);
      held.push(() => done?.());
      return false;
    },
  });
  relay.add(source);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  // Standard output took one line and has not said it is out: the worker's output waits in its pipe.
  expect(text).toBe("line 1\n");
  expect(pulled).toBeLessThan(5);
  for (let turns = 0; turns < 20_000 && text.split("\n").length <= 1000; turns++) {
    const next = held.shift();
    if (next) next();
    await new Promise((r) => setImmediate(r));
  }
  expect(text.split("\n").filter((l) => l)).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i + 1}`));
});

test("a JSON line's field named like its own keys (a hook's event) is written under another name: one \"event\", the line's", async () => {
  let text = "";
  const log = createLogger("json", false, { write: (s: string) => (text += s) });
  log.warn("hook failed", { event: "download", time: 5, level: "x", hook: "./fail.sh" });
  await new Promise((r) => setImmediate(r));
  const line = text.trim();
  expect(line.match(/"event":/g)).toHaveLength(1);
  expect(JSON.parse(line)).toMatchObject({ level: "warn", event: "hook failed", eventField: "download", timeField: 5, levelField: "x", hook: "./fail.sh" });
});
