// A node's quota lease (--state, --workers) is trusted locally only while it is fresh in the store:
// a duration. A wall clock stepped back while the store is away must not stretch it by the step.
import { afterEach, expect, test } from "bun:test";
import { RedisLedger, type LedgerStore } from "../../server/state/redis-ledger.ts";
import { LEASE } from "../../server/state/scripts.ts";

const realNow = Date.now;
afterEach(() => {
  Date.now = realNow;
});

test("after the wall clock steps back an hour, a lease past its TTL is not spent while the store cannot renew it (451, not an overshoot)", async () => {
  let reachable = true;
  const store: LedgerStore = {
    prefix: "t:",
    node: "n1",
    leaseTtlMs: 300, // trusted for 200 ms (a third of it kept as margin)
    keepMs: 60_000,
    async eval(script: string) {
      if (!reachable) throw new Error("store unreachable");
      return script === LEASE ? [4 * 1024 * 1024, 0, 0] : 0;
    },
  };
  const ledger = new RedisLedger(store, "user:alice", 100_000_000, async () => 0);
  expect(await ledger.admit(1000)).toBe(true); // leases a block from the store
  reachable = false;
  Date.now = () => realNow() - 3_600_000;
  await Bun.sleep(400); // the lease's TTL passes (the store drops it; other nodes may now be granted its bytes)
  const code = await Promise.resolve(ledger.admit(1000)).then(
    (ok) => (ok ? "admitted" : "refused"),
    (err: { code?: number }) => err.code,
  );
  expect(code).toBe(451);
}, 5_000);
