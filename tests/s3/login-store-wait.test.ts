// What a login waits for when the object store does not answer: the home's check and the limited
// places' measures are asked at once (one request deadline, not one per place in turn), and a second
// login while the first one checks the home waits for that check instead of being let in unchecked.
import { afterEach, describe, expect, test } from "bun:test";
import { createServer, type FtpServer } from "../../server/index.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { holdingProxy } from "../helpers/proxy.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { makeUsersFile, type UserSpec } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const owned = useCleanups("ftpkit-login-store-wait-");
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

/** A server whose store is reached through a proxy that holds every listing (a store frozen for them). */
async function heldListings(user: (bucketName: string) => UserSpec) {
  const b = (bucket = await freshBucket());
  const store = await holdingProxy(Number(new URL(process.env.S3_ENDPOINT!).port), /list-type=2/);
  owned.later(() => store.stop());
  const usersFile = await makeUsersFile(owned.workDir(), [user(b.name)]);
  const server: FtpServer = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, s3Endpoint: `http://127.0.0.1:${store.port}` });
  owned.later(() => server.close());
  const { port } = await server.listen();
  const connect = async () => {
    const w = await Wire.connect(port);
    owned.later(() => w.close());
    expect((await w.read())?.code).toBe(220);
    return w;
  };
  return { store, connect };
}

/** Resolves once `count()` reaches `n`; fails after `ms`. */
async function reaches(count: () => number, n: number, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (count() < n) {
    if (performance.now() > until) throw new Error(`reached ${count()} of ${n}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(!HAVE_S3)("a login against a store that does not answer", () => {
  test("the home's check and the measures of a limited home and two limited mounts are all asked at once", async () => {
    const { store, connect } = await heldListings((b) => ({
      name: "alice",
      password: "alice-pw",
      home: `s3://${b}/alice`,
      quota: 1_000_000,
      mounts: [
        { vpath: "/in", dir: `s3://${b}/box-in`, perms: ["read", "write"], quota: 100_000 },
        { vpath: "/out", dir: `s3://${b}/box-out`, perms: ["read", "write"], quota: 100_000 },
      ],
    }));
    const w = await connect();
    expect((await w.cmd("USER alice")).code).toBe(331);
    w.raw("PASS alice-pw\r\n");
    // Four listings held at the same time: before, one at a time, each waiting for the last's deadline.
    await reaches(() => store.holding(), 4, 10_000);
    // The store goes away: the login is answered (the client is told to come back), not held on.
    store.stop();
    const reply = await w.read(20_000);
    expect(reply?.code).toBe(421);
    expect(reply?.lines.join(" ")).toContain("storage unreachable");
  }, 40_000);

  test("a second login while the first one checks the home waits for that check, and is refused with it", async () => {
    const { store, connect } = await heldListings((b) => ({ name: "alice", password: "alice-pw", home: `s3://${b}/alice` }));
    const first = await connect();
    expect((await first.cmd("USER alice")).code).toBe(331);
    first.raw("PASS alice-pw\r\n");
    await store.held();
    const second = await connect();
    expect((await second.cmd("USER alice")).code).toBe(331);
    second.raw("PASS alice-pw\r\n");
    // Before, the second login found the first one's table built and was let in (230) at once,
    // its home never checked: its first answer must be the check's.
    store.stop();
    expect((await first.read(20_000))?.code).toBe(421);
    expect((await second.read(20_000))?.code).toBe(421);
  }, 40_000);
});
