// A listing's lines as its bytes arrive (protocol/listing-lines.ts): the same lines however the bytes
// are cut into chunks, and each line given as soon as it is whole, not once the listing has ended.
import { describe, expect, test } from "bun:test";
import { LINE_END_LOOKAHEAD, ListingLines } from "../../protocol/listing-lines.ts";

/** The lines of `bytes` fed in pieces cut at `cuts`, and whether the listing was lossy. */
function split(bytes: Uint8Array, cuts: number[] = []): { lines: string[]; lossy: boolean } {
  const lines: string[] = [];
  const s = new ListingLines((l) => lines.push(l));
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    s.push(bytes.subarray(from, at));
    from = at;
  }
  s.end();
  return { lines, lossy: s.lossy };
}

/** Every way of cutting `bytes` in two, and in one-byte chunks. */
function everyCut(bytes: Uint8Array): number[][] {
  const ways = Array.from({ length: bytes.length + 1 }, (_, i) => [i]);
  ways.push(Array.from({ length: bytes.length }, (_, i) => i));
  return ways;
}

const mlsd = (name: string) => `type=file;size=1;modify=20260101120000; ${name}`;

describe("a listing cut into chunks anywhere", () => {
  const cases: Array<[string, string | Uint8Array, string[], boolean]> = [
    ["CRLF lines with names of 2-, 3- and 4-byte UTF-8 characters", ["é.txt", "日本語", "😀 x", "a"].map((n) => `${mlsd(n)}\r\n`).join(""), ["é.txt", "日本語", "😀 x", "a"].map(mlsd), false],
    ["LF lines (no CRLF anywhere)", ["é", "b", "c"].map((n) => `${mlsd(n)}\n`).join(""), ["é", "b", "c"].map(mlsd), false],
    ["a bare LF inside a name of a CRLF listing stays in its line", `${mlsd("x\ny")}\r\n${mlsd("z")}\r\n`, [mlsd("x\ny"), mlsd("z")], false],
    ["a byte order mark before the listing is dropped, one opening a later line kept", `\uFEFF${mlsd("a")}\r\n\uFEFF${mlsd("b")}\r\n`, [mlsd("a"), `\uFEFF${mlsd("b")}`], false],
    ["a last line without a line end", `${mlsd("a")}\r\n${mlsd("ü")}`, [mlsd("a"), mlsd("ü")], false],
    ["a name that is not UTF-8 (Latin-1) reads as U+FFFD, the others as they are", Buffer.concat([Buffer.from(`${mlsd("ok")}\r\n${mlsd("caf")}`), Buffer.from([0xe9]), Buffer.from(`\r\n${mlsd("né")}\r\n`)]), [mlsd("ok"), mlsd("caf\uFFFD"), mlsd("né")], true],
  ];
  for (const [name, text, lines, lossy] of cases) {
    test(`${name}: the same lines at every cut`, () => {
      const bytes = typeof text === "string" ? Buffer.from(text) : text;
      expect(split(bytes)).toEqual({ lines, lossy });
      for (const cuts of everyCut(bytes)) expect(split(bytes, cuts)).toEqual({ lines, lossy });
    });
  }
});

describe("lines given as they arrive", () => {
  test("a CRLF listing: each line as soon as its CRLF has come, with CR and LF in different chunks", () => {
    const lines: string[] = [];
    const s = new ListingLines((l) => lines.push(l));
    s.push(Buffer.from(`${mlsd("a")}\r`));
    expect(lines).toEqual([]);
    s.push(Buffer.from(`\n${mlsd("b")}`));
    expect(lines).toEqual([mlsd("a")]);
    s.push(Buffer.from("\r\n"));
    expect(lines).toEqual([mlsd("a"), mlsd("b")]);
  });

  test("an LF listing: lines held back only until LINE_END_LOOKAHEAD bytes of them came without a CRLF", () => {
    const lines: string[] = [];
    const s = new ListingLines((l) => lines.push(l));
    const line = `${mlsd("n".repeat(100))}\n`;
    const count = Math.ceil(LINE_END_LOOKAHEAD / line.length) + 10;
    for (let i = 0; i < count; i++) s.push(Buffer.from(line));
    // Every line given before the end: past the lookahead, each LF ends a line.
    expect(lines.length).toBe(count);
    s.end();
    expect(lines.length).toBe(count);
  });
});
