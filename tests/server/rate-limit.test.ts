// --max-rate's token bucket, by its arithmetic on a fake clock (no timed assertions), and the
// download pump's order: a chunk is booked before it is sent.
import { describe, expect, test } from "bun:test";
import { RateLimiter } from "../../server/data/rate.ts";
import { receiveFile, sendFile } from "../../server/data/transfer.ts";
import type { DataConnection } from "../../server/data/connection.ts";
import type { ReadHandle } from "../../server/storage/backend.ts";

const RATE = 1_000_000;
const CHUNK = 256 * 1024;

/** A clock the test moves by hand. */
function fakeClock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe("RateLimiter", () => {
  test("a new bucket is empty: the first chunk at 1 MB/s waits its own time (262 ms for 256 KiB)", () => {
    const clock = fakeClock();
    const bucket = new RateLimiter(RATE, undefined, clock.now);
    expect(bucket.delayFor(CHUNK)).toBeCloseTo((CHUNK / RATE) * 1000, 6);
  });

  test("booked before each send, no time from the start has seen more than the rate: 3 s of a pump at 1 MB/s", () => {
    const clock = fakeClock();
    const start = clock.now();
    const bucket = new RateLimiter(RATE, undefined, clock.now);
    let sent = 0;
    while (clock.now() - start < 3_000) {
      clock.advance(bucket.delayFor(CHUNK)); // the pump waits…
      sent += CHUNK; // …then sends
      expect(sent).toBeLessThanOrEqual((RATE * (clock.now() - start)) / 1000 + 1e-6);
    }
    // And it keeps up: within one chunk of the rate.
    expect(sent).toBeGreaterThan((RATE * (clock.now() - start)) / 1000 - CHUNK);
  });

  test("time left unspent is kept up to a quarter second's worth, no more", () => {
    const clock = fakeClock();
    const bucket = new RateLimiter(RATE, undefined, clock.now);
    clock.advance(10_000);
    expect(bucket.delayFor(RATE / 4)).toBe(0);
    expect(bucket.delayFor(1000)).toBeCloseTo(1, 6);
  });
});

describe("the download pump under a rate limit", () => {
  test("books each chunk before it writes it", async () => {
    const size = 4 * CHUNK + 10;
    let written = 0;
    const writtenAtBooking: number[] = [];
    const conn = { writeAll: async (c: Uint8Array) => void (written += c.length) } as unknown as DataConnection;
    const file: ReadHandle = { size, read: (buf, pos) => Math.min(buf.length, size - pos), close() {} };
    const limiter = { delayFor: (n: number) => (writtenAtBooking.push(written), n * 0) } as unknown as RateLimiter;
    const sent = await sendFile(conn, file, 0, size, { limiters: [limiter], onBytes() {}, signal: { aborted: false } });
    expect(sent).toBe(size);
    expect(writtenAtBooking).toEqual([0, CHUNK, 2 * CHUNK, 3 * CHUNK, 4 * CHUNK]);
  });
});

describe("the upload pump under a rate limit", () => {
  test("an upload whose end comes with its last chunk (MODE B's EOF block) completes only after the limit's wait for that chunk", async () => {
    let sink: ((c: Buffer) => void) | null = null;
    let ended!: (how: "eof") => void;
    const conn = {
      closed: false,
      onData: (s: (c: Buffer) => void) => void (sink = s),
      untilEof: () => new Promise<"eof">((r) => (ended = r)),
      pause() {},
      resume() {},
      abort() {},
    } as unknown as DataConnection;
    const events: string[] = [];
    const limiter = { delayFor: (n: number) => (n > 0 ? 300 : 0) } as unknown as RateLimiter;
    const done = receiveFile(conn, { write: () => undefined }, {
      limiters: [limiter],
      onBytes: (n) => void (n === 0 && events.push("waited")),
      signal: { aborted: false },
    }).then((bytes) => events.push(`completed ${bytes}`));
    sink!(Buffer.alloc(150_000));
    ended("eof"); // the end arrived with the data, as a MODE B upload's EOF block does
    await done;
    // The throttle reports each step of its wait (onBytes(0)) before the upload may complete.
    expect(events[0]).toBe("waited");
    expect(events.at(-1)).toBe("completed 150000");
  });
});
