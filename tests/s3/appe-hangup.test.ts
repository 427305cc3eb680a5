// APPE onto an S3 object big enough to be copied server-side (UploadPartCopy): a client that hangs up,
// or resets only the data connection, while the copy runs stops it. The store is slowed by a proxy that holds the copy request, as a copy
// of many GiB would take (radosgw copies a small object in milliseconds).
import { afterEach, describe, expect, test } from "bun:test";
import { parseEpsvReply } from "../../protocol/address.ts";
import { createServer, type FtpServer } from "../../server/index.ts";
import { MIN_PART } from "../../server/storage/s3-object.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { holdingProxy } from "../helpers/proxy.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const owned = useCleanups("ftpkit-appe-hangup-");
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

const sha = (d: ArrayBuffer | Uint8Array) => new Bun.CryptoHasher("sha256").update(d).digest("hex");

/**
 * alice's S3 home holds big.bin, large enough to be copied server-side; a store proxy holds the copy
 * request. Logged in, an EPSV data connection open, `APPE big.bin` answered 150: the copy is next.
 */
async function appeDuringCopy() {
  const b = (bucket = await freshBucket());
  const original = crypto.getRandomValues(new Uint8Array(MIN_PART + 4096));
  await b.api.client().write("alice/big.bin", original);
  const store = await holdingProxy(Number(new URL(process.env.S3_ENDPOINT!).port), /x-amz-copy-source:/i);
  owned.later(() => store.stop());
  const usersFile = await makeUsersFile(owned.workDir(), [{ name: "alice", password: "alice-pw", home: `s3://${b.name}/alice` }]);
  const server: FtpServer = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, s3Endpoint: `http://127.0.0.1:${store.port}` });
  owned.later(() => server.close());
  const { port } = await server.listen();
  const w = await Wire.connect(port);
  owned.later(() => w.close());
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  expect((await w.cmd("TYPE I")).code).toBe(200);
  const dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  const data = await Bun.connect({ hostname: "127.0.0.1", port: dataPort, socket: { data() {} } });
  owned.later(() => void data.end());
  expect((await w.cmd("APPE big.bin")).code).toBe(150);
  return { objects: b, original, store, w, data };
}

describe.skipIf(!HAVE_S3)("APPE onto an object the store copies server-side", () => {
  test("the client hangs up during the copy: the copy request is given up and the multipart upload aborted at once; the object is unchanged", async () => {
    const { objects, original, store, w, data } = await appeDuringCopy();
    // The copy of the kept bytes is under way (and held by the store): the client hangs up.
    await store.held();
    expect(await objects.pending("alice/")).toHaveLength(1);
    data.terminate();
    w.close();
    // Given up, not left to its 60 s deadline; and nothing half-made stays behind.
    await store.released();
    for (let i = 0; (await objects.pending("alice/")).length > 0; i++) {
      if (i > 100) throw new Error("the multipart upload was not aborted");
      await Bun.sleep(50);
    }
    expect(sha(await objects.api.client().file("alice/big.bin").arrayBuffer())).toBe(sha(original));
    expect(await objects.keys()).toEqual(["alice/big.bin"]);
  }, 20_000);

  test("the client resets only the data connection during the copy: the copy is given up, the multipart upload aborted, 426; the session goes on", async () => {
    const { objects, original, store, w, data } = await appeDuringCopy();
    await store.held();
    expect(await objects.pending("alice/")).toHaveLength(1);
    data.terminate(); // RST on the data connection; the control connection stays
    const final = await w.read(10_000);
    expect(final?.code).toBe(426);
    await store.released();
    for (let i = 0; (await objects.pending("alice/")).length > 0; i++) {
      if (i > 100) throw new Error("the multipart upload was not aborted");
      await Bun.sleep(50);
    }
    expect(sha(await objects.api.client().file("alice/big.bin").arrayBuffer())).toBe(sha(original));
    expect(await objects.keys()).toEqual(["alice/big.bin"]);
    expect((await w.cmd("NOOP")).code).toBe(200);
  }, 20_000);
});
