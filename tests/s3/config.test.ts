// s3:// places in the users file and the CLI (no S3 server needed: nothing is checked on disk).
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUsers } from "../../server/auth/ini-store.ts";
import { parseS3Url } from "../../protocol/s3-url.ts";
import { s3SettingsFromEnv, xmlText } from "../../server/storage/s3-request.ts";
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
