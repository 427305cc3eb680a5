// Password guessing (issue 9, item 5): attempts per connection are capped, back-off and
// --max-per-ip count an IPv6 /64 as one address, admission evicts only connections not logged in.
import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addressKey } from "../../protocol/address.ts";
import { Authenticator } from "../../server/auth/authenticator.ts";
import { ConnectionGate, type Ticket } from "../../server/connection-gate.ts";
import { createLogger } from "../../server/log.ts";
import { useServers } from "../helpers/server.ts";
import { makeUsersFile } from "../helpers/users.ts";

const servers = useServers();

describe("attempts per connection", () => {
  test("the third wrong password gets 530 then 421 and the connection is closed; a new connection still logs in", async () => {
    await servers.start();
    const w = await servers.connect();
    expect((await w.read())?.code).toBe(220);
    for (let i = 0; i < 2; i++) {
      expect((await w.cmd("USER alice")).code).toBe(331);
      expect((await w.cmd("PASS wrong")).code).toBe(530);
    }
    expect((await w.cmd("USER alice")).code).toBe(331);
    expect((await w.cmd("PASS wrong")).code).toBe(530);
    expect((await w.read())?.code).toBe(421);
    expect(await w.read()).toBeNull();
    await servers.login();
  });

  test("--max-login-attempts 1 closes after the first failure", async () => {
    await servers.start({ options: { maxLoginAttempts: 1 } });
    const w = await servers.connect();
    await w.read();
    await w.cmd("USER alice");
    expect((await w.cmd("PASS nope")).code).toBe(530);
    expect((await w.read())?.code).toBe(421);
  });

  test("while 20 connections guess passwords, a logged-in session is answered and a correct login succeeds", async () => {
    // No bans here (--ban-after 0): 20 wrong guesses from one address would ban it, the correct login
    // too (defender.test.ts); this is about the queue of password checks.
    await servers.start({ options: { maxPerIp: 100, maxConnections: 100, ops: { banAfter: 0 } } });
    const user = await servers.login();
    const guessers = await Promise.all(Array.from({ length: 20 }, () => servers.connect()));
    const guessing = guessers.map(async (g) => {
      await g.read();
      await g.cmd("USER alice");
      await g.cmd("PASS guess", 20_000);
    });
    expect((await user.cmd("NOOP")).code).toBe(200);
    // Password checks queue (a bounded number run at once): the correct login waits its turn.
    const late = await servers.connect();
    await late.read();
    await late.cmd("USER alice");
    expect((await late.cmd("PASS alice-pw", 20_000)).code).toBe(230);
    await Promise.all(guessing);
  }, 30_000);
});

describe("IPv6 /64 counts as one address", () => {
  const table: Array<[string, string]> = [
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["2001:db8:0:1::5", "2001:db8:0:1::/64"],
    ["2001:DB8:0:1:ffff:1:2:3", "2001:db8:0:1::/64"],
    ["2001:db8:0:2::5", "2001:db8:0:2::/64"],
    ["::1", "::/64"],
    ["2001:db8::5", "2001:db8::/64"],
    ["fe80::1%eth0", "fe80::/64"],
  ];
  for (const [ip, key] of table) test(`addressKey(${ip}) = ${key}`, () => expect(addressKey(ip)).toBe(key));

  test("--max-per-ip: a second address of the same /64 is refused, another /64 is admitted", () => {
    const gate = new ConnectionGate({ maxConnections: 10, maxPerIp: 2 }, createLogger("text", true));
    expect("refused" in gate.admit("2001:db8::1")).toBe(false);
    expect("refused" in gate.admit("2001:db8::2")).toBe(false);
    expect(gate.admit("2001:db8::ffff:3")).toEqual({ refused: "Too many connections from your address" });
    expect("refused" in gate.admit("2001:db8:0:1::1")).toBe(false);
  });

  test("failed-login back-off: another address of the same /64 waits longer, another /64 does not", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ftpkit-guess-"));
    try {
      const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
      const auth = new Authenticator({ usersFile: file, failDelayMs: 50, failPenaltyMs: 300, log: () => {} });
      await auth.start();
      for (let i = 0; i < 3; i++) await auth.login("alice", "x", `2001:db8:0:7::${i + 1}`);
      const timed = async (ip: string) => {
        const t = performance.now();
        await auth.login("alice", "x", ip);
        return performance.now() - t;
      };
      // Three failures before: at least 3 × 300 ms of penalty for the same /64.
      expect(await timed("2001:db8:0:7::99")).toBeGreaterThanOrEqual(850);
      expect(await timed("2001:db8:0:8::1")).toBeLessThan(850);
      auth.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("admission when every slot is taken", () => {
  const gate = () => new ConnectionGate({ maxConnections: 4, maxPerIp: 3 }, createLogger("text", true));
  const admit = (g: ConnectionGate, ip: string, evicted: string[]) => {
    const t = g.admit(ip);
    if ("refused" in t) return t;
    t.evict = () => void evicted.push(ip);
    return t;
  };

  test("a newcomer evicts the oldest not-logged-in connection of the heaviest address", () => {
    const g = gate();
    const evicted: string[] = [];
    for (let i = 0; i < 3; i++) admit(g, "198.51.100.1", evicted);
    admit(g, "198.51.100.2", evicted);
    expect("refused" in admit(g, "198.51.100.3", evicted)).toBe(false);
    expect(evicted).toEqual(["198.51.100.1"]);
    expect(g.count).toBe(4);
  });

  test("logged-in connections are never evicted; a crowd cannot evict across its own addresses", () => {
    const g = gate();
    const evicted: string[] = [];
    const users = [admit(g, "198.51.100.1", evicted), admit(g, "198.51.100.1", evicted)] as Ticket[];
    for (const u of users) u.login();
    admit(g, "198.51.100.2", evicted);
    admit(g, "198.51.100.3", evicted);
    // Full: the not-logged-in holders have one each, as the newcomer would: refused.
    expect(admit(g, "198.51.100.4", evicted)).toEqual({ refused: "Too many connections, try again later" });
    expect(evicted).toEqual([]);
    users[0]!.release();
    users[0]!.release(); // idempotent
    expect(g.count).toBe(3);
  });
});
