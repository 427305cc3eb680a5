import type { HashAlgorithm } from "../../protocol/hash.ts";
import { worthAThread } from "../../protocol/digest.ts";

/**
 * Transfers at least this big hash on the storage's hashing thread when it has one; smaller ones
 * hash inline, where a round trip to the thread (before the 226) would cost more than the hash.
 */
const OFF_THREAD_MIN_BYTES = 4 << 20;

/** Whether `bytes` of a transfer hashed with `algorithm` go to the hashing thread (RETR, STOR). */
export function hashesOffThread(algorithm: HashAlgorithm, bytes: number): boolean {
  return bytes >= OFF_THREAD_MIN_BYTES && worthAThread(algorithm);
}
