// RANG's wire form (draft-bryan-ftp-range: END inclusive) against ftpkit's internal [start, end).
import { expect, test } from "bun:test";
import { ParseError } from "../../protocol/errors.ts";
import { formatRangeArg, parseRange } from "../../protocol/hash.ts";

test("RANG 10 19 is the 10 bytes [10, 20); START-END is accepted too", () => {
  expect(parseRange("10 19")).toEqual({ start: 10, end: 20 });
  expect(parseRange("10-19")).toEqual({ start: 10, end: 20 });
  expect(parseRange("0 0")).toEqual({ start: 0, end: 1 });
});

test("a reversed or malformed range is a ParseError", () => {
  for (const bad of ["9 2", "x", "1", "-1 4", "1 2 3", "99999999999999999999 1"]) expect(() => parseRange(bad)).toThrow(ParseError);
});

test("formatRangeArg is the inverse of parseRange, and refuses an empty range", () => {
  for (const r of [{ start: 0, end: 1 }, { start: 0, end: 50_000 }, { start: 7, end: 9 }]) expect(parseRange(formatRangeArg(r))).toEqual(r);
  expect(formatRangeArg({ start: 0, end: 50_000 })).toBe("0 49999");
  expect(() => formatRangeArg({ start: 5, end: 5 })).toThrow(ParseError);
});
