// A log on a disk that fills up: a write the disk cut short (part taken, the rest refused with ENOSPC)
// must not glue its piece to the first line written once there is room again.
import { expect, test } from "bun:test";
import { createConsola } from "consola";
import { createLogger, logStream } from "../../server/log.ts";
import { workerOutput } from "../../cli/commands/serve-workers.ts";

/** A file on a disk with `room` bytes left: a write takes what fits, and refuses the rest with ENOSPC, as Bun's stdout does (measured). */
function fullDisk(room: number) {
  const taken: Buffer[] = [];
  return {
    text: () => Buffer.concat(taken).toString(),
    free: (bytes: number) => void (room += bytes),
    write(s: string | Uint8Array, done?: (err?: Error | null) => void): boolean {
      const b = typeof s === "string" ? Buffer.from(s) : Buffer.from(s);
      const n = Math.min(room, b.length);
      taken.push(b.subarray(0, n));
      room -= n;
      const err = n < b.length ? Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }) : null;
      setImmediate(() => done?.(err));
      return err === null;
    },
  };
}

/** consola's basic reporter (one "[info] …" line per message) writing to `stream` (`fancy` is read by its node entry; the types lack it). */
function consolaTo(stream: unknown) {
  const options = { fancy: false, level: 3, stdout: stream as NodeJS.WriteStream }; // level: under bun test consola shows only warnings
  return createConsola(options);
}

const turn = () => new Promise((r) => setImmediate(r));
const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  event n=\d+ pad=x+ tail=end$/;

test("the logger: the line a full disk cut is ended before the lines written once there is room, none glued to it", async () => {
  // 1,000 bytes of room: the first batch of 20 lines (155 to 161 bytes) is cut inside its 7th line's pad.
  const disk = fullDisk(1000);
  const log = createLogger("text", false, disk);
  let n = 0;
  const batch = async () => {
    for (let i = 0; i < 20; i++, n++) log.info("event", { n, pad: "x".repeat(100 + (n % 7)), tail: "end" });
    await turn();
    await turn();
  };
  await batch();
  await batch(); // still full: refused whole
  disk.free(1 << 20);
  await batch();
  await batch();
  const lines = disk.text().split("\n");
  expect(lines.pop()).toBe(""); // the last line is ended
  // The cut piece stands alone on its line; every other line is whole.
  const broken = lines.filter((l) => !LINE.test(l));
  expect(broken).toHaveLength(1);
  expect(broken[0]).toMatch(/^\d{4}-\S+ INFO  event n=6 pad=x{10}$/);
  expect(lines.filter((l) => LINE.test(l)).map((l) => Number(/n=(\d+)/.exec(l)![1]))).toEqual([0, 1, 2, 3, 4, 5, ...Array.from({ length: 40 }, (_, i) => 40 + i)]);
});

test("--workers: the primary relaying the workers' lines ends a line a full disk cut before the next it writes", async () => {
  const disk = fullDisk(250);
  const relay = workerOutput(false, disk);
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  relay.add(readable);
  const w = writable.getWriter();
  const line = (n: number) => `2026-12-05T14:00:00.000Z INFO  event n=${n} pad=${"x".repeat(100)} tail=end\n`;
  await w.write(Buffer.from(line(0) + line(1) + line(2))); // 155 bytes each: cut inside the 2nd line's pad
  for (let i = 0; i < 5; i++) await turn();
  disk.free(1 << 20);
  await w.write(Buffer.from(line(3) + line(4)));
  await w.close();
  for (let i = 0; i < 20 && !disk.text().includes("n=4 "); i++) await turn();
  const lines = disk.text().split("\n");
  expect(lines.pop()).toBe("");
  expect(lines.filter((l) => !LINE.test(l))).toEqual([`2026-12-05T14:00:00.000Z INFO  event n=1 pad=${"x".repeat(50)}`]);
  expect(lines.filter((l) => LINE.test(l)).map((l) => Number(/n=(\d+)/.exec(l)![1]))).toEqual([0, 3, 4]);
});

test("--workers --log-format json: the primary's own line after a worker's line the disk cut starts a line of its own", async () => {
  const disk = fullDisk(100);
  const relay = workerOutput(false, disk);
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  relay.add(readable);
  const w = writable.getWriter();
  const worker = `{"time":"2026-12-05T14:00:00.000Z","level":"info","event":"session","pad":"${"x".repeat(100)}"}`;
  await w.write(Buffer.from(`${worker}\n`)); // cut after 100 bytes
  for (let i = 0; i < 5; i++) await turn();
  disk.free(1 << 20);
  const primary = `{"time":"2026-12-05T14:00:01.000Z","level":"warn","event":"worker exited","worker":1,"code":1,"restartInMs":1000}`;
  relay.line(primary);
  await w.write(Buffer.from(`${worker}\n`));
  await w.close();
  for (let i = 0; i < 20 && disk.text().split("\n").length < 4; i++) await turn();
  // Before: the primary wrote beside the relay (console.log), right after the cut piece: one line neither is.
  expect(disk.text().split("\n")).toEqual([worker.slice(0, 100), primary, worker, ""]);
});

test("--workers, text: the primary's consola line after a worker's line the disk cut starts a line of its own", async () => {
  const disk = fullDisk(100);
  const relay = workerOutput(false, disk);
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  relay.add(readable);
  const w = writable.getWriter();
  const worker = `2026-12-05T14:00:00.000Z INFO  event n=1 pad=${"x".repeat(100)} tail=end`;
  await w.write(Buffer.from(`${worker}\n`)); // cut after 100 bytes
  for (let i = 0; i < 5; i++) await turn();
  disk.free(1 << 20);
  // serve-workers.ts hands consola this stream; the basic reporter writes one "[info] …\n" per message.
  const say = consolaTo(logStream(relay));
  say.info("SIGTERM: workers stopped");
  await w.close();
  for (let i = 0; i < 20 && disk.text().split("\n").length < 3; i++) await turn();
  expect(disk.text().split("\n")).toEqual([worker.slice(0, 100), "[info] SIGTERM: workers stopped", ""]);
});

test("serve, text: a consola line through the logger's stream after a line the disk cut starts a line of its own, in order with the log lines", async () => {
  const disk = fullDisk(1000);
  const log = createLogger("text", false, disk);
  for (let n = 0; n < 20; n++) log.info("event", { n, pad: "x".repeat(100), tail: "end" });
  await turn();
  await turn();
  disk.free(1 << 20);
  const say = consolaTo(logStream(log));
  say.info("SIGTERM: stopping");
  log.info("event", { n: 20, pad: "x", tail: "end" });
  await turn();
  await turn();
  const lines = disk.text().split("\n");
  expect(lines.slice(-4)).toEqual([expect.stringMatching(/ INFO  event n=6 pad=x+$/), "[info] SIGTERM: stopping", expect.stringMatching(/ INFO  event n=20 pad=x tail=end$/), ""]);
});
