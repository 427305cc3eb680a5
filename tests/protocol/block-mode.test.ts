import { describe, expect, test } from "bun:test";
import { BLOCK_EOF, BLOCK_MAX, BLOCK_RESTART, BlockDecoder, BlockError, encodeBlocks, EOF_BLOCK, framedLength } from "../../protocol/block-mode.ts";

const join = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const concat = (...parts: Uint8Array[]) => join(parts);

/** Decode `stream` fed in pieces of `step` bytes: the file bytes, and what followed the EOF block (null: no end yet). */
function decode(stream: Uint8Array, step: number): { data: Uint8Array; rest: Uint8Array | null } {
  const d = new BlockDecoder();
  const pieces: Uint8Array[] = [];
  let rest: Uint8Array | null = null;
  for (let at = 0; at < stream.length && rest === null; at += step) {
    const got = d.push(stream.subarray(at, at + step), (p) => pieces.push(p.slice()));
    if (got !== null) rest = concat(got, stream.subarray(at + step));
  }
  return { data: join(pieces), rest };
}

const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
};

describe("MODE B blocks", () => {
  test("a file framed and read back is the same bytes, whatever the cut of the stream", () => {
    for (const size of [0, 1, BLOCK_MAX - 1, BLOCK_MAX, BLOCK_MAX + 1, 3 * BLOCK_MAX + 17, 1 << 20]) {
      const file = random(size);
      const framed = concat(encodeBlocks(file), EOF_BLOCK);
      expect(framed.length).toBe(framedLength(size) + 3);
      for (const step of size > 200_000 ? [3, 4, 1000, framed.length] : [1, 2, 3, 4, 1000, framed.length]) {
        const { data, rest } = decode(framed, step);
        expect(data).toEqual(file);
        expect(rest?.length).toBe(0);
      }
    }
  });

  test("no block holds more than 65,535 bytes, and an empty file is the EOF block alone", () => {
    const framed = encodeBlocks(random(2 * BLOCK_MAX + 1));
    expect([framed[0], framed[1], framed[2]]).toEqual([0, 0xff, 0xff]);
    expect([framed[BLOCK_MAX + 3], framed[BLOCK_MAX + 4], framed[BLOCK_MAX + 5]]).toEqual([0, 0xff, 0xff]);
    expect([...framed.subarray(2 * BLOCK_MAX + 6, 2 * BLOCK_MAX + 9)]).toEqual([0, 0, 1]);
    expect(encodeBlocks(new Uint8Array(0)).length).toBe(0);
    expect(decode(EOF_BLOCK, 1)).toEqual({ data: new Uint8Array(0), rest: new Uint8Array(0) });
  });

  test("the bytes after the EOF block are handed back (a next transfer's), not taken as data", () => {
    const next = Uint8Array.of(0, 0, 2, 9, 9);
    const { data, rest } = decode(concat(encodeBlocks(Uint8Array.of(1, 2, 3)), EOF_BLOCK, next), 2);
    expect([...data]).toEqual([1, 2, 3]);
    expect(rest).toEqual(next);
  });

  test("an EOF descriptor on a block with data ends the file after that block's bytes", () => {
    const stream = Uint8Array.of(0, 0, 1, 7, BLOCK_EOF, 0, 2, 8, 9, 0xaa);
    const { data, rest } = decode(stream, 1);
    expect([...data]).toEqual([7, 8, 9]);
    expect([...rest!]).toEqual([0xaa]);
  });

  test("a restart marker's bytes are not file data", () => {
    const stream = Uint8Array.of(0, 0, 1, 5, BLOCK_RESTART, 0, 3, 0x31, 0x32, 0x33, 0, 0, 1, 6, ...EOF_BLOCK);
    expect([...decode(stream, 4).data]).toEqual([5, 6]);
  });

  test("a stream cut before its EOF block has not ended, and says whether it stopped inside a block", () => {
    const d = new BlockDecoder();
    expect(d.push(encodeBlocks(random(10)), () => {})).toBeNull();
    expect(d.ended).toBe(false);
    expect(d.atBoundary).toBe(true);
    expect(d.push(Uint8Array.of(0, 0, 9, 1), () => {})).toBeNull();
    expect(d.atBoundary).toBe(false);
  });

  test("an undefined descriptor bit and bytes pushed after the end are refused", () => {
    expect(() => new BlockDecoder().push(Uint8Array.of(0x01, 0, 1, 0), () => {})).toThrow(BlockError);
    const d = new BlockDecoder();
    expect(d.push(EOF_BLOCK, () => {})?.length).toBe(0);
    expect(d.ended).toBe(true);
    expect(() => d.push(Uint8Array.of(0), () => {})).toThrow(BlockError);
  });

  test("a hostile stream of headers alone keeps nothing between chunks", () => {
    const d = new BlockDecoder();
    let bytes = 0;
    // 100,000 empty data blocks, one byte at a time: nothing handed on, nothing ended.
    const empty = Uint8Array.of(0, 0, 0);
    for (let i = 0; i < 300_000; i++) expect(d.push(empty.subarray(i % 3, (i % 3) + 1), (p) => (bytes += p.length))).toBeNull();
    expect(bytes).toBe(0);
    expect(d.ended).toBe(false);
  });

  test("the data of one chunk is handed on in few pieces, whatever the sender's block size, in order around restart markers and the EOF block", () => {
    // 20,000 one-byte blocks with a restart marker in the middle, a 40,000-byte block, 100 more
    // one-byte blocks, the EOF block and a next transfer's bytes, all in one chunk.
    const tiny = (from: number, n: number) => Array.from({ length: n }, (_, i) => Uint8Array.of(0, 0, 1, (from + i) & 0xff));
    const big = random(40_000);
    const marker = Uint8Array.of(BLOCK_RESTART, 0, 2, 0x31, 0x32);
    const next = Uint8Array.of(0, 0, 1, 9);
    const chunk = concat(...tiny(0, 10_000), marker, ...tiny(10_000, 10_000), encodeBlocks(big), ...tiny(20_000, 100), EOF_BLOCK, next);
    const pieces: Uint8Array[] = [];
    const rest = new BlockDecoder().push(chunk, (p) => pieces.push(p.slice()));
    // The short blocks' runs as one copy each (one storage write, not 20,100), the long block as itself.
    expect(pieces.map((p) => p.length)).toEqual([20_000, 40_000, 100]);
    const counting = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
    expect(concat(...pieces)).toEqual(concat(counting(0, 20_000), big, counting(20_000, 100)));
    expect(rest).toEqual(next);
  });

  test("the data before a malformed header in the same chunk is handed on before the refusal", () => {
    const got: number[] = [];
    expect(() => new BlockDecoder().push(Uint8Array.of(0, 0, 1, 7, 0, 0, 1, 8, 0x01, 0, 1, 0), (p) => got.push(...p))).toThrow(BlockError);
    expect(got).toEqual([7, 8]);
  });
});
