// Seeded fuzzing of every parser in protocol/ (and the netrc and users-file readers): random,
// mutated and boundary inputs. Each parser throws only its documented error, answers each input
// within 100 ms (a backtracking or quadratic path shows up here first), and what is formatted parses
// back to what it was.
import { describe, expect, test } from "bun:test";
import { parseEprt, parseEpsvReply, parseHostPort, formatEprt, formatEpsvReply, formatPasvReply, isIPv4, isIPv6 } from "../../protocol/address.ts";
import { parseCidrList, parseDuration, parseIp } from "../../protocol/cidr.ts";
import { LineSplitter, parseCommandLine } from "../../protocol/command.ts";
import { FtpError, ParseError } from "../../protocol/errors.ts";
import { compileGlob, hasGlob, urlGlobSegment } from "../../protocol/glob.ts";
import { formatRangeArg, parseHashReply, parseLegacyHashReply, parseRange } from "../../protocol/hash.ts";
import { formatListLine, formatMlsxLine, parseListLine, parseMlsxLine, parseMlstOpts, type FileInfo } from "../../protocol/listing.ts";
import { normalizeVirtualPath, quotePath, unquotePath } from "../../protocol/path.ts";
import { formatProxyV2, MAX_PROXY_V2_LENGTH, parseProxyHeader } from "../../protocol/proxy.ts";
import { formatReply, parseReply, ReplyParser } from "../../protocol/reply.ts";
import { parseRate, parseSize } from "../../protocol/size.ts";
import { RecordTail } from "../../protocol/tls-record-tail.ts";
import { formatFtpUrl, parseFtpUrl } from "../../protocol/url.ts";
import { parseNetrc } from "../../client/netrc.ts";
import { parseUsers, UsersFileError } from "../../server/auth/ini-store.ts";
import { formatSizeExact } from "../../protocol/size.ts";

const ROUNDS = 300;
/** Far above any parser's time for these inputs (a few ms), far below a quadratic one's (seconds). */
const SLOW_MS = 100;

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const rand = prng(20261205);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;

/** Pieces that break parsers: controls, invalid UTF-16, number spellings, separators, long runs. */
const ATOMS = [
  "", " ", "\0", "\r", "\n", "\r\n", "\xff", "\ud800", "\udc80", "1e308", "0x", "0x10", "-1", "-0", "NaN", "Infinity", "٣", "１",
  "9".repeat(30), ",", ".", ":", "::", "|", "/", "..", "%", "%00", "%0d%0a", "@", "[", "]", "*", "?", "\\", '"', "=", ";", "#", "-",
  "é", "😀", "\u202e", "\t", "255", "256", "65535", "65536", "0", "127.0.0.1", "::1", "drwxr-xr-x", "Jan", "12:00", "2024",
  "type=file", "size=", "modify=", "SHA-256", "ftp://", "[::1]", "PROXY ", "TCP4", "machine", "password", "macdef", "[user]", "ABOR",
];

function junk(parts = 10): string {
  let s = "";
  for (let i = int(parts); i > 0; i--) {
    const r = rand();
    if (r < 0.6) s += pick(ATOMS);
    else if (r < 0.8) s += String.fromCharCode(int(256));
    else if (r < 0.9) s += String.fromCodePoint(int(0x110000));
    else s += pick(ATOMS).repeat(1 + int(3000));
  }
  return s;
}

function mutate(s: string): string {
  const a = [...s];
  for (let k = 1 + int(4); k > 0; k--) {
    const at = int(a.length + 1);
    const op = int(4);
    if (op === 0) a.splice(at, 1);
    else if (op === 1) a.splice(at, 0, pick(ATOMS));
    else if (op === 2) a.splice(at, 1, String.fromCharCode(int(256)));
    else a.splice(at, 0, ...a.slice(int(a.length), int(a.length)));
  }
  return a.join("");
}

const input = (seeds: readonly string[]) => (rand() < 0.5 ? mutate(pick(seeds)) : rand() < 0.5 ? junk() : pick(seeds) + junk(4));

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Run `fn`: it returns, or throws one of `allowed`; and it takes under SLOW_MS. A slow call is timed
 * twice more: a garbage collection or a busy machine slows one run, a quadratic input every run.
 */
function probe<T>(what: string, given: unknown, fn: () => T, allowed: readonly ErrorClass[] = [ParseError]): T | undefined {
  let out: T | undefined;
  let fastest = Infinity;
  for (let run = 0; run < 3 && fastest > SLOW_MS; run++) {
    const started = performance.now();
    try {
      out = fn();
    } catch (err) {
      if (!allowed.some((k) => err instanceof k)) throw new Error(`${what} threw ${String(err)} for ${JSON.stringify(String(given).slice(0, 200))}`);
    }
    fastest = Math.min(fastest, performance.now() - started);
  }
  if (fastest > SLOW_MS) throw new Error(`${what} took ${fastest.toFixed(0)} ms for ${JSON.stringify(String(given).slice(0, 200))} (${String(given).length} chars)`);
  return out;
}

/** A property of one parser's output for one input; the failure names both. */
function holds(property: boolean, what: string, given: unknown, got: unknown): void {
  if (!property) throw new Error(`${what}: ${JSON.stringify(String(given).slice(0, 200))} gave ${JSON.stringify(got)}`);
}

describe("fuzzed parsers throw only their error, fast, and round-trip", () => {
  test("command lines: parsed or refused, never thrown; splitting the bytes anywhere gives the same lines", () => {
    const seeds = ["USER u", "RETR a b", "PORT 127,0,0,1,4,1", "EPRT |2|::1|21|", "REST 100", "OPTS MLST type;size;", "\xff\xf4\xff\xf2ABOR"];
    for (let i = 0; i < ROUNDS; i++) {
      const line = input(seeds);
      const r = probe("parseCommandLine", line, () => parseCommandLine(line), []);
      if (r?.ok) expect(r.command.verb).toMatch(/^[A-Z][A-Z0-9]{2,7}$/);
      const bytes = Buffer.from(`${line}\r\n${input(seeds)}${rand() < 0.5 ? "\r\n" : ""}`, rand() < 0.3 ? "latin1" : "utf8");
      const whole = probe("LineSplitter", line, () => new LineSplitter().push(bytes), [])!;
      // "ABOR\r" alone ends its line early on purpose (its LF may come as urgent data): no invariance there.
      if (/ABOR\r/i.test(bytes.toString("latin1"))) continue;
      const pieces = new LineSplitter();
      const lines: (string | null)[] = [];
      for (let at = 0; at < bytes.length; ) {
        const n = 1 + int(9);
        lines.push(...pieces.push(bytes.subarray(at, at + n)).lines);
        at += n;
      }
      expect({ lines }).toEqual(whole);
    }
  });

  test("replies: ParseError or replies, whole or in pieces alike; a formatted reply parses back", () => {
    const seeds = ["200 ok\r\n", "211-Features:\r\n UTF8\r\n211 End\r\n", "227 Entering Passive Mode (127,0,0,1,4,1).\r\n", "229 Entering Extended Passive Mode (|||6446|)\r\n"];
    for (let i = 0; i < ROUNDS; i++) {
      const text = input(seeds);
      const whole = probe("ReplyParser", text, () => new ReplyParser().push(text));
      const p = new ReplyParser();
      const got = probe("ReplyParser in pieces", text, () => {
        const out = [];
        for (let at = 0; at < text.length; at += 7) out.push(...p.push(text.slice(at, at + 7)));
        return out;
      });
      if (whole && got) expect(got).toEqual(whole);
      const code = 100 + int(500);
      const lines = Array.from({ length: 1 + int(4) }, () => junk(3));
      const back = probe("parseReply(formatReply)", lines, () => parseReply(formatReply(code, lines)))!;
      const sent = lines.map((l) => l.replace(/[\r\n]+/g, " "));
      expect(back.code).toBe(code);
      expect([back.lines[0], back.lines.at(-1), back.lines.length]).toEqual([sent[0], sent.at(-1), sent.length]);
    }
  });

  test("PASV, EPSV and EPRT: ParseError or a valid host and port; formatted ones parse back", () => {
    const seeds = ["227 (127,0,0,1,4,1)", "|1|127.0.0.1|21|", "|2|::1|65535|", "!2!fe80::1!2!", "(|||6446|)"];
    for (let i = 0; i < ROUNDS; i++) {
      const text = input(seeds);
      const hp = probe("parseHostPort", text, () => parseHostPort(text));
      if (hp) holds(isIPv4(hp.host) && hp.port >= 1 && hp.port <= 65535, "parseHostPort", text, hp);
      const e = probe("parseEprt", text, () => parseEprt(text));
      if (e) holds((isIPv4(e.host) || isIPv6(e.host)) && Number.isInteger(e.port) && e.port >= 1 && e.port <= 65535, "parseEprt", text, e);
      const port = probe("parseEpsvReply", text, () => parseEpsvReply(text));
      if (port !== undefined) holds(port >= 1 && port <= 65535, "parseEpsvReply", text, port);
      const ip = Array.from({ length: 4 }, () => int(256)).join(".");
      const p = 1 + int(65535);
      expect(parseHostPort(formatPasvReply({ host: ip, port: p }))).toEqual({ host: ip, port: p });
      expect(parseEprt(formatEprt({ host: ip, port: p }))).toEqual({ host: ip, port: p });
      expect(parseEpsvReply(formatEpsvReply(p))).toBe(p);
    }
  });

  test("LIST and MLSD lines: ParseError or an entry with a real size and time; formatted entries parse back", () => {
    const now = new Date(Date.UTC(2026, 11, 5, 10));
    const list = [
      "drwxr-xr-x   2 ftp ftp 4096 Jan  1 12:00 dir",
      "-rw-r--r-- 1 ftp ftp 12 Mar  4  2020 a b.txt",
      "lrwxrwxrwx 1 u g 4 Dec 31 23:59 l -> t",
      "total 12",
      "-rw-r--r--+   1 1000   1234 2024-01-31 10:30 no group",
      "crw-rw-rw-   1 root     root       5,   1 Jan  1  2020 console",
      "-rw-r--r-- 1 u g 5 2024-01-31 10:30:45.123456789 +0100 full",
      "12-05-26  11:19AM       <DIR>          name with spaces",
      "01-31-2024  03:04PM            123456 file.txt",
      "2024-01-31  14:05               4096 iso.bin",
    ];
    const mlsx = ["type=file;size=12;modify=20261121095300;perm=r; a.txt", "type=dir;sizd=4096;modify=20261121095300.123;UNIX.mode=0755; d", "type=OS.unix=slink:/x;unique=ab; l"];
    for (let i = 0; i < ROUNDS; i++) {
      const line = input(list);
      const l = probe("parseListLine", line, () => parseListLine(line, now));
      if (l) holds(l.size >= 0 && !Number.isNaN(l.mtime.getTime()), "parseListLine", line, l);
      const fact = input(mlsx);
      const m = probe("parseMlsxLine", fact, () => parseMlsxLine(fact));
      if (m) holds(Number.isSafeInteger(m.size) && m.size >= 0 && !Number.isNaN(m.mtime.getTime()), "parseMlsxLine", fact, m);
      probe("parseMlstOpts", fact, () => parseMlstOpts(fact), []);
      const info: FileInfo = {
        name: junk(3).replace(/[\r\n]/g, "") || "x",
        type: rand() < 0.5 ? "file" : "dir",
        size: int(2 ** 40),
        mtime: new Date(Date.UTC(1971 + int(80), int(12), 1 + int(28), int(24), int(60))),
        mode: int(512),
      };
      const back = parseListLine(formatListLine(info, now), now)!;
      expect(back).toMatchObject({ name: info.name, type: info.type, size: info.size, mode: info.mode });
      expect(Math.abs(back.mtime.getTime() - info.mtime.getTime())).toBeLessThan(back.mtimePrecisionMs!);
      expect(parseMlsxLine(formatMlsxLine(info))).toMatchObject({ name: info.name, type: info.type, size: info.size, mode: info.mode, mtime: info.mtime });
    }
  });

  test("HASH replies, RANG, sizes, rates, durations, CIDR: ParseError or a safe non-negative number", () => {
    const seeds = ["213 SHA-256 0-10 abcdef a.txt", "0 99", "10-19", "10MB", "1.5GiB", "unlimited", "500K/s", "90s", "15m", "10.0.0.0/8, ::1"];
    for (let i = 0; i < ROUNDS; i++) {
      const text = input(seeds);
      probe("parseHashReply", text, () => parseHashReply(text));
      probe("parseLegacyHashReply", text, () => parseLegacyHashReply(text));
      const r = probe("parseRange", text, () => parseRange(text));
      if (r) holds(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start >= 0 && r.end > r.start, "parseRange", text, r);
      for (const [what, parse] of [["parseSize", () => parseSize(text, { allowUnlimited: true })], ["parseRate", () => parseRate(text)], ["parseDuration", () => parseDuration(text)]] as const) {
        const n = probe(what, text, parse);
        if (n !== undefined) holds(Number.isSafeInteger(n) && n >= 0, what, text, n);
      }
      probe("parseCidrList", text, () => parseCidrList(text));
      probe("parseIp", text, () => parseIp(text), []);
      const start = int(1e9);
      const end = start + 1 + int(1e9);
      expect(parseRange(formatRangeArg({ start, end }))).toEqual({ start, end });
      const bytes = int(2 ** 45);
      expect(parseSize(formatSizeExact(bytes))).toBe(bytes);
    }
  });

  test("boundary numbers: 400 digits, 1e308, 0x10, -1, Unicode digits, NaN are refused or give a safe non-negative integer", () => {
    const numbers = ["9".repeat(400), "1e308", "0x10", "0x", "-1", "-0", "٣", "１", "NaN", "Infinity", "", " ", "\0", "\r", "\n", "1.", ".5", "0.0000001"];
    for (const n of numbers) {
      for (const text of [n, `${n}d`, `${n}ms`, `${n}GiB`, `${n}K/s`, `${n} ${n}`, `${n}-${n}`, `0 ${n}`]) {
        for (const [what, parse] of [["parseSize", () => parseSize(text, { allowUnlimited: true })], ["parseRate", () => parseRate(text)], ["parseDuration", () => parseDuration(text)]] as const) {
          const v = probe(what, text, parse);
          if (v !== undefined) holds(Number.isSafeInteger(v) && v >= 0, what, text, v);
        }
        const r = probe("parseRange", text, () => parseRange(text));
        if (r) holds(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.end > r.start, "parseRange", text, r);
        const m = probe("parseMlsxLine", text, () => parseMlsxLine(`type=file;size=${text};modify=20260101000000; f`));
        if (m) holds(Number.isSafeInteger(m.size) && m.size >= 0, "parseMlsxLine size", text, m.size);
        for (const address of [`|1|127.0.0.1|${text}|`, `127,0,0,1,${text},1`, `(|||${text}|)`]) {
          for (const parse of [parseEprt, parseHostPort, parseEpsvReply] as const) {
            const got = probe(parse.name, address, () => parse(address));
            const port = typeof got === "number" ? got : got?.port;
            if (port !== undefined) holds(Number.isInteger(port) && port >= 1 && port <= 65535, parse.name, address, port);
          }
        }
      }
    }
  });

  test("globs and paths: a matcher for any pattern, a clean absolute path or a 501, 257 quoting round-trips", () => {
    const seeds = ["*.txt", "[a-z]?*", "\\[x\\]", "*a*a*a*b", "[!]x]*", "a/../../b", "//x/./y"];
    for (let i = 0; i < ROUNDS; i++) {
      const pattern = input(seeds);
      const name = junk(5);
      probe("hasGlob", pattern, () => hasGlob(pattern), []);
      const match = probe("compileGlob", pattern, () => compileGlob(pattern), [])!;
      expect(typeof probe("glob match", `${pattern} / ${name}`, () => match(name), [])).toBe("boolean");
      probe("urlGlobSegment", pattern, () => urlGlobSegment(pattern), [URIError]);
      const v = probe("normalizeVirtualPath", name, () => normalizeVirtualPath("/a/b", name), [FtpError]);
      if (v !== undefined) holds(v.startsWith("/") && !v.split("/").includes("..") && !v.includes("//"), "normalizeVirtualPath", name, v);
      expect(unquotePath(`${quotePath(name)} created`)).toBe(name);
    }
  });

  test("FTP URLs: ParseError or a URL that formats and parses back to itself (without its password)", () => {
    const seeds = ["ftp://u:p@host:21/path", "ftps://[::1]:990//abs;type=i", "ftp://h/a%20b", "ftp://u@h/dir;type=d"];
    for (let i = 0; i < ROUNDS; i++) {
      const text = input(seeds);
      const url = probe("parseFtpUrl", text, () => parseFtpUrl(text, { listing: true }));
      if (!url) continue;
      const { password: _dropped, ...rest } = url;
      expect(parseFtpUrl(formatFtpUrl(url), { listing: true })).toEqual(rest);
    }
  });

  test("PROXY headers and TLS record tails: never thrown; a header is never longer than its bytes or the cap", () => {
    for (let i = 0; i < ROUNDS; i++) {
      let bytes: Uint8Array;
      if (rand() < 0.5) {
        const v6 = rand() < 0.5;
        const end = { ip: v6 ? "2001:db8::1" : "192.0.2.1", port: int(65536) };
        bytes = Uint8Array.from(formatProxyV2(end, end, new Uint8Array(int(64))));
        for (let k = int(4); k > 0; k--) bytes[int(bytes.length)] = int(256);
        bytes = bytes.subarray(0, rand() < 0.2 ? int(bytes.length) : bytes.length);
      } else bytes = Buffer.from(input(["PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP6 ::1 ::2 1 2\r\n", "PROXY UNKNOWN\r\n"]), "latin1");
      const r = probe("parseProxyHeader", Buffer.from(bytes).toString("latin1"), () => parseProxyHeader(bytes), []);
      if (r?.status === "ok") holds(r.length <= bytes.length && r.length <= MAX_PROXY_V2_LENGTH, "parseProxyHeader", bytes.length, r);
      const tail = new RecordTail();
      probe("RecordTail", bytes.length, () => tail.push(bytes), []);
      expect(typeof tail.endedWithAlert).toBe("boolean");
    }
  });

  test("netrc and users files: entries or a UsersFileError, never another error", () => {
    const netrc = ['machine h login u password "p w"\ndefault login x password y', "macdef init\ncd /\n\nmachine h login u password p"];
    const ini = ["[alice]\npassword = $argon2id$x\nhome = /srv/a\nquota = 10MB\nperm = read,write\nmount./pub = /srv/pub|read|1GB\nrequire_tls = true\n"];
    for (let i = 0; i < ROUNDS; i++) {
      const n = input(netrc);
      for (const e of probe("parseNetrc", n, () => parseNetrc(n), [])!) holds(e.machine === null || typeof e.machine === "string", "parseNetrc", n, e);
      const u = input(ini);
      probe("parseUsers", u, () => parseUsers(u, "/srv/ftp/users.ini"), [UsersFileError]);
    }
  });
});
