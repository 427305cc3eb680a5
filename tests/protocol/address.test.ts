import { describe, expect, test } from "bun:test";
import {
  canonicalIp,
  formatEprt,
  formatEpsvReply,
  formatHostPort,
  formatPasvReply,
  parseEprt,
  parseEpsvReply,
  parseHostPort,
} from "../../protocol/address.ts";
import { ParseError } from "../../protocol/errors.ts";

describe("PASV/PORT host-port", () => {
  const good = [
    { host: "127.0.0.1", port: 21 },
    { host: "10.0.0.255", port: 65535 },
    { host: "192.168.1.2", port: 1 },
    { host: "0.0.0.0", port: 256 },
  ];
  for (const hp of good) {
    test(`parse(format(${hp.host}:${hp.port})) round-trips`, () => {
      expect(parseHostPort(formatHostPort(hp))).toEqual(hp);
      expect(parseHostPort(formatPasvReply(hp))).toEqual(hp);
    });
  }

  test("a v4-mapped IPv6 address is announced as IPv4", () => {
    expect(formatHostPort({ host: "::ffff:127.0.0.1", port: 1025 })).toBe("127,0,0,1,4,1");
  });

  test("the 227 reply carries the address in parentheses", () => {
    expect(formatPasvReply({ host: "127.0.0.1", port: 5000 })).toBe("Entering Passive Mode (127,0,0,1,19,136).");
  });

  test("formatting a non-IPv4 host for PASV is refused", () => {
    expect(() => formatHostPort({ host: "::1", port: 21 })).toThrow(ParseError);
  });

  const bad = ["", "1,2,3,4,5", "256,0,0,1,4,1", "1,2,3,4,256,0", "1,2,3,4,0,0", "a,b,c,d,e,f", "1.2.3.4,5,6"];
  for (const text of bad) {
    test(`rejects host-port ${JSON.stringify(text)}`, () => {
      expect(() => parseHostPort(text)).toThrow(ParseError);
    });
  }
});

describe("EPRT", () => {
  const good = [
    { host: "132.235.1.2", port: 6275 },
    { host: "127.0.0.1", port: 1 },
    { host: "::1", port: 65535 },
    { host: "2001:db8::ff00:42:8329", port: 2121 },
    { host: "fe80::1", port: 1024 },
  ];
  for (const hp of good) {
    test(`parse(format(${hp.host}:${hp.port})) round-trips`, () => {
      expect(parseEprt(formatEprt(hp))).toEqual(hp);
    });
  }

  test("chooses the address family from the address", () => {
    expect(formatEprt({ host: "1.2.3.4", port: 5 })).toBe("|1|1.2.3.4|5|");
    expect(formatEprt({ host: "::1", port: 5 })).toBe("|2|::1|5|");
    expect(formatEprt({ host: "::ffff:1.2.3.4", port: 5 })).toBe("|1|1.2.3.4|5|");
  });

  test("accepts another delimiter", () => {
    expect(parseEprt("!2!::1!2121!")).toEqual({ host: "::1", port: 2121 });
  });

  test("IPv6 hosts are lower-cased", () => {
    expect(parseEprt("|2|FE80::ABCD|21|").host).toBe("fe80::abcd");
  });

  const bad = [
    "",
    "|1|1.2.3.4|5",
    "|1|1.2.3.4|5||",
    "|3|1.2.3.4|5|",
    "|1|::1|5|",
    "|2|1.2.3.4|5|",
    "|1|256.1.1.1|5|",
    "|1|1.2.3.4|0|",
    "|1|1.2.3.4|65536|",
    "|1|1.2.3.4|-1|",
    "|1|1.2.3.4|abc|",
    "|2|:::1|21|",
    " |1|1.2.3.4|5|",
  ];
  for (const text of bad) {
    test(`rejects EPRT ${JSON.stringify(text)}`, () => {
      expect(() => parseEprt(text)).toThrow(ParseError);
    });
  }
});

describe("EPSV reply", () => {
  for (const port of [1, 21, 6446, 65535]) {
    test(`parse(format(${port})) round-trips`, () => {
      expect(parseEpsvReply(formatEpsvReply(port))).toBe(port);
    });
  }

  test("accepts another delimiter in a peer's reply", () => {
    expect(parseEpsvReply("Entering Extended Passive Mode (!!!2121!)")).toBe(2121);
  });

  const bad = ["Entering Extended Passive Mode", "(|||0|)", "(|||65536|)", "(||2121|)", "(|!|2121|)", "(|||abc|)"];
  for (const text of bad) {
    test(`rejects EPSV reply ${JSON.stringify(text)}`, () => {
      expect(() => parseEpsvReply(text)).toThrow(ParseError);
    });
  }

  for (const port of [0, 65536, 1.5, -1]) {
    test(`refuses to format port ${port}`, () => {
      expect(() => formatEpsvReply(port)).toThrow(ParseError);
    });
  }
});

describe("canonicalIp", () => {
  const cases: Array<[string, string]> = [
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["::FFFF:10.1.2.3", "10.1.2.3"],
    ["127.0.0.1", "127.0.0.1"],
    ["FE80::1", "fe80::1"],
  ];
  for (const [input, out] of cases) {
    test(`${input} → ${out}`, () => expect(canonicalIp(input)).toBe(out));
  }
});
