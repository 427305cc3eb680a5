// A quota whose usage cannot be measured (the storage unreachable at login) must not count from 0:
// that let a user store past the limit until the ledger was dropped.
import { describe, expect, test } from "bun:test";
import { QuotaLedger } from "../../server/vfs/quota.ts";

describe("a quota whose first measure fails", () => {
  test("stays unmeasured (not 0 bytes used), and the next measure counts what is stored", async () => {
    let stored: number | null = null; // null: storage unreachable
    const ledger = new QuotaLedger(1000, 0, async () => {
      if (stored === null) throw new Error("unreachable");
      return stored;
    });
    const view = ledger;
    await view.measured();
    expect(view.unmeasured).toBe(true);
    stored = 900;
    await view.measured();
    expect([view.unmeasured, view.used, view.available()]).toEqual([false, 900, 100]);
    // Measured once it worked: later calls do not walk the storage again.
    stored = 0;
    await view.measured();
    expect(view.used).toBe(900);
  });
});
