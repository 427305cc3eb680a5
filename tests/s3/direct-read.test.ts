// Uploads into an S3 home read their plain data socket into one reused buffer (server/data/direct-read.ts):
// the upload copies each chunk into its part buffer at once, so it keeps none of the pump's memory.
// Skipped only when S3_ENDPOINT is unset (.ci/run sets it).
import { afterEach, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { directReadBytes } from "../../server/data/direct-read.ts";
import { S3Storage } from "../../server/storage/s3.ts";
import { partBudgetOf, PART_BUDGET_BYTES } from "../../server/storage/s3-part-budget.ts";
import { PART_SIZE } from "../../server/storage/s3-upload.ts";
import { run } from "../interop/run.ts";
import { digest, randomFile } from "../helpers/peers.ts";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  partBudgetOf(s3Settings().endpoint).limit = PART_BUDGET_BYTES;
  await bucket?.drop();
  bucket = null;
});

test.skipIf(!HAVE_S3)("a 40 MiB curl STOR into an S3 home slower than its client takes most bytes from the socket's descriptor and stores every byte in order", async () => {
  bucket = await freshBucket();
  // One part in flight at a time: full parts wait, and the upload's writes keep the pump waiting.
  partBudgetOf(s3Settings().endpoint).limit = PART_SIZE;
  const ts = await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }] });
  const work = join(ts.root, "work");
  mkdirSync(work);
  const data = randomFile(join(work, "up.bin"), 40 * 1024 * 1024 + 3);
  const before = directReadBytes.total;
  expect((await run(["curl", "-sS", "-T", join(work, "up.bin"), `ftp://alice:alice-pw@127.0.0.1:${ts.port}/up.bin`], { timeoutMs: 60_000 })).code).toBe(0);
  // Before, the first write that had to wait sent the rest through the socket's own allocations (one per
  // data event, freed only by a later GC): 14 MiB of the 40 were read directly, 36 MiB now.
  expect(directReadBytes.total - before).toBeGreaterThan(24 * 1024 * 1024);
  const home = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "alice" });
  const h = await home.openRead("up.bin");
  try {
    const out = new Uint8Array(h.size);
    for (let pos = 0; pos < h.size; ) pos += await h.read(out.subarray(pos), pos);
    expect(digest(out)).toBe(digest(data));
  } finally {
    h.close();
  }
  expect(await bucket.pending()).toEqual([]);
}, 60_000);
