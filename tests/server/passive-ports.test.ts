// Where passive listeners go without --pasv-ports: a named port of the kernel's ephemeral range (not
// port 0, whose kernel search grows with every TIME_WAIT a finished transfer leaves behind).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseEpsvReply } from "../../protocol/address.ts";
import { defaultPassivePorts } from "../../server/data/passive.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

describe("the default passive range", () => {
  test("is the kernel's ip_local_port_range", () => {
    expect(defaultPassivePorts(() => "32768\t60999\n")).toEqual([32768, 60999]);
  });

  test("falls back to IANA's dynamic ports when the kernel's range is unreadable or makes no sense", () => {
    const unreadable = () => {
      throw new Error("ENOENT");
    };
    for (const read of [unreadable, () => "", () => "abc def", () => "80 90", () => "60000 50000", () => "50000 70000"]) {
      expect(defaultPassivePorts(read)).toEqual([49152, 65535]);
    }
  });
});

describe("passive listeners without --pasv-ports", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  test("40 EPSVs in a row each get a port of this machine's ephemeral range, and a download works on the last", async () => {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    const w = await Wire.connect(srv.port);
    try {
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      const ports = new Set<number>();
      for (let i = 0; i < 40; i++) {
        const r = await w.cmd("EPSV");
        expect(r.code).toBe(229);
        const port = parseEpsvReply(r.lines[0]!);
        expect(port).toBeGreaterThanOrEqual(lo!);
        expect(port).toBeLessThanOrEqual(hi!);
        ports.add(port);
      }
      // Each EPSV closes the listener before it: the ports are picked anew, not one port kept.
      expect(ports.size).toBeGreaterThan(1);
      const got = await w.transfer("RETR hello.txt");
      expect(got.final?.code).toBe(226);
      expect(got.data.toString()).toBe(readFileSync(srv.home("alice") + "/hello.txt", "utf8"));
    } finally {
      w.close();
    }
  });
});
