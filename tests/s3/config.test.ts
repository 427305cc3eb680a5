// s3:// places in the users file and the CLI (no S3 server needed: nothing is checked on disk).
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUsers } from "../../server/auth/ini-store.ts";
import { parseS3Url } from "../../protocol/s3-url.ts";
import { s3SettingsFromEnv, transportError, xmlText } from "../../server/storage/s3-request.ts";
import { reportObjectStores } from "../../server/vfs/s3-report.ts";
import { S3Storage } from "../../server/storage/s3.ts";
import { runFtpkit } from "../helpers/peers.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function work(): string {
  const d = mkdtempSync(join(tmpdir(), "ftpkit-s3cfg-"));
  dirs.push(d);
  return d;
}

test("user add --home s3://… and user mount … s3://… store normalised URLs and create nothing on disk", async () => {
  const d = work();
  const add = await runFtpkit(["user", "add", "alice", "--no-password", "--home", "s3://ftp-data//alice/"], { cwd: d });
  expect(add.code).toBe(0);
  const mount = await runFtpkit(["user", "mount", "alice", "/archive", "s3://archive/2026", "--perm", "read"], { cwd: d });
  expect(mount.code).toBe(0);
  const text = readFileSync(join(d, "users.ini"), "utf8");
  expect(text).toContain("home = s3://ftp-data/alice");
  expect(text).toContain("mount./archive = s3://archive/2026|read|0");
  const alice = parseUsers(text, join(d, "users.ini")).get("alice")!;
  expect(alice.home).toBe("s3://ftp-data/alice");
  expect(alice.mounts[0]!.dir).toBe("s3://archive/2026");
  expect(readdirSync(d)).toEqual(["users.ini"]);
});

test("a malformed s3:// URL is one clear error line, and nothing is written", async () => {
  const d = work();
  const r = await runFtpkit(["user", "add", "bob", "--no-password", "--home", "s3://Bad_Bucket/x"], { cwd: d });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("bucket name must be 3-63 lowercase letters");
  expect(r.stderr).not.toContain("    at ");
  expect(() => readFileSync(join(d, "users.ini"))).toThrow();
});

test("a prefix with no room left for names under it (keys are at most 1,024 bytes) is refused by user add, exit 2, nothing written", async () => {
  const d = work();
  const long = "p".repeat(1100);
  const r = await runFtpkit(["user", "add", "bob", "--no-password", "--home", `s3://bucket-x/${long}`], { cwd: d });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("the prefix is 1100 bytes; object keys are at most 1,024 bytes, so a prefix over 1000 leaves no room for names under it");
  expect(() => readFileSync(join(d, "users.ini"))).toThrow();
  expect(parseS3Url(`s3://bucket-x/${"p".repeat(1000)}`).prefix).toHaveLength(1000);
});

test("users.ini refuses an s3:// prefix with .. and names the line", () => {
  expect(() => parseUsers("[a]\nhome = s3://bucket/x/../y\n", "/tmp/users.ini")).toThrow(/line 2: user "a": .*"\.\."/);
});

test("s3:// URLs: bucket and a clean prefix", () => {
  expect(parseS3Url("s3://my.bucket-1")).toEqual({ bucket: "my.bucket-1", prefix: "" });
  expect(parseS3Url("s3://b12/a//b/")).toEqual({ bucket: "b12", prefix: "a/b" });
  for (const bad of ["s3://", "s3://ab", "s3://UPPER", "s3://b12/./x", "s3://b12/a/\0"]) expect(() => parseS3Url(bad)).toThrow();
});

test("endpoint and credentials: S3_* win over AWS_*, --s3-endpoint over both", () => {
  const env = { AWS_ENDPOINT_URL: "http://aws:1", S3_ACCESS_KEY_ID: "k", AWS_ACCESS_KEY_ID: "ak", AWS_SECRET_ACCESS_KEY: "as", AWS_REGION: "eu-west-1" };
  expect(s3SettingsFromEnv(env)).toEqual({ endpoint: "http://aws:1", accessKeyId: "k", secretAccessKey: "as", region: "eu-west-1" });
  expect(s3SettingsFromEnv({ ...env, S3_ENDPOINT: "http://s3:2" }, "http://flag:3").endpoint).toBe("http://flag:3");
  expect(s3SettingsFromEnv({ ...env, S3_ENDPOINT: "http://s3:2" }).endpoint).toBe("http://s3:2");
});

describe("XML text of S3 answers", () => {
  test("entities decode (a control character in a key arrives as &#x1b;); one past Unicode's range becomes U+FFFD instead of failing the whole answer", () => {
    expect(xmlText("<Key>a&#x1b;[31m&amp;b</Key>", "Key")).toBe("a\x1b[31m&b");
    expect(xmlText("<Contents><Key>odd&#x110000;</Key></Contents>", "Key")).toBe("odd\ufffd");
    expect(xmlText("<Size>12</Size><Key>k</Key>", "Size")).toBe("12");
    expect(xmlText("<Key>k</Key>", "Size")).toBeUndefined();
  });
});

describe("an endpoint that answers no S3 request", () => {
  test("an https:// endpoint whose certificate is not trusted is said as such at start-up, not as 'unreachable', and is asked once", async () => {
    const tls = join(import.meta.dir, "../../fixtures/tls");
    let requests = 0;
    let handshakes = 0;
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      tls: { cert: Bun.file(join(tls, "cert.pem")), key: Bun.file(join(tls, "key.pem")) },
      fetch: () => (requests++, new Response("")),
    });
    // Each TLS attempt is a connection of its own: a proxy in front counts them.
    const counter = createServer((client) => {
      handshakes++;
      const upstream = connect(server.port!, "127.0.0.1");
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((ok) => counter.listen(0, "127.0.0.1", ok));
    const port = (counter.address() as AddressInfo).port;
    const errors: Array<Record<string, unknown>> = [];
    const log = { info() {}, warn() {}, error: (_e: string, f?: Record<string, unknown>) => void errors.push(f ?? {}) };
    try {
      await reportObjectStores(["s3://some-bucket/a"], { s3Endpoint: `https://127.0.0.1:${port}`, log: log as never, env: { S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s" } });
      // Before: reason "the object store is unreachable", after four attempts.
      expect(errors.map((f) => f.reason)).toEqual(["the object store's TLS certificate was refused (not trusted, expired or for another name)"]);
      expect(handshakes).toBe(1);
      expect(requests).toBe(0);
    } finally {
      counter.close();
      server.stop(true);
    }
  });

  test("a host name that does not resolve is said as such (the text never names it)", () => {
    const err = transportError(Object.assign(new TypeError("getaddrinfo ENOTFOUND s3.example.invalid"), { code: "ENOTFOUND" }));
    expect(err.message).toBe("the object store's host name does not resolve");
    expect(transportError(Object.assign(new TypeError("Unable to connect"), { code: "ECONNREFUSED" })).message).toBe("the object store is unreachable");
  });
});

test("a bucket named in the endpoint's path: the start-up line for the missing buckets says where a bucket goes", async () => {
  // Path-style requests go below the endpoint's path (a store behind a path prefix): the bucket is then "missing".
  const paths: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) => {
      paths.push(new URL(req.url).pathname);
      return new Response(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code></Error>`, { status: 404, headers: { "content-type": "application/xml" } });
    },
  });
  const reasons = async (endpoint: string) => {
    const errors: Array<Record<string, unknown>> = [];
    const log = { info() {}, warn() {}, error: (_e: string, f?: Record<string, unknown>) => void errors.push(f ?? {}) };
    await reportObjectStores(["s3://alice/home"], { s3Endpoint: endpoint, log: log as never, env: { S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s" } });
    return errors.map((f) => f.reason);
  };
  try {
    expect(await reasons(`http://127.0.0.1:${server.port}/ftp-data`)).toEqual([
      "the bucket does not exist (the endpoint has the path /ftp-data: a bucket is named in the s3:// place, s3://BUCKET/PREFIX, not in the endpoint)",
    ]);
    expect(paths.at(-1)).toBe("/ftp-data/alice");
    // Without a path, the reason alone.
    expect(await reasons(`http://127.0.0.1:${server.port}`)).toEqual(["the bucket does not exist"]);
  } finally {
    server.stop(true);
  }
});

describe("a bucket of another region (AWS)", () => {
  const AWS_ERRORS = {
    // A path-style request to a bucket in another region: 301 with a body, and none for a HEAD.
    "301 PermanentRedirect": { status: 301, code: "PermanentRedirect" },
    // A request signed for the wrong region.
    "400 AuthorizationHeaderMalformed": { status: 400, code: "AuthorizationHeaderMalformed" },
  };
  for (const [label, { status, code }] of Object.entries(AWS_ERRORS)) {
    test(`${label}: the start-up check and a HEAD say the region, not "object store error (HTTP ${status})"`, async () => {
      const server = Bun.serve({
        port: 0,
        hostname: "127.0.0.1",
        fetch: (req) =>
          new Response(req.method === "HEAD" ? null : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>elsewhere</Message></Error>`, {
            status,
            headers: { "content-type": "application/xml", "x-amz-bucket-region": "eu-west-1" },
          }),
      });
      const errors: Array<Record<string, unknown>> = [];
      const log = { info() {}, warn() {}, error: (_e: string, f?: Record<string, unknown>) => void errors.push(f ?? {}) };
      const wrong = "the bucket is in another region, or the region is wrong (check S3_REGION and the endpoint)";
      try {
        const endpoint = `http://127.0.0.1:${server.port}`;
        await reportObjectStores(["s3://far-bucket/a"], { s3Endpoint: endpoint, log: log as never, env: { S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s" } });
        expect(errors.map((f) => f.reason)).toEqual([wrong]);
        const outages: string[] = [];
        const storage = new S3Storage({ endpoint, accessKeyId: "k", secretAccessKey: "s", region: "us-east-1" }, { bucket: "far-bucket", prefix: "a" }, { onOutage: (r) => void outages.push(r) });
        const err = await storage.stat("f.txt").catch((e) => e);
        expect([err?.kind, err?.message]).toEqual(["transient", wrong]);
        expect(outages).toContain(wrong);
      } finally {
        server.stop(true);
      }
    });
  }
});
