// Pure parts of operations: CIDR matching, ban keys, durations, hook word splitting, xferlog lines, defender timing.
import { describe, expect, test } from "bun:test";
import { banKey, cidrContains, formatDuration, parseCidr, parseCidrList, parseDuration, parseIp } from "../../protocol/cidr.ts";
import { Defender } from "../../server/ops/defender.ts";
import { GuessGate } from "../../server/ops/guess-gate.ts";
import { splitWords } from "../../server/ops/hooks.ts";
import { DEFAULT_OPS } from "../../server/ops/options.ts";
import { ctime, formatXferlog } from "../../server/ops/xferlog.ts";

describe("CIDR blocks", () => {
  test.each([
    ["10.0.0.0/8", "10.255.1.2", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["127.0.0.2", "127.0.0.2", true],
    ["127.0.0.2", "127.0.0.3", false],
    ["192.168.1.128/25", "192.168.1.200", true],
    ["192.168.1.128/25", "192.168.1.127", false],
    ["0.0.0.0/0", "8.8.8.8", true],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["::1", "::1", true],
    ["::1", "127.0.0.1", false],
    ["10.0.0.0/8", "::ffff:10.1.2.3", true], // an IPv4 peer of a "::" listener
    ["2001:db8::/32", "10.0.0.1", false],
    // An IPv4-mapped block counts its prefix in IPv6 bits (96 + the IPv4 prefix).
    ["::ffff:10.0.0.0/104", "10.200.0.1", true],
    ["::ffff:10.0.0.0/104", "11.0.0.1", false],
    ["::ffff:10.1.2.3", "10.1.2.3", true],
  ])("%s contains %s: %p", (block, ip, expected) => {
    expect(cidrContains(parseCidr(block), ip)).toBe(expected);
  });

  test.each(["10.0.0.0/33", "2001:db8::/129", "300.1.1.1", "foo", "10.0.0.0/", "1:2:3:4:5:6:7:8:9", "::1::2", "", "::ffff:10.0.0.0/8", "::ffff:10.0.0.0/129"])("refuses %p", (bad) => {
    expect(() => parseCidr(bad)).toThrow();
  });

  test("a list skips empty items and keeps the order", () => {
    expect(parseCidrList(" 10.0.0.0/8, ,::1 ").map((c) => c.text)).toEqual(["10.0.0.0/8", "::1"]);
  });

  test("IPv6 forms parse to the same bytes", () => {
    expect(parseIp("2001:db8:0:0:0:0:0:1")).toEqual(parseIp("2001:DB8::1")!);
    expect(parseIp("::ffff:192.0.2.1")).toEqual(Uint8Array.from([192, 0, 2, 1]));
    expect(parseIp("64:ff9b::192.0.2.1")!.slice(12)).toEqual(Uint8Array.from([192, 0, 2, 1]));
  });

  test("the ban key is the IPv4 address itself, or the IPv6 /64", () => {
    expect(banKey("::ffff:127.0.0.2")).toBe("127.0.0.2");
    expect(banKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(banKey("2001:db8:1:2:bbbb::9")).toBe(banKey("2001:db8:1:2::5"));
    expect(banKey("2001:db8:1:3::1")).not.toBe(banKey("2001:db8:1:2::1"));
    // Zero groups of the /64 are shortened as RFC 5952 says (what an admin types in --allow).
    expect(banKey("2001:db8:0:0:1::7")).toBe("2001:db8::/64");
    expect(banKey("2001:0:0:5::1")).toBe("2001:0:0:5::/64");
    expect(banKey("::1")).toBe("::/64");
  });
});

describe("durations", () => {
  test.each([
    ["90", 90_000],
    ["90s", 90_000],
    ["15m", 900_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["250ms", 250],
    ["1.5m", 90_000],
  ])("%s = %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  test("bad durations are refused", () => {
    for (const bad of ["", "m", "5 minutes", "-1s"]) expect(() => parseDuration(bad)).toThrow();
  });
  test("a duration too long to be a number of milliseconds is refused, not Infinity", () => {
    expect(() => parseDuration("9".repeat(400))).toThrow(/too long/);
    expect(() => parseDuration("9".repeat(400) + "d")).toThrow(/too long/);
  });
  test("formatting picks the largest exact unit", () => {
    expect([900_000, 86_400_000, 30_000, 1500].map(formatDuration)).toEqual(["15m", "1d", "30s", "1500ms"]);
  });
});

describe("hook command words (no shell)", () => {
  test.each([
    ["/usr/bin/notify a b", ["/usr/bin/notify", "a", "b"]],
    ["  spaced   out  ", ["spaced", "out"]],
    [`cmd 'single $(x) quoted' "double \\"q\\" $HOME"`, ["cmd", "single $(x) quoted", 'double "q" $HOME']],
    [`cmd a\\ b ''`, ["cmd", "a b", ""]],
    [`cmd $(rm -rf /) \`id\` ; ls | cat`, ["cmd", "$(rm", "-rf", "/)", "`id`", ";", "ls", "|", "cat"]],
  ])("%s", (line, words) => {
    expect(splitWords(line)).toEqual(words);
  });
  test("an unterminated quote is an error", () => {
    expect(() => splitWords(`cmd 'open`)).toThrow(/unterminated/);
    expect(() => splitWords(`cmd "open`)).toThrow(/unterminated/);
  });
});

describe("xferlog line", () => {
  const end = new Date(2026, 11, 2, 1, 4, 5); // local time, as wu-ftpd writes it
  test("has the 14 wu-ftpd fields; a name with spaces stays one field", () => {
    const line = formatXferlog({ end, ms: 2400, remoteHost: "127.0.0.1", bytes: 1234, path: "/up/a b\tc.txt", type: "I", direction: "i", anonymous: false, user: "alice", complete: true });
    expect(line).toBe("Wed Dec  2 01:04:05 2026 2 127.0.0.1 1234 /up/a_b_c.txt b _ i r alice ftp 0 * c");
    expect(ctime(new Date(2026, 0, 15, 23, 59, 9))).toBe("Thu Jan 15 23:59:09 2026");
  });
  test("control characters of a name, C1 included, become _", () => {
    const line = formatXferlog({ end, ms: 10, remoteHost: "::1", bytes: 0, path: "/x\x1b[2J\x9b31m\x7f.txt", type: "I", direction: "i", anonymous: false, user: "alice", complete: true });
    expect(line.split(" ").slice(6)[3]).toBe("/x_[2J_31m_.txt");
  });
  test("bidi controls of a name or of anonymous's password (its user field) become _, as the server log masks them", () => {
    const line = formatXferlog({ end, ms: 10, remoteHost: "::1", bytes: 0, path: "/a\u202egpj.exe", type: "I", direction: "o", anonymous: true, user: "admin\u202egpj.exe\u2066", complete: true });
    expect(line.split(" ").slice(6)[3]).toBe("/a_gpj.exe");
    expect(line.split(" ").slice(6)[8]).toBe("admin_gpj.exe_");
  });
  test("anonymous downloads, ASCII type, incomplete transfers and sub-second times", () => {
    const line = formatXferlog({ end, ms: 10, remoteHost: "::1", bytes: 0, path: "/pub/x", type: "A", direction: "o", anonymous: true, user: "anonymous", complete: false });
    expect(line.split(" ").slice(6)).toEqual(["1", "::1", "0", "/pub/x", "a", "_", "o", "a", "anonymous", "ftp", "0", "*", "i"]);
  });
});

describe("defender timing", () => {
  const opts = { ...DEFAULT_OPS, banAfter: 3, banWindowMs: 60_000, banTimeMs: 10_000, banMaxMs: 25_000 };
  test("failures within the window ban; older ones do not count", () => {
    const d = new Defender(opts);
    expect(d.failed("192.0.2.1", 0)).toBeNull();
    expect(d.failed("192.0.2.1", 61_000)).toBeNull(); // the first one has left the window
    expect(d.failed("192.0.2.1", 62_000)).toBeNull();
    expect(d.failed("192.0.2.1", 63_000)).toMatchObject({ key: "192.0.2.1", ms: 10_000, failures: 3 });
    expect(d.refusal("192.0.2.1", 63_001)).toBe("banned");
    expect(d.refusal("192.0.2.2", 63_001)).toBeNull();
    expect(d.refusal("192.0.2.1", 73_001)).toBeNull();
  });
  test("each repeat doubles the ban, up to the maximum", () => {
    const d = new Defender(opts);
    const banAt = (t: number) => {
      d.failed("2001:db8::1", t);
      d.failed("2001:db8::2", t); // same /64
      return d.failed("2001:db8::3", t);
    };
    expect(banAt(0)?.ms).toBe(10_000);
    expect(banAt(20_000)?.ms).toBe(20_000);
    expect(banAt(50_000)?.ms).toBe(25_000);
    expect(d.refusal("2001:db8::ffff", 60_000)).toBe("banned");
    expect(d.active(60_000)).toBe(1);
    expect(d.active(80_000)).toBe(0);
  });
  test("allowed addresses are never banned; denied ones are always refused", () => {
    const d = new Defender({ ...opts, allow: parseCidrList("192.0.2.0/24"), deny: parseCidrList("198.51.100.7") });
    for (let i = 0; i < 10; i++) expect(d.failed("192.0.2.9", i)).toBeNull();
    expect(d.refusal("192.0.2.9", 20)).toBeNull();
    expect(d.refusal("198.51.100.7", 0)).toBe("denied");
  });
  test("a ban the store holds under the /64's old spelling (2001:db8:0:0::/64, before RFC 5952 keys) is in force for that /64", () => {
    const d = new Defender(opts);
    expect(d.impose("2001:db8:0:0::/64", 10_000, 1, 0)).toBe(true);
    expect(d.refusal("2001:db8::7", 1)).toBe("banned");
    expect(d.impose("2001:db8::/64", 10_000, 1, 2)).toBe(false); // the same ban, already in force
    expect(d.refusal("2001:db8:0:1::7", 1)).toBeNull();
  });
  test("addresses that failed once are forgotten once their failures leave the window, at the next connect a minute on", () => {
    const d = new Defender(opts);
    for (let i = 0; i < 2_500; i++) d.failed(`10.0.${i >> 8}.${i & 255}`, 1_000);
    expect(d.tracked).toBe(2_500);
    expect(d.refusal("192.0.2.50", 30_000)).toBeNull(); // still in the window: kept
    expect(d.tracked).toBe(2_500);
    expect(d.refusal("192.0.2.50", 62_000)).toBeNull();
    expect(d.tracked).toBe(0);
  });
  test("that sweep keeps an address whose next ban would still double: its third ban lasts four times the first", () => {
    const d = new Defender({ ...opts, banWindowMs: 10_000, banMaxMs: 600_000 });
    const banAt = (t: number) => {
      d.failed("192.0.2.7", t);
      d.failed("192.0.2.7", t);
      return d.failed("192.0.2.7", t);
    };
    expect(banAt(0)?.ms).toBe(10_000);
    expect(banAt(20_000)?.ms).toBe(20_000); // banned until 40 s
    // At 100 s its failures have long left the window, but its last ban ended 60 s ago, within --ban-max.
    d.failed("198.51.100.1", 99_000);
    expect(d.refusal("198.51.100.2", 100_000)).toBeNull(); // the sweep: 198.51.100.1 is recent, 192.0.2.7 still doubling
    expect(d.tracked).toBe(2);
    expect(banAt(101_000)?.ms).toBe(40_000);
  });
  test("failures a shared store counted: the gate reads the store's count until it leaves the window; with the store away, they count toward this process's own ban", () => {
    const d = new Defender(opts);
    d.counted("192.0.2.1", 2, 0);
    expect(d.failuresLeft("192.0.2.1", 1_000)).toBe(1);
    d.counted("192.0.2.1", 2, 30_000); // the store's count: the one at 0 and this one
    expect(d.failuresLeft("192.0.2.1", 31_000)).toBe(1);
    expect(d.failuresLeft("192.0.2.1", 91_000)).toBe(3); // the store's count is a minute old: all of it left the window
    // The store away: the failure at 30 s, which it counted, and one now are this process's own two; a third bans.
    expect(d.failed("192.0.2.1", 80_000)).toBeNull();
    expect(d.failed("192.0.2.1", 81_000)).toMatchObject({ failures: 3 });
  });
  test("banAfter 0 turns the defender off", () => {
    const d = new Defender({ ...opts, banAfter: 0 });
    for (let i = 0; i < 50; i++) expect(d.failed("192.0.2.1", i)).toBeNull();
  });
});

describe("the guess gate", () => {
  test("checks past the ban's budget wait for one in flight to end; a client that leaves while waiting frees its place; nothing stays behind", async () => {
    const gate = new GuessGate();
    let left = 2;
    const never = new AbortController().signal;
    const first = await gate.turn("127.0.0.2", () => left, never);
    const second = await gate.turn("127.0.0.2", () => left, never);
    let thirdIn = false;
    const third = gate.turn("127.0.0.2", () => left, never).then((release) => ((thirdIn = true), release));
    const leaving = new AbortController();
    const fourth = gate.turn("127.0.0.2", () => left, leaving.signal);
    // Another address has its own budget.
    const other = await gate.turn("127.0.0.9", () => left, never);
    await Bun.sleep(0);
    expect(thirdIn).toBe(false);
    leaving.abort();
    (await fourth)(); // released without a turn: a no-op
    left = 1; // the first check failed and was counted...
    first();
    await Bun.sleep(0);
    expect(thirdIn).toBe(false); // ...so one in flight uses the whole budget
    left = 1; // the second succeeded: no failure counted
    second();
    (await third)();
    other();
    expect(gate.size).toBe(0);
  });
});
