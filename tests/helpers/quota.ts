// Helpers for quota tests: bytes really on disk, random upload bodies, a transfer's final code, an upload held open.
import { expect } from "bun:test";
import { lstatSync, readdirSync } from "node:fs";
import { parseEpsvReply } from "../../protocol/address.ts";
import type { Wire } from "./wire.ts";

/** Bytes of regular files under `dir` (what a quota must never exceed), names that are not UTF-8 too (read as bytes). */
export function du(dir: string | Buffer): number {
  let total = 0;
  const base = Buffer.concat([Buffer.from(dir), Buffer.from("/")]);
  for (const name of readdirSync(dir, { encoding: "buffer" })) {
    const path = Buffer.concat([base, name]);
    const st = lstatSync(path);
    if (st.isDirectory()) total += du(path);
    else if (st.isFile()) total += st.size;
  }
  return total;
}

export const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

/** The code that ended a transfer: the final reply, or the first one when it was refused up front. */
export function finalCode(r: { first: { code: number }; final: { code: number } | null }): number {
  return r.final?.code ?? r.first.code;
}

/** Start an upload and leave its data connection open: the caller sends, then `finish()` reads the final reply. */
export async function startUpload(w: Wire, line: string) {
  const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  let closed!: () => void;
  const gone = new Promise<void>((r) => (closed = r));
  let drained: (() => void) | null = null;
  const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, drain: () => drained?.(), close: () => closed(), error: () => closed() } });
  const first = await w.cmd(line);
  expect(first.code).toBe(150);
  return {
    data,
    /** The 150 (STOU names its file there). */
    first,
    /** Send all of `bytes` (the socket takes what the kernel accepts; the rest after its `drain`). */
    async send(bytes: Uint8Array) {
      let off = 0;
      while (off < bytes.length) {
        const writable = new Promise<void>((r) => (drained = r));
        const n = data.write(bytes.subarray(off));
        if (n < 0) throw new Error("data connection closed");
        off += n;
        if (off < bytes.length && (await Promise.race([writable.then(() => false), gone.then(() => true)]))) throw new Error("data connection closed");
      }
    },
    async finish(): Promise<number> {
      data.shutdown();
      data.end();
      await Promise.race([gone, Bun.sleep(5000)]);
      return (await w.read(5000))!.code;
    },
  };
}
