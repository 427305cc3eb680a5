// Pure pieces of the client: netrc parsing, the token bucket, the journal, download/upload targets.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lookupNetrc, parseNetrc } from "../../client/netrc.ts";
import { TokenBucket } from "../../client/transfer.ts";
import { ClientError, EXIT_STATUS, failureKind, worstKind } from "../../client/errors.ts";
import { listRecords, loadRecord, removeRecord, saveRecord, transferId, type TransferRecord } from "../../client/journal.ts";
import { downloadTarget, uploadTarget } from "../../client/operations.ts";
import { withRecordSettings } from "../../client/job-records.ts";
import { parseFtpUrl } from "../../protocol/url.ts";
import { remotePath } from "../../protocol/path.ts";
import { formatEntry } from "../../cli/commands/ls.ts";
import { removeDir, tempDir } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

describe("netrc", () => {
  const text = [
    "# comment",
    "machine ftp.example.com login alice password 's3cret'",
    "machine ftp.example.com",
    "  login bob",
    '  password "two words"',
    "macdef init",
    "cd /pub",
    "binary",
    "",
    "default login anonymous password me@example.com",
  ].join("\n");

  test("parses machines, multi-line entries, quoted values, macdef bodies and default", () => {
    const entries = parseNetrc(text);
    expect(entries).toEqual([
      { machine: "ftp.example.com", login: "alice", password: "'s3cret'" },
      { machine: "ftp.example.com", login: "bob", password: "two words" },
      { machine: null, login: "anonymous", password: "me@example.com" },
    ]);
  });

  test("a quote never closed keeps the whole token; a quoted password before macdef loses its quotes", () => {
    expect(parseNetrc('machine h login u password "s3cret\n')).toEqual([{ machine: "h", login: "u", password: "s3cret" }]);
    expect(parseNetrc('machine h login u password "a\\"\n')).toEqual([{ machine: "h", login: "u", password: 'a"' }]);
    expect(parseNetrc('machine h login u password "p w" macdef init\ncd /\n\n')).toEqual([{ machine: "h", login: "u", password: "p w" }]);
  });

  test("looks up by host (case-insensitive) and user, falling back to default", () => {
    const dir = tempDir();
    try {
      const file = join(dir, ".netrc");
      writeFileSync(file, text);
      expect(lookupNetrc("FTP.example.com", undefined, file)?.login).toBe("alice");
      expect(lookupNetrc("ftp.example.com", "bob", file)?.password).toBe("two words");
      expect(lookupNetrc("elsewhere", undefined, file)?.login).toBe("anonymous");
      expect(lookupNetrc("x", undefined, join(dir, "missing"))).toBeNull();
    } finally {
      removeDir(dir);
    }
  });
});

describe("token bucket", () => {
  test("unlimited never waits; a limit asks to wait about n/rate once the burst is spent", () => {
    expect(new TokenBucket(0).take(1e9)).toBe(0);
    // On a clock that stands still: 100 KB taken at once against 100 KB/s with a burst of 1/10 s
    // (10 KB): the debt is 90 KB, 0.9 s.
    const b = new TokenBucket(100_000, () => 0);
    let last = 0;
    for (let i = 0; i < 10; i++) last = b.take(10_000);
    expect(last).toBeCloseTo(900, 6);
  });
});

describe("journal", () => {
  test("records are written atomically, listed, and removed", () => {
    const dir = tempDir();
    try {
      const rec: TransferRecord = {
        id: transferId("get", "ftp://u@h/x", "/tmp/x"),
        direction: "get",
        url: "ftp://u@h/x",
        local: "/tmp/x",
        remoteSize: 10,
        remoteMtime: "20260101000000",
        hash: "sha256",
        verify: true,
        startedAt: new Date().toISOString(),
      };
      expect(rec.id).toBe(transferId("get", "ftp://u@h/x", "/tmp/x"));
      expect(rec.id).not.toBe(transferId("put", "ftp://u@h/x", "/tmp/x"));
      saveRecord(rec, dir);
      expect(readdirSync(dir)).toEqual([`${rec.id}.json`]); // no temp file left
      expect(loadRecord(rec.id, dir)).toEqual(rec);
      writeFileSync(join(dir, "broken.json"), "{ half a rec");
      expect(listRecords(dir).map((r) => r.id)).toEqual([rec.id]);
      removeRecord(rec.id, dir);
      expect(loadRecord(rec.id, dir)).toBeNull();
    } finally {
      removeDir(dir);
    }
  });
});

describe("a pending job's settings", () => {
  test("its --limit-rate holds when resumed without one; a given --limit-rate replaces it, 0 lifting it", () => {
    const rec = { rate: 300 * 1024, hash: "sha256" } as TransferRecord;
    const opts = { verify: true, hash: "sha256" as const, rate: 0, retries: 3, quiet: true, active: false };
    expect(withRecordSettings(opts, rec).rate).toBe(300 * 1024);
    expect(withRecordSettings({ ...opts, rateGiven: true }, rec).rate).toBe(0);
    expect(withRecordSettings({ ...opts, rate: 1024, rateGiven: true }, rec).rate).toBe(1024);
  });
});

describe("targets", () => {
  test("get defaults to the remote name; a directory argument gets the remote name inside", () => {
    const url = parseFtpUrl("ftp://h/pub/a%20b.txt");
    expect(downloadTarget(url)).toBe(join(process.cwd(), "a b.txt"));
    expect(downloadTarget(url, "/tmp/")).toBe("/tmp/a b.txt");
    expect(downloadTarget(url, "/tmp/other.txt")).toBe("/tmp/other.txt");
    expect(() => downloadTarget(parseFtpUrl("ftp://h/pub/"))).toThrow(/names a directory/);
  });

  test("put to a URL ending in / keeps the local name", () => {
    expect(uploadTarget(parseFtpUrl("ftp://h/in/"), "/x/y.bin")).toBe("in/y.bin");
    expect(uploadTarget(parseFtpUrl("ftp://h/in/z.bin"), "/x/y.bin")).toBe("in/z.bin");
    expect(uploadTarget(parseFtpUrl("ftp://h"), "/x/y.bin")).toBe("y.bin");
    expect(uploadTarget(parseFtpUrl("ftp://h//srv/in/"), "/x/y.bin")).toBe("/srv/in/y.bin");
  });

  test("URL paths start at the login directory; // and %2F reach absolute paths (RFC 1738 §3.2.2)", () => {
    const at = (url: string, home: string | null) => remotePath(home, parseFtpUrl(url).path);
    expect(at("ftp://h/big.bin", "/home/bench")).toBe("/home/bench/big.bin");
    expect(at("ftp://h/", "/home/bench")).toBe("/home/bench");
    expect(at("ftp://h/sub/../x", "/home/bench")).toBe("/home/bench/x");
    expect(at("ftp://h//etc/motd", "/home/bench")).toBe("/etc/motd");
    expect(at("ftp://h/%2Fetc/motd", "/home/bench")).toBe("/etc/motd");
    expect(at("ftp://h/a.bin", "/")).toBe("/a.bin");
    // No PWD answer: the relative path goes as it is (servers resolve it from the login directory).
    expect(at("ftp://h/d/a.bin", null)).toBe("d/a.bin");
  });
});

describe("ftpkit ls lines", () => {
  const now = new Date(Date.UTC(2026, 11, 3, 12, 0));
  test("a link is shown as ls shows one (lrwxrwxrwx), whatever columns its listing had", () => {
    const line = formatEntry({ name: "link.txt", type: "file", size: 9, mtime: new Date(Date.UTC(2026, 11, 3, 9, 53)), link: true }, now);
    expect(line).toStartWith("lrwxrwxrwx ");
    expect(line).toEndWith("Dec  3 09:53 link.txt");
  });

  test("an entry known only by its perm fact (no mode) keeps the columns aligned with one whose mode is known", () => {
    const known = formatEntry({ name: "a", type: "file", size: 5, mtime: now, mode: 0o644 }, now);
    const permOnly = formatEntry({ name: "b", type: "file", size: 5, mtime: now, perm: "r" }, now);
    expect(permOnly).toStartWith("-r-- ");
    expect(permOnly.indexOf(" 5 ")).toBe(known.indexOf(" 5 "));
  });

  test("a date in the future shows its year, as GNU ls does; one of the last six months its time", () => {
    expect(formatEntry({ name: "f", type: "file", size: 1, mtime: new Date(Date.UTC(2027, 1, 3)) }, now)).toContain("Feb  3  2027 f");
    expect(formatEntry({ name: "f", type: "file", size: 1, mtime: new Date(Date.UTC(2026, 9, 1, 8, 5)) }, now)).toContain("Oct  1 08:05 f");
  });
});

describe("exit status kinds", () => {
  test("a reply says auth or server, a dropped connection network, a system error local or network", () => {
    expect(failureKind(new ClientError("login failed", { code: 530 }))).toBe("auth");
    expect(failureKind(new ClientError("too many", { code: 421, retryable: true }))).toBe("server");
    expect(failureKind(new ClientError("dropped", { retryable: true }))).toBe("network");
    expect(failureKind(new ClientError("said otherwise", { code: 550, kind: "usage" }))).toBe("usage");
    expect(failureKind(new ClientError("a conflict"))).toBeNull();
    expect(failureKind(Object.assign(new Error("no such file"), { code: "ENOENT", syscall: "open" }))).toBe("local");
    expect(failureKind(Object.assign(new Error("reset"), { code: "ECONNRESET", syscall: "read" }))).toBe("network");
    expect(failureKind(new Error("a bug"))).toBeNull();
  });

  test("a job whose files failed in several ways reports the lowest status, as wget does", () => {
    expect(worstKind(["verify", "server", null, "network"])).toBe("network");
    expect(EXIT_STATUS[worstKind(["verify", "server"])!]).toBe(8);
    expect(worstKind([null, null])).toBeNull();
  });
});
