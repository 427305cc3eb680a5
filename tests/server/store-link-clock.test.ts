// The --state link's reconnect back-off is a duration: a wall clock stepped back while the store is
// away must not hold the next try (and every login, refused with 421 meanwhile) for as long as the step.
import { afterEach, expect, test } from "bun:test";
import { StoreLink, type StoreClient } from "../../server/state/redis-link.ts";

const realNow = Date.now;
afterEach(() => {
  Date.now = realNow;
});

test("after the wall clock steps back an hour, a lost store link tries again after its back-off, not an hour later", async () => {
  let reachable = true;
  const client = (): StoreClient => ({
    connect: async () => {
      if (!reachable) throw new Error("ECONNREFUSED");
    },
    send: async () => {
      if (!reachable) return new Promise(() => {}); // no answer: the link's timeout makes the outage
      return "PONG";
    },
    close() {},
    onclose: null,
  });
  const link = new StoreLink({ url: "redis://store", client, timeoutMs: 100, onDown: () => {}, log: () => {} });
  link.markStarted();
  reachable = false;
  expect(await link.send("PING", []).catch((e: Error) => e.message)).toBe("no answer within 100 ms");
  expect(await link.up()).toBe(false); // a try, refused: the next one after the 250 ms back-off
  Date.now = () => realNow() - 3_600_000;
  reachable = true;
  const deadline = performance.now() + 3000;
  let up = false;
  while (!(up = await link.up()) && performance.now() < deadline) await Bun.sleep(50);
  expect(up).toBe(true);
}, 10_000);
