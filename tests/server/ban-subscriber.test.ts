// The connection hearing ban announcements is made again by the heartbeat once lost. A store slow to
// answer a new connection (a Redis restarting, a busy network) made each beat that overlapped the
// previous one's connect open one more: every one but the last stayed subscribed, never closed, not
// even by close() (one more Redis connection per overlap, each announcement heard several times).
import { expect, test } from "bun:test";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { RedisState } from "../../server/state/redis.ts";

test("a lost ban subscription comes back as one connection, even when its connect outlasts several heartbeats; close() ends it", async () => {
  const store = new MemoryStore();
  const base = memoryClient(store);
  const subscribers: Array<{ open: boolean; lose(): void }> = [];
  let slow = false;
  const factory = () => {
    const c = base();
    const { subscribe, close } = c;
    const tracked = {
      open: false,
      lose: () => {
        tracked.open = false;
        close.call(c);
        c.onclose?.(new Error("connection lost"));
      },
    };
    return Object.assign(c, {
      async connect() {
        if (slow) await Bun.sleep(700); // longer than the 200 ms between heartbeats
      },
      async subscribe(channel: string, listener: (message: string, channel: string) => void) {
        subscribers.push(tracked);
        tracked.open = true;
        return subscribe.call(c, channel, listener);
      },
      close() {
        tracked.open = false;
        close.call(c);
      },
    });
  };
  const state = new RedisState({ url: "memory", client: factory, nodeTtlMs: 600, commandTimeoutMs: 2000 });
  let heard = 0;
  state.watchBans(() => heard++);
  await state.start();
  try {
    expect(subscribers.filter((s) => s.open).length).toBe(1);
    slow = true;
    subscribers[0]!.lose();
    await Bun.sleep(2500);
    expect(subscribers.filter((s) => s.open).length).toBe(1);
    // One announcement is heard once.
    const before = heard;
    await state.banFailure("192.0.2.1", { banAfter: 1, windowMs: 60_000, banMs: 1000, maxMs: 10_000 });
    await Bun.sleep(50);
    expect(heard - before).toBe(1);
  } finally {
    await state.close();
  }
  await Bun.sleep(1000);
  expect(subscribers.filter((s) => s.open).length).toBe(0);
}, 20_000);
