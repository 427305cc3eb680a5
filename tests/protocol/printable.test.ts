import { describe, expect, test } from "bun:test";
import { hasUnsafeNameChars, maskUnsafeNameChars, printableJson, printableMessage, printableName } from "../../protocol/printable.ts";

describe("printable text", () => {
  test("a name: every C0 control, DEL and C1 becomes \\xNN; printable and non-ASCII text stays", () => {
    expect(printableName("a\x1b[2Jb\tc\nd\x7fe\x9bf")).toBe("a\\x1b[2Jb\\x09c\\x0ad\\x7fe\\x9bf");
    expect(printableName("café – 日本.txt")).toBe("café – 日本.txt");
  });

  test("a name: the bidi overrides, embeddings and isolates become \\uNNNN, so a name cannot show as another", () => {
    expect(printableName("invoice\u202efdp.exe")).toBe("invoice\\u202efdp.exe");
    expect(printableName("a\u2066b\u2069c\u202ad")).toBe("a\\u2066b\\u2069c\\u202ad");
    expect(printableName("שלום عربي.txt")).toBe("שלום عربي.txt");
  });

  test("a message keeps its newlines and tabs, and escapes the other controls", () => {
    expect(printableMessage("line 1\n\tline 2\r\x1b]0;t\x07")).toBe("line 1\n\tline 2\\x0d\\x1b]0;t\\x07");
  });

  // Server side: what a created name may not hold, and how a name already on disk is shown.
  const UNSAFE: Array<[string, string]> = [
    ["ESC", "\x1b"], ["BEL", "\x07"], ["TAB", "\t"], ["CR", "\r"], ["LF", "\n"], ["NUL", "\0"], ["DEL", "\x7f"],
    ["C1 first", "\x80"], ["C1 CSI", "\x9b"], ["C1 last", "\x9f"], ["U+2028", "\u2028"], ["U+2029", "\u2029"],
    ["U+202A LRE", "\u202a"], ["U+202E RLO", "\u202e"], ["U+2066 LRI", "\u2066"], ["U+2069 PDI", "\u2069"],
  ];
  for (const [what, ch] of UNSAFE) {
    test(`${what} is not allowed in a name and is shown as "?"`, () => {
      expect(hasUnsafeNameChars(`a${ch}b`)).toBe(true);
      expect(maskUnsafeNameChars(`a${ch}b${ch}`)).toBe("a?b?");
    });
  }

  test("printable, non-ASCII and odd-but-harmless names pass unchanged", () => {
    for (const name of ["café – 日本.txt", 'say "hi".txt', "with space", "\u00a0nbsp", "\u00ff", "emoji 😀", "a?b*[c]", "שלום.txt", "عربي.txt", "mark\u200eLRM"]) {
      expect(hasUnsafeNameChars(name)).toBe(false);
      expect(maskUnsafeNameChars(name)).toBe(name);
    }
  });
});

test("printableJson: DEL, C1, U+2028/9 and bidi controls are \\u escapes; the value parses back", () => {
  const value = { name: "x\x7f\x80\x9b\u2028\u2029\u202a\u202e\u2066\u2069\x1b\u05d0é", n: [1, null] };
  const text = printableJson(value);
  expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  expect(text).toContain("\\u007f\\u0080\\u009b\\u2028\\u2029\\u202a\\u202e\\u2066\\u2069\\u001b\u05d0é");
  expect(JSON.parse(text)).toEqual(value);
  expect(printableJson({ a: "plain" })).toBe(JSON.stringify({ a: "plain" }, null, 2));
});
