import { describe, expect, test } from "bun:test";
import { FtpError } from "../../protocol/errors.ts";
import { isWithin, joinVirtual, normalizeVirtualPath, virtualBasename, virtualDirname } from "../../protocol/path.ts";
import { formatCommand, LineSplitter, MAX_COMMAND_LINE, parseCommandLine } from "../../protocol/command.ts";

describe("normalizeVirtualPath", () => {
  const cases: Array<[cwd: string, input: string, out: string]> = [
    ["/", "", "/"],
    ["/", ".", "/"],
    ["/", "..", "/"],
    ["/", "/../..", "/"],
    ["/", "../../etc/passwd", "/etc/passwd"],
    ["/a/b", "..", "/a"],
    ["/a/b", "../..", "/"],
    ["/a/b", "../../../../x", "/x"],
    ["/a", "//x", "/x"],
    ["/a", "x//y///z", "/a/x/y/z"],
    ["/a", "./x/./y/.", "/a/x/y"],
    ["/a", "x/../../y", "/y"],
    ["/", "/docs/", "/docs"],
    ["/", "a\\..\\..\\b", "/a\\..\\..\\b"],
    ["/", "%2e%2e", "/%2e%2e"],
    ["/", "...", "/..."],
    ["/", " leading space", "/ leading space"],
    ["/", 'quo"te', '/quo"te'],
  ];
  for (const [cwd, input, out] of cases) {
    test(`${JSON.stringify(input)} in ${cwd} → ${out}`, () => {
      expect(normalizeVirtualPath(cwd, input)).toBe(out);
    });
  }

  const nul = ["\0", "a\0b", "/etc/passwd\0.txt", "..\0"];
  for (const input of nul) {
    test(`refuses NUL in ${JSON.stringify(input)}`, () => {
      expect(() => normalizeVirtualPath("/", input)).toThrow(FtpError);
    });
  }

  test("helpers agree on clean paths", () => {
    expect(virtualDirname("/a/b")).toBe("/a");
    expect(virtualDirname("/a")).toBe("/");
    expect(virtualDirname("/")).toBe("/");
    expect(virtualBasename("/a/b")).toBe("b");
    expect(virtualBasename("/")).toBe("");
    expect(joinVirtual("/", "x")).toBe("/x");
    expect(joinVirtual("/a", "x")).toBe("/a/x");
    expect(isWithin("/pub", "/pub")).toBe(true);
    expect(isWithin("/pub", "/pub/x")).toBe(true);
    expect(isWithin("/pub", "/public")).toBe(false);
    expect(isWithin("/", "/anything")).toBe(true);
  });
});

describe("command lines", () => {
  test("digest verbs with digits are verbs", () => {
    for (const v of ["XMD5", "XSHA1", "XSHA256", "XSHA512", "XCRC"]) expect(parseCommandLine(`${v} f`).ok).toBe(true);
  });

  test("the verb is upper-cased and the argument kept verbatim", () => {
    expect(parseCommandLine('stor  a "b" c ')).toEqual({ ok: true, command: { verb: "STOR", arg: ' a "b" c ' } });
    expect(parseCommandLine("NOOP")).toEqual({ ok: true, command: { verb: "NOOP", arg: "" } });
  });

  const bad = ["", " NOOP", "NO", "XSHA25600", "0OOP", "NO-P", "RETR\0x", "RE TR"];
  for (const line of bad) {
    test(`refuses command line ${JSON.stringify(line)}`, () => {
      // "RE TR" parses as verb "RE", which is too short
      expect(parseCommandLine(line).ok).toBe(false);
    });
  }

  test("formatCommand refuses CR/LF in an argument", () => {
    expect(formatCommand("RETR", "x")).toBe("RETR x\r\n");
    expect(formatCommand("PWD")).toBe("PWD\r\n");
    expect(() => formatCommand("RETR", "x\r\nDELE y")).toThrow();
  });
});

describe("LineSplitter", () => {
  const enc = (s: string) => new TextEncoder().encode(s);

  test("splits CRLF and bare LF lines", () => {
    const s = new LineSplitter();
    expect(s.push(enc("USER a\r\nPASS b\nNOOP\r\n"))).toEqual({ lines: ["USER a", "PASS b", "NOOP"] });
  });

  test("joins a line split across chunks, even inside CRLF and UTF-8", () => {
    const bytes = enc("RETR café.txt\r\nNOOP\r\n");
    for (let cut = 1; cut < bytes.length; cut++) {
      const s = new LineSplitter();
      const a = s.push(bytes.subarray(0, cut));
      const b = s.push(bytes.subarray(cut));
      expect([...a.lines, ...b.lines]).toEqual(["RETR café.txt", "NOOP"]);
    }
  });

  test("keeps an incomplete line until its newline arrives", () => {
    const s = new LineSplitter();
    expect(s.push(enc("NO")).lines).toEqual([]);
    expect(s.push(enc("OP")).lines).toEqual([]);
    expect(s.push(enc("\r\n")).lines).toEqual(["NOOP"]);
  });

  test("a line of exactly the cap is accepted, one byte more is refused (null, in its place among the others)", () => {
    const s = new LineSplitter();
    const ok = "A".repeat(MAX_COMMAND_LINE);
    expect(s.push(enc(ok + "\n"))).toEqual({ lines: [ok] });
    expect(s.push(enc("PWD\r\n" + "B".repeat(MAX_COMMAND_LINE + 1) + "\nNOOP\n"))).toEqual({ lines: ["PWD", null, "NOOP"] });
  });

  test("an over-long line is reported once and never buffered, however long it grows", () => {
    const s = new LineSplitter();
    const chunk = new Uint8Array(64 * 1024).fill(65);
    const seen: (string | null)[] = [];
    for (let i = 0; i < 64; i++) seen.push(...s.push(chunk).lines);
    expect(seen).toEqual([null]);
    // Nothing accumulated: the internal length never grows past the cap.
    expect((s as unknown as { length: number }).length).toBeLessThanOrEqual(MAX_COMMAND_LINE);
    const end = s.push(enc("tail\r\nNOOP\r\n"));
    expect(end.lines).toEqual(["NOOP"]);
  });

  const telnet: Array<[string, number[], string]> = [
    ["IAC IP IAC DM before ABOR", [0xff, 0xf4, 0xff, 0xf2, ...enc("ABOR\r\n")], "ABOR"],
    ["IAC WILL option", [0xff, 0xfb, 0x01, ...enc("NOOP\r\n")], "NOOP"],
    ["IAC DO option mid-line", [...enc("NO"), 0xff, 0xfd, 0x03, ...enc("OP\r\n")], "NOOP"],
    ["IAC IAC is a literal 0xFF (not UTF-8: kept as the escape U+DCFF, never as U+FFFD)", [...enc("X"), 0xff, 0xff, ...enc("\r\n")], "X\uDCFF"],
  ];
  for (const [name, bytes, line] of telnet) {
    test(`strips TELNET commands: ${name}`, () => {
      expect(new LineSplitter().push(new Uint8Array(bytes)).lines).toEqual([line]);
    });
  }

  // IAC before a byte that is no TELNET command is not TELNET (RFC 854): nothing the user sent is dropped.
  const notTelnet: Array<[string, number[], string]> = [
    ["IAC before a letter keeps both bytes", [...enc("MKD bad"), 0xff, ...enc("name\r\n")], "MKD bad\uDCFFname"],
    ["IAC at the end of the line is kept", [...enc("MKD x"), 0xff, ...enc("\r\n")], "MKD x\uDCFF"],
    ["IAC NOP and IAC AYT are commands", [...enc("NO"), 0xff, 0xf1, ...enc("OP"), 0xff, 0xf6, ...enc("\r\n")], "NOOP"],
  ];
  for (const [name, bytes, line] of notTelnet) {
    test(`keeps what is not TELNET: ${name}`, () => {
      const got = new LineSplitter().push(new Uint8Array(bytes)).lines;
      expect(got).toEqual([line]);
      // Not UTF-8 with the 0xFF in it: a name is refused with 553, never changed.
      if (line.includes("\uDCFF")) expect(parseCommandLine(got[0]!)).toMatchObject({ ok: false, code: 553 });
    });
  }
});

describe("LineSplitter: ABOR whose last byte went as TCP urgent data", () => {
  // The kernel takes the urgent byte out of the stream: Python's ftplib sends "ABOR\r\n" with
  // MSG_OOB (the LF is lost), BSD ftp and tnftp send IAC IP, IAC, then DM as the urgent byte.
  const enc = (s: string) => new TextEncoder().encode(s);
  test("ABOR and a CR with nothing after it is a line", () => {
    expect(new LineSplitter().push(enc("ABOR\r")).lines).toEqual(["ABOR"]);
    expect(new LineSplitter().push(enc("abor\r")).lines).toEqual(["abor"]);
  });
  test("an LF that comes after all ends no second line; the next command is read as usual", () => {
    const s = new LineSplitter();
    expect(s.push(enc("ABOR\r")).lines).toEqual(["ABOR"]);
    expect(s.push(enc("\nNOOP\r\n")).lines).toEqual(["NOOP"]);
  });
  test("other commands still wait for their LF", () => {
    const s = new LineSplitter();
    expect(s.push(enc("NOOP\r")).lines).toEqual([]);
    expect(s.push(enc("\n")).lines).toEqual(["NOOP"]);
    expect(s.push(enc("RETR ABOR\r")).lines).toEqual([]);
  });
  test("IAC IP, a lone IAC (its DM taken out of band), then ABOR", () => {
    expect(new LineSplitter().push(new Uint8Array([0xff, 0xf4, 0xff, ...enc("ABOR\r\n")])).lines).toEqual(["ABOR"]);
  });
  test("IAC IP, then the DM without its IAC (the IAC taken out of band, as tnftp and inetutils-ftp send it), then ABOR", () => {
    expect(new LineSplitter().push(new Uint8Array([0xff, 0xf4, 0xf2, ...enc("ABOR\r\n")])).lines).toEqual(["ABOR"]);
  });
});

describe("control lines that are not valid UTF-8", () => {
  const parse = (bytes: number[]) => parseCommandLine(new LineSplitter().push(new Uint8Array([...bytes, 13, 10])).lines[0]!);
  const stor = [0x53, 0x54, 0x4f, 0x52, 0x20, 0x63, 0x61, 0x66]; // "STOR caf"

  test("two different invalid names stay different and are both refused with 553", () => {
    const a = new LineSplitter().push(new Uint8Array([...stor, 0xe9, 13, 10])).lines[0]!;
    const b = new LineSplitter().push(new Uint8Array([...stor, 0xe8, 13, 10])).lines[0]!;
    expect(a).not.toBe(b);
    expect(parse([...stor, 0xe9])).toEqual({ ok: false, code: 553, reason: "File name not allowed: not valid UTF-8" });
  });

  const INVALID: [string, number[]][] = [
    ["a lone continuation byte", [0x80]],
    ["a truncated sequence", [0xe2, 0x82]],
    ["an overlong encoding", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
  ];
  for (const [what, bytes] of INVALID) {
    test(`${what} is refused`, () => {
      expect(parse([...stor, ...bytes])).toMatchObject({ ok: false, code: 553 });
    });
  }

  test("valid multi-byte UTF-8 (and U+FFFD itself) is accepted", () => {
    const ok = parse([...stor, ...Buffer.from("é-\ufffd-😀")]);
    expect(ok).toEqual({ ok: true, command: { verb: "STOR", arg: "café-\ufffd-😀" } });
  });

  test("a byte order mark before the verb is dropped, on a valid line and on one that is not UTF-8; one in the argument is kept", () => {
    const bom = [0xef, 0xbb, 0xbf];
    expect(parse([...bom, ...Buffer.from("USER alice")])).toEqual({ ok: true, command: { verb: "USER", arg: "alice" } });
    expect(parse([...bom, ...stor, 0xe9])).toEqual({ ok: false, code: 553, reason: "File name not allowed: not valid UTF-8" });
    expect(parse([...Buffer.from("RETR "), ...bom, ...Buffer.from("x.txt")])).toEqual({ ok: true, command: { verb: "RETR", arg: "\ufeffx.txt" } });
  });

  test("a password that is not UTF-8 is a 501, not a file-name error", () => {
    expect(parse([0x50, 0x41, 0x53, 0x53, 0x20, 0xe9])).toMatchObject({ ok: false, code: 501 });
  });
});
