// RNFR/RNTO of a directory on S3 cut by the store going down mid-way (copies made, originals not yet
// all deleted): a clear 450, no object lost, and the same rename again finishes the move. A proxy in
// front of radosgw goes down after a number of requests of one kind (copies, deletes).
import { afterEach, describe, expect, test } from "bun:test";
import { S3Storage } from "../../server/storage/s3.ts";
import { headObject } from "../../server/storage/s3-object.ts";
import { downAfterProxy } from "../helpers/proxy.ts";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

const FILES = 40;
const INTERRUPTED = "450 File unavailable, try again later: directory rename interrupted; repeat the same RNFR and RNTO to finish it";

/** The name and content of every file under `dir/` of alice's home, in name order. */
async function filesUnder(home: S3Storage, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await home.list(dir).catch(() => [])) {
    const h = await home.openRead(`${dir}/${e.name}`);
    const buf = new Uint8Array(h.size);
    for (let pos = 0; pos < h.size; ) pos += await h.read(buf.subarray(pos), pos);
    h.close();
    out.push(`${e.name}=${new TextDecoder().decode(buf)}`);
  }
  return out.sort();
}

describe.skipIf(!HAVE_S3)("a directory rename cut by the store going down", () => {
  for (const [phase, request] of [
    ["while copying", /^PUT [^\r\n]*\r\n[\s\S]*x-amz-copy-source:/i],
    ["while deleting the originals", /^DELETE /],
  ] as const) {
    test(`${phase}: 450 saying to repeat it, every file in d or m, and the same RNFR/RNTO once the store is back moves the rest`, async () => {
      bucket = await freshBucket();
      const settings = s3Settings();
      const home = new S3Storage(settings, { bucket: bucket.name, prefix: "alice" });
      await home.mkdir("d");
      await home.mkdir("x");
      const all: string[] = [];
      for (let i = 0; i < FILES; i++) {
        await using up = await home.openWrite(`d/f${i}`, { kind: "truncate" });
        await up.write(new TextEncoder().encode(`file ${i}`));
        await up.commit();
        all.push(`f${i}=file ${i}`);
      }
      all.sort();
      const proxy = await downAfterProxy(Number(new URL(settings.endpoint).port), request, 10);
      try {
        await servers.start({
          users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }],
          options: { s3Endpoint: `http://127.0.0.1:${proxy.port}` },
        });
        const w = await servers.login();
        expect((await w.cmd("RNFR d")).code).toBe(350);
        const cut = await w.cmd("RNTO m", 60_000);
        await proxy.down();
        // Before: a bare 450 (451 Local error when the store dropped a copy's answer mid-body).
        expect(`${cut.code} ${cut.lines.join(" ")}`).toBe(INTERRUPTED);
        const left = await filesUnder(home, "d");
        const moved = await filesUnder(home, "m");
        expect(left.length).toBeGreaterThan(0);
        expect([...new Set([...left, ...moved])].sort()).toEqual(all);
        proxy.up();
        // Another directory is not let into the unfinished destination.
        expect((await w.cmd("RNFR x")).code).toBe(350);
        expect((await w.cmd("RNTO m")).lines.join(" ")).toBe("Target is an existing directory");
        // Before: 550 Target is an existing directory, for ever.
        expect((await w.cmd("RNFR d")).code).toBe(350);
        expect((await w.cmd("RNTO m", 60_000)).code).toBe(250);
        expect(await filesUnder(home, "m")).toEqual(all);
        expect((await bucket.keys()).filter((k) => k.startsWith("alice/d/"))).toEqual([]);
        expect((await headObject(bucket.api, "alice/m/"))?.renameFrom).toBeUndefined();
        expect((await w.cmd("RNFR d")).code).toBe(550);
      } finally {
        proxy.stop();
      }
    }, 90_000);
  }
});
