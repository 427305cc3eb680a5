import { describe, expect, test } from "bun:test";
import { formatReply, parseReply, ReplyParser } from "../../protocol/reply.ts";
import { ParseError } from "../../protocol/errors.ts";
import { quotePath, unquotePath } from "../../protocol/path.ts";

describe("replies", () => {
  const cases: Array<[string, number, string[]]> = [
    ["single line", 200, ["Command okay"]],
    ["empty text", 226, [""]],
    ["two lines", 211, ["Features:", "End"]],
    ["feature list", 211, ["Features:", " UTF8", " EPSV", " MLST type*;size*;", "End"]],
    ["status with unicode", 213, ["Status follows:", "-rw-r--r-- café-ü.txt", "End of status"]],
  ];
  for (const [name, code, lines] of cases) {
    test(`parse(format(x)) equals x: ${name}`, () => {
      expect(parseReply(formatReply(code, lines))).toEqual({ code, lines });
    });
  }

  test("a middle line that looks like a terminator is indented so the reply does not end early", () => {
    const text = formatReply(211, ["Status:", "211 not the end", "End"]);
    const r = parseReply(text);
    expect(r.code).toBe(211);
    expect(r.lines).toHaveLength(3);
    expect(r.lines[1]!.trim()).toBe("211 not the end");
    expect(r.lines[2]).toBe("End");
  });

  test("every middle line that begins with three digits is indented, as RFC 959 §4.2 asks", () => {
    const text = formatReply(220, ["Welcome", "220", "2200 users at most", "123abc", "12 x", "End"]);
    expect(text).toBe("220-Welcome\r\n 220\r\n 2200 users at most\r\n 123abc\r\n12 x\r\n220 End\r\n");
  });

  test("CR and LF inside reply text cannot inject a second reply", () => {
    const text = formatReply(550, ["bad\r\n230 Login successful"]);
    const replies = new ReplyParser().push(text);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.code).toBe(550);
  });

  test("a string with newlines becomes a multi-line reply", () => {
    expect(parseReply(formatReply(214, "a\nb\nc"))).toEqual({ code: 214, lines: ["a", "b", "c"] });
  });

  test("the parser completes replies split across chunks at any byte", () => {
    const text = formatReply(211, ["Features:", " UTF8", "End"]) + formatReply(200, "ok");
    for (let cut = 1; cut < text.length; cut++) {
      const p = new ReplyParser();
      const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(got).toEqual([
        { code: 211, lines: ["Features:", " UTF8", "End"] },
        { code: 200, lines: ["ok"] },
      ]);
    }
  });

  test("a multi-line reply ends only at the same code followed by a space", () => {
    const p = new ReplyParser();
    expect(p.push("211-start\r\n212 other code\r\n211-still going\r\n")).toEqual([]);
    expect(p.push("211 End\r\n")).toEqual([{ code: 211, lines: ["start", "212 other code", "211-still going", "End"] }]);
  });

  const malformed = ["hello", "20 short", "2000 long", "abc def"];
  for (const bad of malformed) {
    test(`rejects a malformed reply line ${JSON.stringify(bad)}`, () => {
      expect(() => parseReply(bad)).toThrow(ParseError);
    });
  }

  // RFC 959 §4.2: the first digit is 1 to 5; a "600" was read as a final reply, a "099" as a preliminary one.
  for (const bad of ["600 no such class", "000 zero", "099 below", "999-a\r\n999 b"]) {
    test(`rejects a reply code outside 100-599: ${JSON.stringify(bad)}`, () => {
      expect(() => parseReply(bad)).toThrow(`reply code ${bad.slice(0, 3)} is outside 100-599`);
    });
  }

  test("refuses a reply buffer over 1 MiB", () => {
    expect(() => new ReplyParser().push("2".repeat(ReplyParser.MAX_BUFFER + 1))).toThrow(ParseError);
  });

  test("a 1 MiB reply line sent 50 bytes at a time is refused in well under a second (each piece was rescanned from the line's start)", () => {
    const p = new ReplyParser();
    const piece = "2".repeat(50);
    const started = performance.now();
    expect(() => {
      for (let i = 0; i <= ReplyParser.MAX_BUFFER / 50; i++) p.push(piece);
    }).toThrow("reply line too long");
    expect(performance.now() - started).toBeLessThan(100);
  });

  test("a reply line in many pieces, and a malformed line, leave the parser where the stream is", () => {
    const p = new ReplyParser();
    for (const c of "200 o") expect(p.push(c)).toEqual([]);
    expect(p.holdsPartial).toBe(true);
    expect(p.push("k\r")).toEqual([]);
    expect(p.push("\n211-a\r\n")).toEqual([{ code: 200, lines: ["ok"] }]);
    expect(p.push("211 b\r\n2")).toEqual([{ code: 211, lines: ["a", "b"] }]);
    expect(p.push("00 c\r\n")).toEqual([{ code: 200, lines: ["c"] }]);
    expect(p.holdsPartial).toBe(false);
    expect(() => p.push("junk\r\n230 next")).toThrow(ParseError);
    expect(p.push("\r\n")).toEqual([{ code: 230, lines: ["next"] }]);
    // Whole lines behind the malformed one in its chunk are read as lines, not glued into one.
    expect(() => p.push("junk\r\n230 a\r\n200 b")).toThrow(ParseError);
    expect(p.holdsPartial).toBe(true);
    expect(p.push("\r\n")).toEqual([{ code: 230, lines: ["a"] }, { code: 200, lines: ["b"] }]);
    expect(p.holdsPartial).toBe(false);
  });

  test("refuses a multi-line reply over MAX_REPLY in short lines, and takes one just under it", () => {
    const line = " a continuation line\r\n";
    const lines = Math.floor(ReplyParser.MAX_REPLY / line.length); // each line counts with its line break
    const under = new ReplyParser();
    expect(under.push("211-start\r\n" + line.repeat(lines - 10))).toEqual([]);
    expect(under.push("211 End\r\n")[0]!.lines).toHaveLength(lines - 10 + 2);
    const over = new ReplyParser();
    over.push("211-start\r\n");
    expect(() => over.push(line.repeat(lines + 10))).toThrow("a multi-line 211 reply longer than 8 MiB");
  });

  test("refuses an endless multi-line reply of empty lines (CRLF or bare LF) like any other", () => {
    for (const eol of ["\r\n", "\n"]) {
      const p = new ReplyParser();
      p.push("220-start\r\n");
      expect(() => {
        for (let i = 0; i < 16; i++) p.push(eol.repeat(ReplyParser.MAX_REPLY / 16));
      }).toThrow("a multi-line 220 reply longer than 8 MiB");
    }
  });
});

describe("257 quoting", () => {
  const paths = ["/", "/a", '/a "b" c', '/"', '/""', "/x/\"quoted\"/y", "/café ü", "/with space/"];
  for (const p of paths) {
    test(`unquotePath(quotePath(${JSON.stringify(p)})) round-trips`, () => {
      const q = quotePath(p);
      expect(unquotePath(q)).toBe(p);
      expect(unquotePath(`${q} created`)).toBe(p);
      // also inside a full reply
      const r = parseReply(formatReply(257, `${q} is the current directory`));
      expect(unquotePath(r.lines[0]!)).toBe(p);
    });
  }

  test("embedded quotes are doubled", () => {
    expect(quotePath('/a"b')).toBe('"/a""b"');
  });

  const bad: Array<[string, string]> = [
    ["no opening quote", "/a created"],
    ["unterminated", '"/abc'],
    ["unterminated after doubled quote", '"/a""'],
    ["empty", ""],
  ];
  for (const [name, text] of bad) {
    test(`unquotePath returns null when ${name}`, () => {
      expect(unquotePath(text)).toBeNull();
    });
  }
});
