import type { HashAlgorithm } from "../../protocol/hash.ts";

/**
 * Transfers at least this big hash on the storage's hashing thread when it has one; smaller ones
 * hash inline, where a round trip to the thread (before the 226) would cost more than the hash.
 */
export const OFF_THREAD_MIN_BYTES = 4 << 20;

/** An incremental digest over streamed bytes (RETR/STOR/HASH). */
export interface StreamHasher {
  update(chunk: Uint8Array): void;
  hex(): string;
}

const BUN_NAMES: Partial<Record<HashAlgorithm, "md5" | "sha1" | "sha256" | "sha512">> = {
  MD5: "md5",
  "SHA-1": "sha1",
  "SHA-256": "sha256",
  "SHA-512": "sha512",
};

export function createHasher(algorithm: HashAlgorithm): StreamHasher {
  if (algorithm === "CRC32") {
    let crc = 0;
    return {
      update(chunk) {
        crc = Bun.hash.crc32(chunk, crc);
      },
      hex: () => (crc >>> 0).toString(16).padStart(8, "0"),
    };
  }
  const hasher = new Bun.CryptoHasher(BUN_NAMES[algorithm]!);
  // digest() finalizes the hasher (a second call would hash nothing): keep the first answer.
  let digest: string | undefined;
  return {
    update(chunk) {
      hasher.update(chunk);
    },
    hex: () => (digest ??= hasher.digest("hex")),
  };
}
