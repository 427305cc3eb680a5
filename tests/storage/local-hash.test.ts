// The local backend's hashing thread (OPTS HASH transfers): digests match, and a transfer that ends
// early stops the hashing and gets its descriptor closed.
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, ftruncateSync, openSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalStorage } from "../../server/storage/local.ts";
import { removeDir, tempDir } from "../helpers/peers.ts";

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/**
 * This process's descriptors of `file`: counting them all let an earlier test's storage root, closed
 * by its finalizer meanwhile, pass for this file's (expected 18, received 17).
 */
const openFdsOf = (file: string) =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;

function root(): string {
  const d = tempDir("ftpkit-hash-");
  dirs.push(d);
  return d;
}

describe("local hashing thread", () => {
  test("a read handle's digest matches the file's SHA-256", async () => {
    const dir = root();
    const data = crypto.getRandomValues(new Uint8Array(1 << 20));
    const bytes = Buffer.concat(Array.from({ length: 12 }, () => data));
    writeFileSync(join(dir, "f.bin"), bytes);
    const storage = new LocalStorage(dir);
    const whole = await storage.openRead("f.bin");
    const range = await storage.openRead("f.bin");
    try {
      expect(await whole.digest!("SHA-256", 0, whole.size)).toBe(new Bun.CryptoHasher("sha256").update(bytes).digest("hex"));
      expect(await range.digest!("MD5", 1000, 5000)).toBe(new Bun.CryptoHasher("md5").update(bytes.subarray(1000, 5000)).digest("hex"));
    } finally {
      whole.close();
      range.close();
    }
  });

  test("closing the handle mid-digest abandons it (a dropped RETR does not hash the rest) and closes the descriptor", async () => {
    const dir = root();
    // 4 GiB, sparse: hashing all of it takes seconds; the drop is seen within one 8 MiB slice.
    const fd = openSync(join(dir, "huge.bin"), "w");
    ftruncateSync(fd, 4 * 1024 ** 3);
    closeSync(fd);
    const storage = new LocalStorage(dir);
    const warm = await storage.openRead("huge.bin");
    await warm.digest!("SHA-256", 0, 1024);
    warm.close(); // its digest is done: the descriptor closes at once
    const huge = realpathSync(join(dir, "huge.bin"));
    const before = openFdsOf(huge);
    const h = await storage.openRead("huge.bin");
    expect(openFdsOf(huge)).toBe(before + 1);
    const digest = h.digest!("SHA-256", 0, h.size);
    h.close();
    // (Not expect().rejects: bun:test waits on that without delivering the thread's messages.)
    expect(await digest.then(() => "finished", (err: Error) => err.message)).toBe("digest abandoned");
    // The thread's answer to the drop failed the digest and, in the same step, queued the close:
    // it has run once the queued callbacks have (one turn of the event loop).
    await new Promise((r) => setImmediate(r));
    expect(openFdsOf(huge)).toBe(before);
  });
});
