// within(): waiting with a deadline.
import { expect, test } from "bun:test";
import { within } from "../../server/timers.ts";

test("a deadline longer than a timer can wait (25 days: --shutdown-grace 2160000) still waits, not 1 ms", async () => {
  let finish!: () => void;
  const work = new Promise<void>((resolve) => (finish = resolve));
  let settled = false;
  const waiting = within(work, 25 * 86_400_000).then(() => (settled = true));
  await Bun.sleep(50);
  expect(settled).toBe(false);
  finish();
  await waiting;
  expect(settled).toBe(true);
});

test("a short deadline ends the wait when the work does not", async () => {
  const started = performance.now();
  await within(new Promise(() => {}), 30);
  expect(performance.now() - started).toBeGreaterThanOrEqual(25);
});
