// Scrapers that hold many connections to the metrics port cannot take the FTP server's descriptors.
import { describe, expect, test } from "bun:test";
import net from "node:net";
import { AddressShares, METRICS_MAX_CONNECTIONS, METRICS_SHARE_PER_ADDRESS } from "../../server/ops/metrics-http.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { tempDir } from "../tls/helpers.ts";
import { SourcedWire, until } from "./helpers.ts";

const t = cleanedAfterEach();

// Loopback has one IPv6 address (::1), so the /64 keying is checked on the structure the listener uses.
describe("metrics endpoint shares by address key", () => {
  const fill = (shares: AddressShares<string>, remotes: string[]) => {
    for (const r of remotes) shares.add(AddressShares.keyOf(r), r);
  };

  test("32 connections from 32 addresses of one IPv6 /64: a newcomer from another /64 takes the oldest's place", () => {
    const shares = new AddressShares<string>();
    const hog = Array.from({ length: METRICS_MAX_CONNECTIONS }, (_, i) => `2001:db8:0:1::${(i + 1).toString(16)}`);
    fill(shares, hog);
    expect(shares.victim(AddressShares.keyOf("2001:db8:0:2::1"))).toBe(hog[0]!);
    // A newcomer from the same /64, at another address, holds as many as the hog: it takes nothing.
    expect(shares.victim(AddressShares.keyOf("2001:db8:0:1::ffff"))).toBeNull();
  });

  test("IPv4 counts by address, whether the peer shows as a.b.c.d or ::ffff:a.b.c.d", () => {
    const shares = new AddressShares<number>();
    for (let i = 0; i < METRICS_MAX_CONNECTIONS; i++) shares.add(AddressShares.keyOf(i % 2 ? "::ffff:127.0.0.2" : "127.0.0.2"), i);
    expect(shares.victim(AddressShares.keyOf("127.0.0.3"))).toBe(0);
    expect(shares.victim(AddressShares.keyOf("::ffff:127.0.0.2"))).toBeNull();
  });

  test("no address holding more than its share: a newcomer takes nothing", () => {
    const shares = new AddressShares<string>();
    fill(shares, Array.from({ length: METRICS_MAX_CONNECTIONS }, (_, i) => `2001:db8:0:${Math.floor(i / METRICS_SHARE_PER_ADDRESS)}::${i + 1}`));
    expect(shares.victim(AddressShares.keyOf("2001:db8:0:99::1"))).toBeNull();
  });
});

describe("metrics endpoint under many connections", () => {
  test("300 held connections (half a request each) to a server limited to 200 descriptors: FTP logins still work, the metrics listener holds at most its cap", async () => {
    t.dir = tempDir();
    await makeUsersFile(t.dir, [{ name: "alice", password: "alice-pw" }]);
    const srv = await spawnServe(["--users", "users.ini", "--metrics", "127.0.0.1:0"], { cwd: t.dir, fdLimit: 200 });
    t.pid = srv.proc.pid;
    await until(() => /metrics on http:\/\/127\.0\.0\.1:\d+\//.test(srv.stdout()), 10_000, "the metrics line");
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\//.exec(srv.stdout())![1]);
    const held: net.Socket[] = [];
    let open = 0;
    try {
      await Promise.all(
        Array.from({ length: 300 }, () =>
          new Promise<void>((resolve) => {
            const s = net.connect({ host: "127.0.0.1", port: metricsPort });
            held.push(s);
            s.on("connect", () => {
              open++;
              s.write("GET /metrics HTTP/1.1\r\nHost: x\r\n");
              resolve();
            });
            s.on("close", () => {
              open--;
              resolve();
            });
            s.on("error", () => resolve());
          }),
        ),
      );
      const w = await SourcedWire.connect(srv.port, "127.0.0.1");
      t.wires.push(w);
      expect((await w.login("alice", "alice-pw")).pass?.code).toBe(230);
      expect((await w.cmd("NOOP"))?.code).toBe(200);
      // Those beyond the cap were closed by the server at once; the rest wait for the deadline.
      await until(() => open <= METRICS_MAX_CONNECTIONS, 5000, "the connections beyond the cap to be closed");
    } finally {
      for (const s of held) s.destroy();
    }
    // Freed: a scrape works again.
    await until(async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => null))?.status === 200, 10_000, "a scrape");
  }, 30_000);

  test("one address holding every connection: a scrape from another address takes the place of its oldest, and its own next one is refused", async () => {
    t.dir = tempDir();
    await makeUsersFile(t.dir, [{ name: "alice", password: "alice-pw" }]);
    const srv = await spawnServe(["--users", "users.ini", "--metrics", "127.0.0.1:0"], { cwd: t.dir });
    t.pid = srv.proc.pid;
    await until(() => /metrics on http:\/\/127\.0\.0\.1:\d+\//.test(srv.stdout()), 10_000, "the metrics line");
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\//.exec(srv.stdout())![1]);
    const held: net.Socket[] = [];
    const closed = new Set<number>();
    // One at a time (each counted before the next comes), half a request each; the hog is 127.0.0.2.
    const hold = (i: number, localAddress = "127.0.0.2") =>
      new Promise<void>((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port: metricsPort, localAddress });
        held.push(s);
        s.on("connect", () => {
          s.write("GET /metrics HTTP/1.1\r\nHost: x\r\n");
          resolve();
        });
        s.on("close", () => {
          closed.add(i);
          resolve();
        });
        s.on("error", () => resolve());
      });
    try {
      for (let i = 0; i < METRICS_MAX_CONNECTIONS; i++) await hold(i);
      // The listener is full; the endpoint answers the next one only if it takes a place.
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("ftpkit_sessions_open");
      await until(() => closed.has(0), 5000, "the hog's oldest connection to be closed");
      expect([...closed]).toEqual([0]);
      // Full again (a third address holds the place the scrape left): the hog's own newcomer finds
      // it full, itself the largest holder, and is closed at once.
      await hold(100, "127.0.0.3");
      await hold(METRICS_MAX_CONNECTIONS);
      await until(() => closed.has(METRICS_MAX_CONNECTIONS), 5000, "the hog's newcomer to be closed");
      expect([...closed].sort((a, b) => a - b)).toEqual([0, METRICS_MAX_CONNECTIONS]);
    } finally {
      for (const s of held) s.destroy();
    }
  }, 30_000);
});
