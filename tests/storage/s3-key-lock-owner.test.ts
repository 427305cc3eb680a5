// Two servers in one process (the package API's startServer) each take S3 key locks in their own
// shared store: "the newest server's store" was used for every server's storage, so a server on a
// cluster's store took its leases where the cluster's other nodes never looked, and a server without
// --state was refused (450, shared state unreachable) when another server's store was down.
import { expect, test } from "bun:test";
import { lockedKeys, type SharedKeyLock } from "../../server/storage/s3-key-lock.ts";
import { storageAt } from "../../server/vfs/mounts.ts";
import { StorageError } from "../../server/storage/backend.ts";

function fakeLock(down = false) {
  const taken: string[] = [];
  const lock: SharedKeyLock = {
    async tryLock(name) {
      if (down) throw new Error("store down");
      taken.push(name);
      return true;
    },
    async renew() {
      return true;
    },
    async unlock() {},
  };
  return { lock, taken };
}

// Nothing listens there: each S3 request fails at once, after the key's lock was taken.
const s3 = { endpoint: "http://127.0.0.1:1", accessKeyId: "k", secretAccessKey: "s", region: "us-east-1" };
test("an S3 storage takes its key locks in its own server's store, not in another server's of the same process", async () => {
  const mine = fakeLock();
  const newest = fakeLock();
  storageAt("s3://bucket/p", { s3, keyLock: newest.lock }); // a second server's storage, made after
  const storage = storageAt("s3://bucket/p", { s3, keyLock: mine.lock });
  await storage.remove("f.bin").catch(() => {});
  await storage.rename("a.bin", "b.bin").catch(() => {});
  expect(mine.taken.length).toBeGreaterThan(0);
  expect(newest.taken).toEqual([]);
  expect(lockedKeys()).toBe(0);
});

test("an S3 storage of a server without shared state takes no lease, even when another server's store is down", async () => {
  const other = fakeLock(true);
  storageAt("s3://bucket/p", { s3, keyLock: other.lock }); // another server's storage, its store down
  const storage = storageAt("s3://bucket/p", { s3, keyLock: null });
  const err = await storage.remove("f.bin").catch((e) => e);
  expect(err).toBeInstanceOf(StorageError);
  // The store's failure (an unreachable endpoint), not "shared state unreachable" from another server's store.
  expect(String((err as StorageError).message)).not.toContain("shared key lock");
  expect(lockedKeys()).toBe(0);
});
