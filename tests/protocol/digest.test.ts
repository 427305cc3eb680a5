// The digests both ends compute: the same hex as independent implementations, and a snapshot (the
// digest of a resumed prefix) that leaves the running digest intact.
import { describe, expect, test } from "bun:test";
import { createHasher } from "../../protocol/digest.ts";
import { HASH_ALGORITHMS } from "../../protocol/hash.ts";
import { digest } from "../helpers/peers.ts";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7919 + 13) & 0xff);

describe("createHasher", () => {
  test("CRC32 matches the textbook CRC-32 (and the check value of '123456789')", () => {
    const h = createHasher("CRC32");
    h.update(new TextEncoder().encode("123456789"));
    expect(h.hex()).toBe("cbf43926");
    const data = bytes(100_003);
    const split = createHasher("CRC32");
    split.update(data.subarray(0, 65_536));
    split.update(data.subarray(65_536));
    expect(split.hex()).toBe(digest(data, "crc32"));
  });

  test("CRC32 of nothing is 00000000 (eight digits, as HASH replies carry it)", () => {
    expect(createHasher("CRC32").hex()).toBe("00000000");
  });

  for (const algorithm of ["CRC32", "SHA-256", "MD5"] as const) {
    test(`${algorithm}: snapshot() gives the prefix's digest and the hasher goes on`, () => {
      const data = bytes(50_000);
      const name = ({ CRC32: "crc32", "SHA-256": "sha256", MD5: "md5" } as const)[algorithm];
      const h = createHasher(algorithm);
      h.update(data.subarray(0, 20_000));
      expect(h.snapshot()).toBe(digest(data.subarray(0, 20_000), name));
      h.update(data.subarray(20_000));
      expect(h.hex()).toBe(digest(data, name));
      expect(h.hex()).toBe(digest(data, name)); // the final answer does not change when asked again
    });
  }

  test("every algorithm the server offers in FEAT has a hasher", () => {
    for (const a of HASH_ALGORITHMS) expect(createHasher(a).hex()).toMatch(/^[0-9a-f]{8,128}$/);
  });
});
