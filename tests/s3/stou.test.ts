// STOU on an S3 home (radosgw): concurrent uploads each get a name of their own, as on disk.
import { afterEach, describe, expect, test } from "bun:test";
import { S3Storage } from "../../server/storage/s3.ts";
import { reservedNames } from "../../server/storage/s3-name-claim.ts";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";
import { concurrentStous } from "../helpers/stou.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
/** The data sockets' ends, run after each test. */
const ends: Array<() => void> = [];
afterEach(async () => {
  for (const end of ends.splice(0)) end();
  await bucket?.drop();
  bucket = null;
});

describe.skipIf(!HAVE_S3)("STOU on an S3 home", () => {
  test("six STOUs whose uploads overlap: six different names in their 150s, all 226, each object holding its own bytes", async () => {
    bucket = await freshBucket();
    const s = await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }] });
    const sessions = await Promise.all([1, 2, 3, 4, 5, 6].map(() => servers.login()));
    for (const w of sessions) expect((await w.cmd("TYPE I")).code).toBe(200);
    const names = await concurrentStous(sessions, (end) => ends.push(end));
    expect(new Set(names).size).toBe(6);
    const home = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "alice" });
    for (const [i, name] of names.entries()) {
      const h = await home.openRead(name);
      const out = new Uint8Array(h.size);
      for (let pos = 0; pos < h.size; ) pos += await h.read(out.subarray(pos), pos);
      h.close();
      expect(new TextDecoder().decode(out)).toBe(`body ${i}`);
    }
    // Every upload has ended: no name stays reserved.
    expect(reservedNames()).toBe(0);
    void s;
  }, 30_000);
});
