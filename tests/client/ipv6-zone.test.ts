// IPv6 zone ids in URLs (RFC 6874): ftp://[fe80::1%25eth0]/x names the interface a link-local
// address is on. On loopback ::1 takes one too (Linux accepts [::1%lo]), so a real transfer is tested.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatFtpUrl, parseFtpUrl } from "../../protocol/url.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { runFtpkit, tempDir, removeDir } from "../helpers/peers.ts";

let srv: TestServer;
let work: string;
beforeAll(async () => {
  srv = await startTestServer({ options: { host: "::1" } });
  work = tempDir("ftpkit-zone-");
});
afterAll(async () => {
  await srv.stop();
  removeDir(work);
});

test("a zone id after %25 is the host's, connect()'s form (fe80::1%eth0), and is written back with %25", () => {
  expect(parseFtpUrl("ftp://u@[fe80::1%25eth0]:2121/x").host).toBe("fe80::1%eth0");
  expect(parseFtpUrl("ftp://[fe80::1%252]/").host).toBe("fe80::1%2");
  expect(parseFtpUrl("ftp://[fe80::1%25en%2D0]/").host).toBe("fe80::1%en-0");
  expect(formatFtpUrl(parseFtpUrl("ftps://[fe80::1%25eth0]:2121/a/b"))).toBe("ftps://[fe80::1%25eth0]:2121/a/b");
});

test.each(["get", "--active"])("ftpkit get ftp://…@[::1%%25lo]:PORT/… (%s) moves the file", async (mode) => {
  const url = `ftp://alice:alice-pw@[::1%25lo]:${srv.port}/hello.txt`;
  const r = await runFtpkit(["get", url, "hello.txt", "-q", ...(mode === "--active" ? ["--active"] : [])], { cwd: work, timeoutMs: 20_000 });
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(readFileSync(join(work, "hello.txt"))).toEqual(readFileSync(join(srv.home("alice"), "hello.txt")));
});

test.each([
  ["[::1%lo]", 'write its "%" as %25 (RFC 6874), e.g. ftp://[fe80::1%25eth0]/'],
  ["[::1%25]", "empty after %25 (name an interface, e.g. %25eth0)"],
  ["[::1%25a%20b]", 'an interface name or index of at most 15 letters, digits, ".", "_", "~" or "-"'],
  ["[::1%25sixteen-chars-ab]", 'an interface name or index of at most 15 letters, digits, ".", "_", "~" or "-"'],
  ["[::1%25%zz]", 'a "%" that starts no %XX escape'],
])("a malformed zone id (%s) is one usage line, exit 2", async (host, why) => {
  const r = await runFtpkit(["get", `ftp://alice:alice-pw@${host}:${srv.port}/hello.txt`, "x.txt"], { cwd: work, timeoutMs: 20_000 });
  expect(r.code).toBe(2);
  expect(r.stderr.trimEnd()).toBe(`[error] invalid IPv6 zone id in URL "ftp://alice:***@${host}:${srv.port}/hello.txt": ${why}`);
});

// connect() says only EINVAL (Bun: "Failed to connect"). As curl (exit 7, "Couldn't connect") and lftp
// ("Name or service not known"), a connection failure, exit 4, like an unknown host: not retried.
test.each(["get", "ls"])("%s with a zone id that names no interface here says so in one line, exit 4, not retried under --retries 2", async (command) => {
  const url = `ftp://alice:alice-pw@[fe80::1%25nosuch0]:${srv.port}/hello.txt`;
  const r = await runFtpkit(command === "get" ? ["get", url, "x.txt", "--retries", "2"] : ["ls", url, "--retries", "2"], { cwd: work, timeoutMs: 20_000 });
  expect(r.stderr.trimEnd()).toBe(`[error] cannot open control connection to [fe80::1%nosuch0]:${srv.port}: no network interface nosuch0 (the URL's zone id, after %25)`);
  expect(r.code).toBe(4);
});

// A link-local address (fe80::/10) means nothing without its interface: connect() says EINVAL.
test.each(["get", "ls"])("%s of a link-local address without a zone id says it needs its interface, one line, exit 4, not retried under --retries 2", async (command) => {
  const url = `ftp://alice:alice-pw@[fe80::1]:${srv.port}/hello.txt`;
  const r = await runFtpkit(command === "get" ? ["get", url, "x.txt", "--retries", "2"] : ["ls", url, "--retries", "2"], { cwd: work, timeoutMs: 20_000 });
  expect(r.stderr.trimEnd()).toBe(`[error] cannot open control connection to [fe80::1]:${srv.port}: a link-local address needs its interface (%25IFACE, e.g. [fe80::1%25eth0])`);
  expect(r.code).toBe(4);
});
