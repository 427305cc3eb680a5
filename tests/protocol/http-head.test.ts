// The metrics endpoint's request heads: method and path out, everything else refused with its status.
import { describe, expect, test } from "bun:test";
import { MAX_HTTP_HEAD, parseHttpHead } from "../../protocol/http-head.ts";

const head = (s: string) => parseHttpHead(Buffer.from(s, "latin1"));

describe("parseHttpHead", () => {
  test.each([
    ["GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", { kind: "ok", method: "GET", path: "/metrics" }],
    ["HEAD /readyz?verbose=1 HTTP/1.0\n\n", { kind: "ok", method: "HEAD", path: "/readyz" }],
    ["GET http://10.0.0.1:9100/healthz HTTP/1.1\r\n\r\n", { kind: "ok", method: "GET", path: "/healthz" }],
    ["GET /metrics HTTP/1.1\r\nHost: x\r\n", { kind: "incomplete" }],
    ["", { kind: "incomplete" }],
    ["garbage\r\n\r\n", { kind: "bad", status: 400 }],
    ["GET metrics HTTP/1.1\r\n\r\n", { kind: "bad", status: 400 }],
    ["GET /a b HTTP/1.1\r\n\r\n", { kind: "bad", status: 400 }],
    ["GET / HTTP/2.0\r\n\r\n", { kind: "bad", status: 505 }],
    [`GET /metrics HTTP/1.1\r\nX: ${"a".repeat(MAX_HTTP_HEAD)}\r\n\r\n`, { kind: "bad", status: 431 }],
    [`GET /metrics HTTP/1.1\r\nX: ${"a".repeat(MAX_HTTP_HEAD)}`, { kind: "bad", status: 431 }],
  ] as const)("%j", (input, want) => {
    expect(head(input)).toMatchObject(want);
  });
});

test("random and mutated heads: never a throw, one of the three kinds, quickly", () => {
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const base = Buffer.from("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "latin1");
  const started = performance.now();
  for (let i = 0; i < 3000; i++) {
    const b = i % 2 ? Buffer.from(base) : Buffer.alloc(rand(200));
    if (i % 2 === 0) for (let j = 0; j < b.length; j++) b[j] = rand(256);
    else for (let k = rand(4); k >= 0; k--) b[rand(b.length)] = rand(256);
    expect(["ok", "bad", "incomplete"]).toContain(parseHttpHead(b).kind);
  }
  expect(parseHttpHead(Buffer.alloc(1 << 20, 0x41)).kind).toBe("bad");
  expect(performance.now() - started).toBeLessThan(2000);
});
