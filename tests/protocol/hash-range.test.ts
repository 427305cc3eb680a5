// RANG's wire form (draft-bryan-ftp-range: END inclusive) against ftpkit's internal [start, end).
import { expect, test } from "bun:test";
import { ParseError } from "../../protocol/errors.ts";
import { formatRangeArg, parseHashReply, parseRange } from "../../protocol/hash.ts";

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

test("a HASH reply's digest must have its algorithm's length; a CRC32 without leading zeros gets them", () => {
  const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  expect(parseHashReply(`SHA-256 0-0 ${sha.toUpperCase()} empty`).hex).toBe(sha);
  expect(parseHashReply("CRC32 0-3 1a2b3c name").hex).toBe("001a2b3c");
  expect(() => parseHashReply(`SHA-256 0-0 ${sha.slice(0, 40)} empty`)).toThrow("a SHA-256 digest of 40 hex digits, not 64");
  expect(() => parseHashReply(`MD5 0-0 ${sha} empty`)).toThrow("a MD5 digest of 64 hex digits, not 32");
  expect(() => parseHashReply(`CRC32 0-0 ${"0".repeat(9)} empty`)).toThrow(ParseError);
});

test("a HASH reply's range must be two safe integers, start before end: past 2^53 the numbers rounded", () => {
  const md5 = "d41d8cd98f00b204e9800998ecf8427e";
  expect(parseHashReply(`MD5 5-9007199254740991 ${md5} f`)).toMatchObject({ start: 5, end: 9007199254740991 });
  for (const range of ["0-9007199254740993", "99999999999999999999-1", "10-5"]) expect(() => parseHashReply(`MD5 ${range} ${md5} f`)).toThrow(ParseError);
});
