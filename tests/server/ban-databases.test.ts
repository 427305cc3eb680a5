// Two clusters on one redis-server, each in its own database (redis://…/0 and …/1, as README offers
// for sharing one store): Redis keeps keys per database but publishes to every client of the server,
// so a ban taken in one cluster was heard, enforced and stored by the other.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { channelScopeOf, RedisState } from "../../server/state/redis.ts";
import type { SharedBan } from "../../server/state/types.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";

let redis: RedisProcess;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

const policy = { banAfter: 1, windowMs: 60_000, banMs: 60_000, maxMs: 600_000 };

/** A node of a cluster in `db` that records the bans it hears, and resolves `next` on each. */
async function node(db: number) {
  const state = new RedisState({ url: `${redis.url}/${db}`, nodeTtlMs: 60_000 });
  const heard: string[] = [];
  let wake: (() => void) | null = null;
  state.watchBans((ban: SharedBan) => {
    heard.push(ban.key);
    wake?.();
  });
  await state.start();
  return { state, heard, next: () => new Promise<void>((r) => (wake = r)) };
}

test("a ban taken by the cluster in database 0 is not heard by the one in database 1 (each hears its own)", async () => {
  const zero = await node(0);
  const one = await node(1);
  try {
    const heardZero = zero.next();
    await zero.state.banFailure("192.0.2.10", policy);
    await heardZero;
    // Published after the first: on one shared channel, database 1's node would hear that one first.
    const heardOne = one.next();
    await one.state.banFailure("192.0.2.11", policy);
    await heardOne;
    expect(one.heard).toEqual(["192.0.2.11"]);
    expect(zero.heard).toEqual(["192.0.2.10"]);
  } finally {
    await zero.state.close();
    await one.state.close();
  }
}, 20_000);

test("the channel scope is the URL's database, none for database 0 (the channel of earlier releases)", () => {
  expect(channelScopeOf("redis://127.0.0.1:6379")).toBe("");
  expect(channelScopeOf("redis://127.0.0.1:6379/0")).toBe("");
  expect(channelScopeOf("redis://:pw@127.0.0.1:6379/3")).toBe("@3");
});
