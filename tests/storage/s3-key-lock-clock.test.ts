// An S3 key lock held by another server is waited for up to 30 s, measured as a duration: a wall
// clock stepped forward while a DELE or overwrite waits must not refuse it at once (450 file busy).
import { afterEach, expect, test } from "bun:test";
import { type SharedKeyLock, withKeys } from "../../server/storage/s3-key-lock.ts";

const realNow = Date.now;
afterEach(() => {
  Date.now = realNow;
});

test("a key lock another server gives back a moment later is taken, though the wall clock stepped an hour forward meanwhile", async () => {
  let tries = 0;
  const store: SharedKeyLock = {
    async tryLock() {
      // Taken by another server at the first try; the clock steps forward meanwhile (NTP, a VM resumed).
      if (++tries === 1) {
        Date.now = () => realNow() + 3_600_000;
        return false;
      }
      return true;
    },
    async renew() {
      return true;
    },
    async unlock() {},
  };
  expect(await withKeys(["bucket/a.txt"], async () => "done", store)).toBe("done");
  expect(tries).toBe(2);
}, 5_000);
