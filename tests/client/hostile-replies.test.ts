// What a broken or hostile server's replies can make a client do: a digest that is no digest of
// its algorithm is a protocol error, not a verdict on the file; a listing cut short is no whole one.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsFile, sendsListing, type Script, useScriptedServerWork } from "./scripted-server.ts";

const t = useScriptedServerWork();

const DATA = Buffer.alloc(5000, 0x61);

/** A server of one file /f.bin (DATA) whose HASH answers `hex` as the file's SHA-256. */
function serving(hex: string): Script {
  return {
    feat: ["SIZE", "HASH SHA-256*"],
    on: {
      SIZE: (c) => c.reply(213, String(DATA.length)),
      HASH: (c, arg) => c.reply(213, `SHA-256 0-${DATA.length} ${hex} ${arg}`),
      RETR: sendsFile(DATA),
    },
  };
}

describe("a HASH reply whose digest has the wrong length", () => {
  for (const [name, digits] of [["40 hex digits (a SHA-1's)", 40], ["900,000 hex digits", 900_000]] as const) {
    test(`SHA-256 of ${name}: exit 7, one short line naming the lengths; the download is not set aside as corrupt`, async () => {
      const server = t.start(serving("b".repeat(digits)));
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${server.port}/f.bin`, "--retries", "0", "--quiet"], { cwd: t.work, timeoutMs: 30_000 });
      expect(r.stderr.trim()).toBe(`[error] protocol error from server: HASH reply: a SHA-256 digest of ${digits} hex digits, not 64`);
      expect(r.code).toBe(7);
      // Before: "sha256 mismatch: … the server reports bbbb…" (all the digits), exit 9, the good bytes in f.bin.ftpkit-corrupt.
      expect(readdirSync(t.work).filter((n) => n.endsWith(".ftpkit-corrupt"))).toEqual([]);
      expect(existsSync(join(t.work, "f.bin"))).toBe(false);
    });
  }
});

describe("a SIZE reply that is no size (RFC 3659: decimal digits only)", () => {
  // Read with Number(), "" was 0 bytes, "0x10" 16 and "1e3" 1000.
  for (const [text, said] of [["", '""'], ["0x10", '"0x10"'], ["1e3", '"1e3"'], ["99999999999999999999", ""]] as const) {
    const line = said ? `${said} is not a size (decimal digits only)` : "a size of 20 digits is past 2^53 bytes";
    test(`"213 ${text}": get exits 7 with one line naming it, and writes nothing`, async () => {
      const server = t.start({ feat: ["SIZE"], on: { SIZE: (c) => c.reply(213, text), RETR: sendsFile(DATA) } });
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${server.port}/f.bin`, "--retries", "0", "--quiet"], { cwd: t.work, timeoutMs: 30_000 });
      expect(r.stderr.trim()).toBe(`[error] protocol error from server: SIZE reply: ${line}`);
      expect(r.code).toBe(7);
      expect(readdirSync(t.work).filter((n) => n !== ".ftpkit" && !n.startsWith("ftpkit-"))).toEqual([]);
    });
  }

  test('put to a server without HASH, "213 0x10" after the upload: exit 7 naming it, not a size mismatch', async () => {
    writeFileSync(join(t.work, "up.bin"), Buffer.alloc(16, 0x62));
    let stored = false;
    const server = t.start({
      feat: ["SIZE"],
      on: {
        // No such file before the upload; after it, a size that is none.
        SIZE: (c) => (stored ? c.reply(213, "0x10") : c.reply(550, "No such file")),
        STOR: async (c) => {
          const d = await c.data();
          c.reply(150, "Ok to send data");
          await d.closing();
          stored = true;
          c.reply(226, "Transfer complete");
        },
      },
    });
    const r = await runFtpkit(["put", "up.bin", `ftp://u:p@127.0.0.1:${server.port}/up.bin`, "--retries", "0", "--quiet"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.stderr.trim()).toBe('[error] protocol error from server: SIZE reply: "0x10" is not a size (decimal digits only)');
    expect(r.code).toBe(7);
  });
});

describe("a reply code outside 100-599", () => {
  const cases: Array<[string, Script, string]> = [
    ["600 to USER", { on: { USER: (c) => c.write("600 who?\r\n") } }, "600"],
    ["000 to USER", { on: { USER: (c) => c.write("000 who?\r\n") } }, "000"],
    ["650 to PASS", { on: { PASS: (c) => c.write("650 fine\r\n") } }, "650"],
    ["a multi-line 600 greeting", { greet: (c) => c.write("600-hello\r\n600 there\r\n") }, "600"],
    ["a 099 greeting", { greet: (c) => c.write("099 hello\r\n") }, "099"],
  ];
  for (const [name, script, code] of cases) {
    test(`${name}: exit 7, one line naming the code`, async () => {
      const server = t.start(script);
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${server.port}/f.bin`, "--stall-timeout", "2", "--quiet"], { cwd: t.work, timeoutMs: 30_000 });
      // Before: 600 to USER or PASS "login failed … (600)", exit 6; a 600 greeting "server refused the connection", exit 8; 099 waited for ever.
      expect(r.stderr).toBe(`[error] protocol error from server: reply code ${code} is outside 100-599\n`);
      expect(r.code).toBe(7);
    });
  }
});

describe("a listing whose data connection is reset, then a 226", () => {
  test("sync --delete: the listing is a failed one, and no local file is deleted", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, "0")}.txt`);
    mkdirSync(join(t.work, "mirror"));
    for (const n of names) writeFileSync(join(t.work, "mirror", n), "abc");
    const lines = names.map((n) => `type=file;size=3;modify=20260101120000; ${n}\r\n`).join("");
    const server = t.start({
      feat: ["SIZE", "MLSD"],
      on: {
        CWD: (c) => c.reply(250, "ok"),
        async MLSD(c) {
          const d = await c.data();
          c.reply(150, "Here comes the listing");
          // Half the listing, the connection reset under it (a middlebox, a crashed worker), and yet a 226.
          await d.send(Buffer.from(lines.slice(0, lines.length >> 1)));
          await Bun.sleep(100);
          d.reset();
          c.reply(226, "Directory send OK");
        },
      },
    });
    const r = await runFtpkit(["sync", `ftp://u:p@127.0.0.1:${server.port}/t/`, "mirror", "--delete", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toStartWith("[error] the listing of /t was cut short: the data connection failed after 490 bytes (ECONNRESET");
    expect(r.code).toBe(4);
    // Before: the half listing taken as whole, and the 10 files past it deleted (exit 0).
    expect(readdirSync(join(t.work, "mirror")).sort()).toEqual(names);
  });
});

describe("--json output of names a server chose", () => {
  const NAME = "a\x1b[31m\x9b2J\u202Eb\x07.txt";
  const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
  const listing: Script = {
    feat: ["SIZE"],
    on: {
      SIZE: (c) => c.reply(213, "3"),
      CWD: (c) => c.reply(250, "ok"),
      LIST: sendsListing([`-rw-r--r-- 1 ftp ftp 3 Jan 01 12:00 ${NAME}`]),
      RETR: sendsFile(Buffer.from("abc")),
    },
  };

  test("ls --json: C1 controls (U+009B, a one-character CSI) and bidi overrides are \\u escapes, and the name parses back whole", async () => {
    const server = t.start(listing);
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${server.port}/`, "--json"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    // Before: U+009B and U+202E raw in the output (JSON.stringify escapes only C0).
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain("\\u009b2J\\u202eb");
    expect(JSON.parse(r.stdout)[0].name).toBe(NAME);
  });

  test("get -r --json: the job's report escapes them too", async () => {
    const server = t.start(listing);
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${server.port}/t`, "out", "--json"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain("\\u009b2J\\u202eb");
    expect(JSON.stringify(JSON.parse(r.stdout))).toContain(JSON.stringify(NAME).slice(1, -1));
  });
});
