import { describe, expect, test } from "bun:test";
import { printableMessage, printableName } from "../../protocol/printable.ts";

describe("printable text", () => {
  test("a name: every C0 control, DEL and C1 becomes \\xNN; printable and non-ASCII text stays", () => {
    expect(printableName("a\x1b[2Jb\tc\nd\x7fe\x9bf")).toBe("a\\x1b[2Jb\\x09c\\x0ad\\x7fe\\x9bf");
    expect(printableName("café – 日本.txt")).toBe("café – 日本.txt");
  });

  test("a message keeps its newlines and tabs, and escapes the other controls", () => {
    expect(printableMessage("line 1\n\tline 2\r\x1b]0;t\x07")).toBe("line 1\n\tline 2\\x0d\\x1b]0;t\\x07");
  });
});
