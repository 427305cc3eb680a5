// Helpers for quota tests: bytes really on disk, random upload bodies, a transfer's final code.
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** Bytes of regular files under `dir` (what a quota must never exceed). */
export function du(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const st = lstatSync(join(dir, name));
    if (st.isDirectory()) total += du(join(dir, name));
    else if (st.isFile()) total += st.size;
  }
  return total;
}

export const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

/** The code that ended a transfer: the final reply, or the first one when it was refused up front. */
export function finalCode(r: { first: { code: number }; final: { code: number } | null }): number {
  return r.final?.code ?? r.first.code;
}
