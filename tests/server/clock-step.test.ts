// The wall clock stepped under a running server (NTP correcting a clock set wrong at boot, a VM
// resumed, an admin's `date -s`): timeouts measure durations, so they must not move with it.
import { afterEach, expect, test } from "bun:test";
import { parseEpsvReply } from "../../protocol/address.ts";
import { MemoryStore } from "../../server/state/memory-store.ts";
import { CONN_OPEN } from "../../server/state/scripts.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

const realNow = Date.now;
const HOUR = 3_600_000;
let ts: TestServer | null = null;
let wires: Wire[] = [];

afterEach(async () => {
  Date.now = realNow;
  for (const w of wires) w.close();
  wires = [];
  await ts?.stop();
  ts = null;
});

/** Step the wall clock of this process (the in-process server's too) by `ms`. */
function stepClock(ms: number): void {
  Date.now = () => realNow() + ms;
}

async function wire(): Promise<Wire> {
  const w = await Wire.connect(ts!.port);
  wires.push(w);
  return w;
}

test("a wall clock stepped an hour forward closes neither an idle logged-in session nor one still at its login", async () => {
  ts = await startTestServer({ options: { idleTimeoutSec: 20, loginTimeoutSec: 20 } });
  const idle = await wire();
  expect((await idle.login("alice", "alice-pw")).code).toBe(230);
  const atLogin = await wire();
  expect((await atLogin.read())?.code).toBe(220);
  stepClock(HOUR);
  // The sweep runs every second here: three of them see the stepped clock.
  await Bun.sleep(3000);
  expect((await idle.cmd("NOOP")).code).toBe(200);
  expect((await atLogin.cmd("USER alice")).code).toBe(331);
  expect((await atLogin.cmd("PASS alice-pw")).code).toBe(230);
}, 15_000);

test("a wall clock stepped an hour back still closes an idle session after the idle timeout", async () => {
  ts = await startTestServer({ options: { idleTimeoutSec: 1 } });
  const w = await wire();
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  stepClock(-HOUR);
  const started = performance.now();
  expect((await w.read(5000))?.code).toBe(421);
  expect(await w.read(5000)).toBeNull();
  expect(performance.now() - started).toBeLessThan(5000);
}, 15_000);

test("a wall clock stepped an hour back still aborts an upload whose client sends nothing, after the stall timeout", async () => {
  ts = await startTestServer({ options: { idleTimeoutSec: 20, stallTimeoutMs: 1000 } });
  const w = await wire();
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  const epsv = await w.cmd("EPSV");
  expect(epsv.code).toBe(229);
  const data = await Bun.connect({ hostname: "127.0.0.1", port: parseEpsvReply(epsv.lines[0]!), socket: { data() {} } });
  try {
    expect((await w.cmd("STOR silent.bin")).code).toBe(150);
    stepClock(-HOUR);
    const started = performance.now();
    expect((await w.read(6000))?.code).toBe(426);
    expect(performance.now() - started).toBeLessThan(6000);
    expect((await w.cmd("NOOP")).code).toBe(200);
  } finally {
    data.end();
  }
}, 15_000);

test("--workers' shared store: a wall clock stepped an hour forward drops no live worker's connections, so --max-per-ip still counts them", () => {
  const store = new MemoryStore();
  // A connection from 192.0.2.1 on worker a, then one from the same address on worker b (--max-per-ip 1, state TTL 15 s).
  const open = (node: string) => store.exec("EVAL", [CONN_OPEN, "1", "t:nodes", node, "192.0.2.1", "100", "1", "15000", "t:"]);
  expect(open("a")).toBe(0);
  stepClock(HOUR);
  expect(open("b")).toBe(2); // refused: the address has its one connection, on worker a
});
