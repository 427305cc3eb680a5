// TYPE A line-end conversion (server/data/ascii.ts): the pure transforms, chunk boundaries included.
import { expect, test } from "bun:test";
import { CrlfToLf, LfToCrlf } from "../../server/data/ascii.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Feed `text` in every split into two chunks: the result must not depend on where chunks end. */
function allSplits(text: string, run: (chunks: Uint8Array[]) => string): Set<string> {
  const bytes = enc(text);
  const out = new Set<string>();
  for (let i = 0; i <= bytes.length; i++) out.add(run([bytes.subarray(0, i), bytes.subarray(i)]));
  return out;
}

const toWire = (chunks: Uint8Array[]) => {
  const t = new LfToCrlf();
  return chunks.map((c) => dec(t.push(c))).join("");
};
const toStored = (chunks: Uint8Array[]) => {
  const t = new CrlfToLf();
  return chunks.map((c) => dec(t.push(c))).join("") + dec(t.flush());
};

const WIRE: [string, string][] = [
  ["line1\nline2\n", "line1\r\nline2\r\n"],
  ["no newline", "no newline"],
  ["already\r\ncrlf\n", "already\r\ncrlf\r\n"],
  ["\n\n", "\r\n\r\n"],
  ["bare\rcr\n", "bare\rcr\r\n"],
  ["", ""],
];
for (const [stored, wire] of WIRE) {
  test(`stored ${JSON.stringify(stored)} is sent as ${JSON.stringify(wire)} whatever the chunking`, () => {
    expect(allSplits(stored, toWire)).toEqual(new Set([wire]));
  });
}

const STORED: [string, string][] = [
  ["line1\r\nline2\r\n", "line1\nline2\n"],
  ["bare\rcr\r\n", "bare\rcr\n"],
  ["ends with cr\r", "ends with cr\r"],
  ["\r\r\n", "\r\n"],
  ["lf only\n", "lf only\n"],
  ["", ""],
];
for (const [wire, stored] of STORED) {
  test(`received ${JSON.stringify(wire)} is stored as ${JSON.stringify(stored)} whatever the chunking`, () => {
    expect(allSplits(wire, toStored)).toEqual(new Set([stored]));
  });
}

test("a chunk without LF is passed through as the same buffer (no copy)", () => {
  const chunk = enc("just text");
  expect(new LfToCrlf().push(chunk)).toBe(chunk);
});
