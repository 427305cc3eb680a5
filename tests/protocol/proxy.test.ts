import { describe, expect, test } from "bun:test";
import { anyContains as cidrContains, parseCidrList } from "../../protocol/cidr.ts";
import { formatIPv6 } from "../../protocol/address.ts";
import { formatProxyV2, MAX_PROXY_V2_LENGTH, parseProxyHeader, PROXY_V2_SIGNATURE } from "../../protocol/proxy.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};
/** A v2 header with explicit version/command, family and body. */
const v2 = (verCmd: number, fam: number, body: number[], lenOverride?: number) => {
  const len = lenOverride ?? body.length;
  return concat(PROXY_V2_SIGNATURE, Uint8Array.from([verCmd, fam, len >> 8, len & 255, ...body]));
};

describe("PROXY v1", () => {
  const valid: Array<[string, string, number, string, number]> = [
    ["PROXY TCP4 192.0.2.7 10.0.0.1 56324 21\r\n", "192.0.2.7", 56324, "10.0.0.1", 21],
    ["PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "0.0.0.0", 0, "255.255.255.255", 65535],
    ["PROXY TCP6 2001:DB8::7 ::1 4000 2121\r\n", "2001:db8::7", 4000, "::1", 2121],
    // IPv6 as v2's parse writes it, whatever the spelling: RFC 5952, IPv4-mapped as plain IPv4.
    ["PROXY TCP6 ::ffff:192.0.2.1 1:2:3:4:5:6:7:8 1 2\r\n", "192.0.2.1", 1, "1:2:3:4:5:6:7:8", 2],
    ["PROXY TCP6 0:0:0:0:0:ffff:10.8.8.8 ::1 1 2\r\n", "10.8.8.8", 1, "::1", 2],
    ["PROXY TCP6 ::FFFF:a09:909 2001:db8:0:0:0:0:0:1 1 2\r\n", "10.9.9.9", 1, "2001:db8::1", 2],
  ];
  for (const [line, sip, sport, dip, dport] of valid) {
    test(`accepts ${JSON.stringify(line)}`, () => {
      const r = parseProxyHeader(concat(enc(line), enc("USER x\r\n")));
      expect(r.status).toBe("ok");
      if (r.status !== "ok") return;
      expect(r.length).toBe(line.length);
      expect(r.header.local).toBe(false);
      expect(r.header.source).toEqual({ ip: sip, port: sport });
      expect(r.header.destination).toEqual({ ip: dip, port: dport });
    });
  }

  test("UNKNOWN is a local connection (use the socket's address)", () => {
    for (const line of ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"]) {
      const r = parseProxyHeader(enc(line));
      expect(r).toEqual({ status: "ok", header: { version: 1, local: true, family: "unspec" }, length: line.length });
    }
  });

  const invalid: Array<[string, string]> = [
    ["USER alice\r\n", "no PROXY header"],
    ["PROXY TCP4 192.0.2.7 10.0.0.1 56324\r\n", "two addresses"],
    ["PROXY TCP4 192.0.2.7 10.0.0.1 56324 21 extra\r\n", "two addresses"],
    ["PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n", "unknown"],
    ["PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n", "TCP4 address is not a valid IPv4 address"],
    ["PROXY TCP6 192.0.2.7 ::1 1 2\r\n", "TCP6 address is not a valid IPv6 address"],
    ["PROXY TCP4 256.0.0.1 10.0.0.1 1 2\r\n", "TCP4 address is not a valid IPv4 address"],
    ["PROXY TCP4 01.2.3.4 10.0.0.1 1 2\r\n", "TCP4 address is not a valid IPv4 address"],
    ["PROXY TCP4 1.2.3 10.0.0.1 1 2\r\n", "TCP4 address is not a valid IPv4 address"],
    ["PROXY TCP4 1.2.3.4 10.0.0.1 65536 2\r\n", "port"],
    ["PROXY TCP4 1.2.3.4 10.0.0.1 021 2\r\n", "port"],
    ["PROXY TCP4 1.2.3.4 10.0.0.1 -1 2\r\n", "port"],
    ["PROXY TCP4 1.2.3.4 10.0.0.1 1 2\n", "CRLF"],
    ["PROXY TCP6 1::2::3 ::1 1 2\r\n", "TCP6 address is not a valid IPv6 address"],
    ["PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "TCP6 address is not a valid IPv6 address"],
    ["proxy TCP4 1.2.3.4 10.0.0.1 1 2\r\n", "no PROXY header"],
    [`PROXY TCP4 1.2.3.4 10.0.0.1 1 2${" ".repeat(100)}\r\n`, "too long"],
  ];
  for (const [line, reason] of invalid) {
    test(`refuses ${JSON.stringify(line.slice(0, 50))}`, () => {
      const r = parseProxyHeader(enc(line));
      expect(r.status).toBe("invalid");
      if (r.status === "invalid") expect(r.reason).toContain(reason);
    });
  }

  test("a truncated line asks for more bytes, up to the 107-byte cap", () => {
    const line = "PROXY TCP4 192.0.2.7 10.0.0.1 56324 21\r\n";
    for (let n = 1; n < line.length; n++) expect(parseProxyHeader(enc(line.slice(0, n))).status).toBe("incomplete");
    expect(parseProxyHeader(enc("PROXY " + "1".repeat(101))).status).toBe("invalid");
    expect(parseProxyHeader(enc("PROXY " + "1".repeat(100))).status).toBe("incomplete");
  });
});

describe("PROXY v2", () => {
  const v4body = [192, 0, 2, 7, 10, 0, 0, 1, 0xdc, 0x04, 0, 21];
  test("PROXY over TCP/IPv4, with the bytes after it left for the session", () => {
    const buf = concat(v2(0x21, 0x11, v4body), enc("USER x\r\n"));
    const r = parseProxyHeader(buf);
    expect(r).toEqual({
      status: "ok",
      header: { version: 2, local: false, family: "tcp4", source: { ip: "192.0.2.7", port: 56324 }, destination: { ip: "10.0.0.1", port: 21 } },
      length: 28,
    });
  });

  test("PROXY over TCP/IPv6, TLVs after the addresses skipped", () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 7];
    const dst = [...Array(15).fill(0), 1];
    const tlv = [0x04, 0x00, 0x03, 1, 2, 3]; // PP2_TYPE_NOOP, 3 bytes
    const r = parseProxyHeader(v2(0x21, 0x21, [...src, ...dst, 0x0f, 0xa0, 0x08, 0x4a, ...tlv]));
    expect(r.status).toBe("ok");
    if (r.status !== "ok") return;
    expect(r.length).toBe(16 + 36 + 6);
    expect(r.header.source).toEqual({ ip: "2001:db8::7", port: 4000 });
    expect(r.header.destination).toEqual({ ip: "::1", port: 2122 });
  });

  test("LOCAL (a balancer health check) carries no client address", () => {
    expect(parseProxyHeader(v2(0x20, 0x00, []))).toEqual({ status: "ok", header: { version: 2, local: true, family: "unspec" }, length: 16 });
    // LOCAL ignores whatever address block follows.
    expect(parseProxyHeader(v2(0x20, 0x11, v4body))).toMatchObject({ status: "ok", header: { local: true }, length: 28 });
  });

  test("PROXY with family UNSPEC (a client of a unix-socket bind) names no address but is not LOCAL", () => {
    expect(parseProxyHeader(v2(0x21, 0x00, []))).toEqual({ status: "ok", header: { version: 2, local: false, family: "unspec" }, length: 16 });
  });

  // The spec: a receiver that does not implement a valid family falls back to UNSPEC.
  for (const [name, fam, len] of [["UDP over IPv4", 0x12, 12], ["UDP over IPv6", 0x22, 36], ["a UNIX stream socket", 0x31, 216], ["a UNIX datagram socket", 0x32, 216]] as const) {
    test(`${name} falls back to UNSPEC: a client with no address, its address block skipped`, () => {
      expect(parseProxyHeader(v2(0x21, fam, Array(len).fill(7)))).toEqual({ status: "ok", header: { version: 2, local: false, family: "unspec" }, length: 16 + len });
    });
  }

  test("formatProxyV2 round-trips through the parser (IPv4 and IPv6)", () => {
    for (const [s, d] of [
      [{ ip: "198.51.100.9", port: 1 }, { ip: "127.0.0.1", port: 65535 }],
      [{ ip: "fe80::1:2", port: 40000 }, { ip: "2001:db8:0:0:1::", port: 21 }],
    ] as const) {
      const r = parseProxyHeader(formatProxyV2(s, d));
      expect(r.status).toBe("ok");
      if (r.status !== "ok") return;
      expect(r.header.source).toEqual(s);
      expect(r.header.destination).toEqual(d);
    }
  });

  test("formatProxyV2 writes an IPv4-mapped address as its 16 bytes, and maps an IPv4 one beside an IPv6 one", () => {
    const mapped = formatProxyV2({ ip: "::ffff:1.2.3.4", port: 1 }, { ip: "::1", port: 2 });
    expect([mapped[13], [...mapped.subarray(16, 32)]]).toEqual([0x21, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]]);
    // Read as the parser reads a dual-stack balancer's header: the IPv4 client.
    const r = parseProxyHeader(mapped);
    expect(r.status === "ok" && [r.header.family, r.header.source, r.header.destination]).toEqual(["tcp6", { ip: "1.2.3.4", port: 1 }, { ip: "::1", port: 2 }]);
    const mixed = parseProxyHeader(formatProxyV2({ ip: "2001:db8::7", port: 3 }, { ip: "127.0.0.1", port: 21 }));
    expect(mixed.status === "ok" && [mixed.header.source, mixed.header.destination]).toEqual([{ ip: "2001:db8::7", port: 3 }, { ip: "127.0.0.1", port: 21 }]);
    expect(() => formatProxyV2({ ip: "not-an-ip", port: 1 }, { ip: "127.0.0.1", port: 21 })).toThrow("formatProxyV2: not an IP address: not-an-ip");
  });

  const invalid: Array<[string, Uint8Array, string]> = [
    ["version 1 in the v2 frame", v2(0x11, 0x11, v4body), "version"],
    ["an unknown command", v2(0x22, 0x11, v4body), "command"],
    ["a family outside the spec's combinations (UNSPEC over a stream)", v2(0x21, 0x01, []), "family"],
    ["IPv4 addresses cut short", v2(0x21, 0x11, v4body.slice(0, 8)), "truncated"],
    ["IPv6 addresses cut short", v2(0x21, 0x21, Array(20).fill(0)), "truncated"],
    ["a length above our cap", v2(0x21, 0x11, v4body, MAX_PROXY_V2_LENGTH), "too long"],
    ["a broken signature", concat(Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0d]), new Uint8Array(20)), "no PROXY"],
  ];
  for (const [name, buf, reason] of invalid) {
    test(`refuses ${name}`, () => {
      const r = parseProxyHeader(buf);
      expect(r.status).toBe("invalid");
      if (r.status === "invalid") expect(r.reason).toContain(reason);
    });
  }

  test("every truncation of a valid header asks for more bytes", () => {
    const full = v2(0x21, 0x11, v4body);
    for (let n = 1; n < full.length; n++) expect(parseProxyHeader(full.subarray(0, n)).status).toBe("incomplete");
  });

  test("an empty buffer asks for more; a byte that starts no header is refused at once", () => {
    expect(parseProxyHeader(new Uint8Array(0)).status).toBe("incomplete");
    expect(parseProxyHeader(Uint8Array.from([0x16, 0x03, 0x01])).status).toBe("invalid"); // a TLS ClientHello
  });
});

describe("IPv6 text and CIDR lists", () => {
  test("formatIPv6 follows RFC 5952", () => {
    const b = (groups: number[]) => Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 255]));
    expect(formatIPv6(b([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]))).toBe("2001:db8::1");
    expect(formatIPv6(b([0, 0, 0, 0, 0, 0, 0, 0]))).toBe("::");
    expect(formatIPv6(b([1, 0, 2, 3, 4, 5, 6, 7]))).toBe("1:0:2:3:4:5:6:7");
    expect(formatIPv6(b([1, 0, 0, 2, 0, 0, 0, 3]))).toBe("1:0:0:2::3");
    expect(formatIPv6(b([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]))).toBe("192.0.2.1");
  });

  test("cidrContains matches IPv4, IPv6 and IPv4-mapped peers", () => {
    const list = parseCidrList("127.0.0.1, 10.0.0.0/8,2001:db8::/32");
    expect(cidrContains(list, "127.0.0.1")).toBe(true);
    expect(cidrContains(list, "127.0.0.2")).toBe(false);
    expect(cidrContains(list, "10.200.3.4")).toBe(true);
    expect(cidrContains(list, "11.0.0.1")).toBe(false);
    expect(cidrContains(list, "::ffff:10.1.2.3")).toBe(true);
    expect(cidrContains(list, "2001:db8:ffff::1")).toBe(true);
    expect(cidrContains(list, "2001:db9::1")).toBe(false);
    expect(cidrContains(list, "not-an-ip")).toBe(false);
    expect(cidrContains(parseCidrList("0.0.0.0/0"), "8.8.8.8")).toBe(true);
  });

  test("parseCidrList refuses what is not an address or prefix", () => {
    for (const bad of ["10.0.0.0/33", "::1/129", "example.com", "10.0.0.0/x", "1.2.3/8"]) expect(() => parseCidrList(bad)).toThrow();
  });
});
