// Where listeners for data connections go: a named port, picked at random (protocol/ports.ts).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ephemeralPorts, listenOnFreePort } from "../../protocol/ports.ts";
import { listenForData } from "../../client/active-listener.ts";

const inUse = () => Object.assign(new Error("Failed to listen"), { code: "EADDRINUSE" });

describe("the ephemeral range", () => {
  test("is the kernel's ip_local_port_range", () => {
    expect(ephemeralPorts(() => "32768\t60999\n")).toEqual([32768, 60999]);
  });

  test("falls back to IANA's dynamic ports when the kernel's range is unreadable or makes no sense", () => {
    const unreadable = () => {
      throw new Error("ENOENT");
    };
    for (const read of [unreadable, () => "", () => "abc def", () => "80 90", () => "60000 50000", () => "50000 70000"]) {
      expect(ephemeralPorts(read)).toEqual([49152, 65535]);
    }
  });
});

describe("listenOnFreePort", () => {
  test("in a range, skips ports in use until it finds the free one", () => {
    for (let round = 0; round < 20; round++) {
      const tried: number[] = [];
      const got = listenOnFreePort((port) => {
        tried.push(port);
        if (port !== 50007) throw inUse();
        return port;
      }, [50000, 50009]);
      expect(got).toBe(50007);
      expect(new Set(tried).size).toBe(tried.length); // no port tried twice
    }
  });

  test("in a range with every port in use, tries each once and gives null", () => {
    const tried: number[] = [];
    const got = listenOnFreePort((port) => {
      tried.push(port);
      throw inUse();
    }, [50000, 50009]);
    expect(got).toBeNull();
    expect(tried.sort()).toEqual([50000, 50001, 50002, 50003, 50004, 50005, 50006, 50007, 50008, 50009]);
  });

  test("without a range, tries named ports of the ephemeral range and leaves the choice to the kernel when they are in use", () => {
    const [lo, hi] = ephemeralPorts();
    const tried: number[] = [];
    const got = listenOnFreePort((port) => {
      tried.push(port);
      if (port !== 0) throw inUse();
      return "kernel's choice";
    });
    expect(got).toBe("kernel's choice");
    expect(tried.at(-1)).toBe(0);
    for (const port of tried.slice(0, -1)) {
      expect(port).toBeGreaterThanOrEqual(lo);
      expect(port).toBeLessThanOrEqual(hi);
    }
    expect(tried.length).toBeGreaterThan(1);
  });

  test("an error other than 'in use' is not retried", () => {
    let calls = 0;
    expect(() =>
      listenOnFreePort(() => {
        calls++;
        throw Object.assign(new Error("Permission denied"), { code: "EACCES" });
      }),
    ).toThrow("Permission denied");
    expect(calls).toBe(1);
  });
});

test("the client's active-mode listeners take ports of this machine's ephemeral range", () => {
  const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  for (let i = 0; i < 20; i++) {
    const l = listenForData("127.0.0.1", "127.0.0.1");
    try {
      expect(l.port).toBeGreaterThanOrEqual(lo!);
      expect(l.port).toBeLessThanOrEqual(hi!);
    } finally {
      l.close();
    }
  }
});
