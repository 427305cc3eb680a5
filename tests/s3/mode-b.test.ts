// MODE B on an S3 home: RETR (the GET's own pieces, pumpChunks) and STOR (the multipart sink) framed
// in blocks, one after another on one kept data connection, as on a local home.
import { afterEach, describe, expect, test } from "bun:test";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";
import { BlockData } from "../helpers/block-data.ts";
import { random } from "../helpers/quota.ts";
import { encodeBlocks } from "../../protocol/block-mode.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

describe.skipIf(!HAVE_S3)("MODE B on an S3 home", () => {
  test("STOR, STOR, RETR, RETR on one data connection; a STOR cut before its EOF block stores nothing", async () => {
    bucket = await freshBucket();
    await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }] });
    const s3 = bucket.api.client();
    const w = await servers.login();
    expect((await w.cmd("MODE B")).code).toBe(200);
    const d = await BlockData.open(w);
    // 12 MB: more than one multipart part.
    const bodies = [random(12_000_000), random(100_000)];
    for (const [i, body] of bodies.entries()) {
      expect((await w.cmd(`STOR f${i}.bin`)).code).toBe(150);
      await d.upload(body);
      expect((await w.read(30_000))?.code).toBe(226);
      expect(Buffer.from(await s3.file(`alice/f${i}.bin`).arrayBuffer()).equals(Buffer.from(body))).toBe(true);
    }
    for (const [i, body] of bodies.entries()) {
      expect((await w.cmd(`RETR f${i}.bin`)).code).toBe(150);
      expect((await d.next(30_000))!.equals(Buffer.from(body))).toBe(true);
      expect((await w.read(30_000))?.code).toBe(226);
    }
    expect(d.closed).toBe(false);
    expect((await w.cmd("STOR cut.bin")).code).toBe(150);
    await d.raw(encodeBlocks(random(6_000_000)));
    d.end();
    expect((await w.read(30_000))?.code).toBe(426);
    expect(await s3.file("alice/cut.bin").exists()).toBe(false);
    expect(await bucket.pending("alice/")).toEqual([]);
  }, 120_000);
});
