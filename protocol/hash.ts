import { ParseError } from "./errors.ts";

/** Hash algorithms for HASH (draft-bryan-ftp-hash) by their wire names, and the legacy X-verbs. */
export const HASH_ALGORITHMS = ["SHA-256", "SHA-1", "MD5", "CRC32", "SHA-512"] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

export const LEGACY_HASH_VERBS: Record<string, HashAlgorithm> = {
  XMD5: "MD5",
  XSHA1: "SHA-1",
  XSHA256: "SHA-256",
  XSHA512: "SHA-512",
  XCRC: "CRC32",
};

export function parseHashAlgorithm(text: string): HashAlgorithm {
  const t = text.trim().toUpperCase().replace(/^SHA(\d)/, "SHA-$1");
  const found = HASH_ALGORITHMS.find((a) => a === t);
  if (!found) throw new ParseError(`unknown hash algorithm "${text}"`);
  return found;
}

/** A HASH result: "213 SHA-256 0-1234 e3b0… name". */
export interface HashResult {
  algorithm: HashAlgorithm;
  start: number;
  end: number;
  hex: string;
  path: string;
}

export function formatHashReply(r: HashResult): string {
  return `${r.algorithm} ${r.start}-${r.end} ${r.hex} ${r.path}`;
}

/**
 * Hex digits of each algorithm's digest. A digest of another length is no digest of that algorithm:
 * taken as the server's word, it failed the check of a good download (set aside as corrupt, exit 9),
 * and one of 900,000 digits was printed whole in the error.
 */
export const DIGEST_HEX_DIGITS: Record<HashAlgorithm, number> = { "SHA-256": 64, "SHA-1": 40, MD5: 32, CRC32: 8, "SHA-512": 128 };

/** `hex`, lower case, when it has `algorithm`'s length (a CRC32 without its leading zeros gets them). */
export function digestOfLength(hex: string, algorithm: HashAlgorithm): string {
  const digits = DIGEST_HEX_DIGITS[algorithm];
  if (algorithm === "CRC32" && hex.length > 0 && hex.length < digits) hex = hex.padStart(digits, "0");
  if (hex.length !== digits) throw new ParseError(`a ${algorithm} digest of ${hex.length} hex digits, not ${digits}`);
  return hex.toLowerCase();
}

export function parseHashReply(text: string): HashResult {
  const m = /^(\S+) (\d+)-(\d+) ([0-9a-fA-F]+) (.*)$/.exec(text.trim());
  if (!m) throw new ParseError(`malformed HASH reply: ${text.slice(0, 80)}`);
  const algorithm = parseHashAlgorithm(m[1]!);
  const start = Number(m[2]);
  const end = Number(m[3]);
  // Past 2^53 the numbers round: a range "0-9007199254740993" read as another range.
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) throw new ParseError(`HASH reply's range ${m[2]!.slice(0, 24)}-${m[3]!.slice(0, 24)} is no byte range`);
  return {
    algorithm,
    start,
    end,
    hex: digestOfLength(m[4]!, algorithm),
    path: m[5]!,
  };
}

/** Legacy XMD5/XSHA256 replies are "250 <hex>" or "213 <hex>"; some servers append the name. */
export function parseLegacyHashReply(text: string): string {
  const m = /\b([0-9a-fA-F]{8,128})\b/.exec(text);
  if (!m) throw new ParseError(`malformed hash reply: ${text.slice(0, 80)}`);
  return m[1]!.toLowerCase();
}

/**
 * RANG's argument, "START END" or "START-END". draft-bryan-ftp-range: "the end-point is
 * inclusive" (ProFTPD: `RANG 10 19` sends 10 bytes). Returned as ftpkit keeps ranges inside,
 * `start` inclusive and `end` exclusive (end = END + 1), which is also how a HASH reply states the
 * range it hashed: a whole file of N bytes is "0-N" (FileZilla's convention).
 */
export function parseRange(text: string): { start: number; end: number } {
  const m = /^\s*(\d+)[ -](\d+)\s*$/.exec(text);
  if (!m) throw new ParseError("invalid range, expected START END");
  const start = Number(m[1]);
  const last = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last + 1) || last < start) throw new ParseError("invalid range");
  return { start, end: last + 1 };
}

/** RANG's argument for bytes [start, end): "START END" with END inclusive. The range must not be empty. */
export function formatRangeArg(range: { start: number; end: number }): string {
  if (!(range.end > range.start) || range.start < 0) throw new ParseError("empty byte range");
  return `${range.start} ${range.end - 1}`;
}
