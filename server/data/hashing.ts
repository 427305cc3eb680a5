/**
 * Transfers at least this big hash on the storage's hashing thread when it has one; smaller ones
 * hash inline, where a round trip to the thread (before the 226) would cost more than the hash.
 */
export const OFF_THREAD_MIN_BYTES = 4 << 20;
