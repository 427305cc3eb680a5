// Credentials that passed argon2id, remembered so a repeat login (a tree job's eight connections, a
// test suite's hundreds) skips the ~40 ms hash. Keys are HMACs under a per-process secret, so no
// plaintext password is kept; an entry counts only for the hash it was checked against, so a
// changed password invalidates it.
import { createHmac, randomBytes } from "node:crypto";

export class VerifiedCredentials {
  private readonly secret = randomBytes(32);
  /** HMAC(user, password) → the hash string it was verified against (insertion order = age). */
  private readonly verified = new Map<string, string>();

  constructor(private readonly size = 10_000) {}

  /** True when `user`/`password` was verified against exactly `hash`. */
  has(user: string, password: string, hash: string): boolean {
    return this.verified.get(this.key(user, password)) === hash;
  }

  remember(user: string, password: string, hash: string): void {
    const key = this.key(user, password);
    this.verified.delete(key);
    // Map keeps insertion order: drop the oldest entry.
    if (this.verified.size >= this.size) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(key, hash);
  }

  clear(): void {
    this.verified.clear();
  }

  private key(user: string, password: string): string {
    return createHmac("sha256", this.secret).update(`${user}\0${password}`).digest("base64");
  }
}
