// A node's settlement whose answer is lost (the store stalled or the connection dropped, yet the
// store ran it) is resent as it was, and the store applies it once: in Redis's script and in the
// --workers primary's memory store alike. Before, the resent change was applied twice.
import { afterEach, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { RedisLedger, type LedgerStore } from "../../server/state/redis-ledger.ts";
import { MemoryStore } from "../../server/state/memory-store.ts";
import { SETTLE } from "../../server/state/scripts.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";

let redis: RedisProcess | null = null;
let client: RedisClient | null = null;
afterEach(async () => {
  client?.close();
  client = null;
  await redis?.stop();
  redis = null;
});

type Run = (script: string, keys: string[], args: (string | number)[]) => Promise<unknown>;

/** A ledger over `run`, whose next SETTLE is run and then answered with an error, as a stalled store's is. */
function ledgerLosingAnswers(run: Run) {
  let loseNext = false;
  const store: LedgerStore = {
    prefix: "t:",
    node: "n1",
    leaseTtlMs: 15_000,
    keepMs: 60_000,
    async eval(script, keys, args) {
      const answer = await run(script, keys, args);
      if (script === SETTLE && loseNext) {
        loseNext = false;
        throw new Error("the connection closed");
      }
      return answer;
    },
  };
  const ledger = new RedisLedger(store, "user:fred", 5_000_000, async () => 4_000_000);
  return { ledger, loseNextAnswer: () => (loseNext = true) };
}

const kinds: Array<[string, () => Promise<{ run: Run; used: () => Promise<string | null> }>]> = [
  [
    "memory store",
    async () => {
      const db = new MemoryStore();
      return {
        run: async (script, keys, args) => db.exec("EVAL", [script, String(keys.length), ...keys, ...args.map(String)]),
        used: async () => (db.exec("GET", ["t:quota:user:fred:used"]) as string | null) ?? null,
      };
    },
  ],
  [
    "redis-server",
    async () => {
      redis = await startRedis();
      const c = (client = new RedisClient(redis.url));
      return {
        run: (script, keys, args) => c.send("EVAL", [script, String(keys.length), ...keys, ...args.map(String)]),
        used: async () => (await c.get("t:quota:user:fred:used")) ?? null,
      };
    },
  ],
];

describe("a settlement resent after its answer was lost", () => {
  for (const [kind, start] of kinds) {
    test(`${kind}: a DELE's -4 MB counts once, and what was settled meanwhile goes with the next batch`, async () => {
      const { run, used } = await start();
      const { ledger, loseNextAnswer } = ledgerLosingAnswers(run);
      await ledger.measured();
      expect(await used()).toBe("4000000");
      loseNextAnswer();
      ledger.release(4_000_000); // the DELE's settlement: applied by the store, its answer lost
      await ledger.flush();
      expect(await used()).toBe("0");
      ledger.settle(0, 1000); // an upload settled meanwhile (a change of +1000)
      await ledger.flush(); // the lost batch goes again, alone, then the new one
      expect(await used()).toBe("1000");
      expect(ledger.available()).toBe(5_000_000 - 1000);
    }, 20_000);
  }
});
