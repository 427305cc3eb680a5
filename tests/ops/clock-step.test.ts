// The wall clock stepped back under a running server (NTP correcting a clock that ran ahead, `date -s`):
// what is measured in seconds (the readiness answer's reuse, the once-a-minute summaries) must not
// wait for the clock to catch up.
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createServer } from "../../server/index.ts";
import { MemoryLogins } from "../../server/auth/memory-store.ts";
import { RefusalLog } from "../../server/connection-gate.ts";
import { Defender } from "../../server/ops/defender.ts";
import type { Logger, LogFields } from "../../server/log.ts";
import { SilentConnectionLog } from "../../server/silent-log.ts";
import { tempDir } from "../tls/helpers.ts";

const realNow = Date.now;
const HOUR = 3_600_000;

afterEach(() => {
  Date.now = realNow;
});

function stepClockBack(): void {
  Date.now = () => realNow() - HOUR;
}

function stepClockForward(): void {
  Date.now = () => realNow() + HOUR;
}

function logger(): Logger & { events: Array<{ event: string; fields: LogFields }> } {
  const events: Array<{ event: string; fields: LogFields }> = [];
  const push = (event: string, fields: LogFields = {}) => void events.push({ event, fields });
  return { events, info: push, warn: push, error: push };
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(20);
  }
  return true;
}

test("after the clock steps back an hour, /readyz still sees a root that is gone within seconds, not an hour", async () => {
  const root = tempDir();
  const server = createServer({
    auth: new MemoryLogins([{ name: "me", password: "pw", home: root, perms: ["read"] }]),
    host: "127.0.0.1",
    port: 0,
    quiet: true,
    ops: { metrics: { host: "127.0.0.1", port: 0 } },
  });
  try {
    await server.listen();
    const ready = () => fetch(`http://127.0.0.1:${server.ops.metricsPort}/readyz`).then((r) => r.status);
    expect(await ready()).toBe(200);
    stepClockBack();
    rmSync(root, { recursive: true, force: true });
    expect(await waitFor(async () => (await ready()) === 503, 5000)).toBe(true);
  } finally {
    await server.close(0);
    rmSync(root, { recursive: true, force: true });
  }
}, 15_000);

test("after the clock steps back an hour, the silent-connection and refusal summaries still come after their interval", async () => {
  const log = logger();
  const silent = new SilentConnectionLog(log, 200);
  const refusals = new RefusalLog(log, 1, 200);
  try {
    silent.closed("192.0.2.1"); // the first is said at once
    refusals.refused("192.0.2.1", "banned"); // the first of a window too
    stepClockBack();
    silent.closed("192.0.2.2");
    refusals.refused("192.0.2.2", "banned");
    const said = (event: string) => log.events.filter((e) => e.event === event).length;
    expect(await waitFor(() => said("connections closed without a command") === 2 && said("connections refused (summary)") === 1, 3000)).toBe(true);
  } finally {
    silent.close();
    refusals.close();
  }
}, 10_000);

test("a ban lasts its --ban-time whatever the wall clock does: stepped an hour forward, a 15-minute ban is still in force", () => {
  const defender = new Defender({ banAfter: 3, banWindowMs: 300_000, banTimeMs: 900_000, banMaxMs: 86_400_000, allow: [], deny: [] });
  for (let i = 0; i < 3; i++) defender.failed("192.0.2.9");
  expect(defender.refusal("192.0.2.9")).toBe("banned");
  stepClockForward();
  expect(defender.refusal("192.0.2.9")).toBe("banned");
  expect(defender.inForce()).toEqual([{ key: "192.0.2.9", ms: expect.any(Number), repeat: 1 }]);
});
