// Stale multipart uploads under an S3 home (radosgw): ones a crashed server left, or whose start it
// never heard of, are aborted when the home is opened; a live upload of another server process on
// the same bucket, older than the age but still sending parts, is kept. Skipped only without S3_ENDPOINT.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { xmlText } from "../../server/storage/s3-request.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
let other: ServeProcess | null = null;
const wires: Wire[] = [];
let dir = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await other?.kill("SIGTERM");
  other = null;
  await bucket?.drop();
  bucket = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

/** The age the test server judges by: short, yet several times the gap between the live upload's parts. */
const AGE_MS = 4_000;

/** What a crashed server leaves: a multipart upload nobody will complete (made by raw requests, so
 * this process, which also runs the server under test, does not count it as one of its own). */
async function orphan(b: TestBucket, key: string, part: boolean): Promise<string> {
  const res = await b.api.send({ method: "POST", key, query: { uploads: "" } });
  const id = xmlText(await res.text(), "UploadId")!;
  if (part) await (await b.api.send({ method: "PUT", key, query: { partNumber: "1", uploadId: id }, body: new Uint8Array(1000) })).arrayBuffer();
  return id;
}

/** Pending uploads with their age by the store's clock. */
async function pendingAges(b: TestBucket): Promise<Map<string, number>> {
  const res = await b.api.send({ method: "GET", key: "", query: { uploads: "" } });
  const now = Date.parse(res.headers.get("date")!);
  const out = new Map<string, number>();
  for (const m of (await res.text()).matchAll(/<Upload>([\s\S]*?)<\/Upload>/g)) {
    out.set(xmlText(m[1]!, "UploadId")!, now - Date.parse(xmlText(m[1]!, "Initiated")!));
  }
  return out;
}

describe.skipIf(!HAVE_S3)("stale multipart uploads", () => {
  test("opening a home aborts the uploads a crashed server left under it (one logged line each); another process's slow upload, older than the age, is kept and completes", async () => {
    bucket = await freshBucket();
    dir = mkdtempSync(join(tmpdir(), "ftpkit-stale-"));
    const alice = { name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` };
    // The other node: its own process, the default age (a day).
    other = await spawnServe(["--users", await makeUsersFile(dir, [alice])], { cwd: dir, timeoutMs: 30_000 });
    const w = await Wire.connect(other.port);
    wires.push(w);
    expect((await w.login("alice", "alice-pw")).code).toBe(230);
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    expect((await w.cmd("STOR live.bin")).code).toBe(150);
    // A slow client: 1 MiB every 100 ms, a part (8 MiB) about every second, until told to stop.
    let sending = true;
    let sent = 0;
    const chunk = new Uint8Array(1024 * 1024).fill(3);
    const feeding = (async () => {
      while (sending) {
        const n = data.write(chunk);
        if (n < 0) throw new Error("data connection closed");
        sent += n;
        await Bun.sleep(n < chunk.length ? 20 : 100);
      }
    })();
    while ((await bucket.pending("alice/")).length === 0) await Bun.sleep(100);
    const [live] = await bucket.pending("alice/");
    const lost = await orphan(bucket, "alice/lost-answer.bin", false);
    const crashed = await orphan(bucket, "alice/sub/crashed.bin", true);
    const outside = await orphan(bucket, "alice2/other-home.bin", false);
    // The orphans (and the live upload, begun earlier) grow older than the age, by the store's clock.
    while ((await pendingAges(bucket)).get(crashed)! < AGE_MS + 500) await Bun.sleep(200);

    const warned: Array<{ event: string; fields?: Record<string, any> }> = [];
    const logger = { info() {}, error() {}, warn: (event: string, fields?: Record<string, any>) => void warned.push({ event, fields }) };
    await servers.start({ users: [alice], options: { logger, s3StaleUploadMs: AGE_MS } });
    await servers.login();
    const aborted = () => warned.filter((l) => l.event === "stale multipart upload aborted");
    for (const deadline = Date.now() + 20_000; aborted().length < 2 && Date.now() < deadline; ) await Bun.sleep(100);
    // Before: nothing aborted them, and they stayed pending (billed) for ever.
    expect(aborted().map((l) => l.fields?.key).sort()).toEqual(["alice/lost-answer.bin", "alice/sub/crashed.bin"]);
    expect(aborted().find((l) => l.fields?.key === "alice/lost-answer.bin")?.fields?.["last-part"]).toBe("none");
    const left = await pendingAges(bucket);
    expect([...left.keys()].sort()).toEqual([live!.id, outside].sort());
    expect(left.get(live!.id)!).toBeGreaterThan(AGE_MS); // kept for its recent parts, not its youth
    expect(lost).not.toBe(live!.id);

    sending = false;
    await feeding;
    data.shutdown();
    data.end();
    expect((await w.read(60_000))?.code).toBe(226);
    expect((await w.cmd("SIZE live.bin")).lines[0]).toBe(String(sent));
  }, 120_000);

  test("an upload of the sweeping process itself is never taken for stale, however long its client is silent", async () => {
    bucket = await freshBucket();
    const warned: Array<{ event: string; fields?: Record<string, any> }> = [];
    const logger = { info() {}, error() {}, warn: (event: string, fields?: Record<string, any>) => void warned.push({ event, fields }) };
    await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }], options: { logger, s3StaleUploadMs: 2_000 } });
    const w = await servers.login();
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    expect((await w.cmd("STOR quiet.bin")).code).toBe(150);
    // One part (8 MiB) and a little more, then the client says nothing.
    const body = new Uint8Array(9 * 1024 * 1024).fill(5);
    for (let off = 0; off < body.length; ) {
      const n = data.write(body.subarray(off));
      if (n < 0) throw new Error("data connection closed");
      off += n;
      if (off < body.length) await Bun.sleep(5);
    }
    const partStored = async () => {
      const [u] = await bucket!.pending("alice/");
      return u !== undefined && (await bucket!.parts(u.key, u.id)) > 0;
    };
    while (!(await partStored())) await Bun.sleep(100);
    const [mine] = await bucket.pending("alice/");
    // A crashed node's upload beside it: its abort shows that a sweep ran after both grew old.
    const lost = await orphan(bucket, "alice/lost.bin", false);
    while ((await pendingAges(bucket)).get(lost)! < 2_500) await Bun.sleep(200);
    // Another session lists the home's root: a use of the place, so a sweep (the last was at the login).
    expect((await (await servers.login()).transfer("LIST")).final?.code).toBe(226);
    for (const deadline = Date.now() + 20_000; !warned.some((l) => l.fields?.key === "alice/lost.bin") && Date.now() < deadline; ) await Bun.sleep(100);
    expect(warned.map((l) => l.fields?.key)).toEqual(["alice/lost.bin"]);
    expect((await bucket.pending("alice/")).map((u) => u.id)).toEqual([mine!.id]);
    data.shutdown();
    data.end();
    expect((await w.read(60_000))?.code).toBe(226);
    expect((await w.cmd("SIZE quiet.bin")).lines[0]).toBe(String(body.length));
  }, 120_000);

  test("a bucket policy that denies listing multipart uploads: one warning says the sweep cannot run, no 'object store unavailable', and the home works", async () => {
    bucket = await freshBucket();
    const policy = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Principal: "*", Action: ["s3:ListBucketMultipartUploads"], Resource: [`arn:aws:s3:::${bucket.name}`] }] };
    expect((await bucket.api.send({ method: "PUT", key: "", query: { policy: "" }, body: JSON.stringify(policy) })).status).toBe(204);
    const logged: Array<{ level: string; event: string }> = [];
    const logger = {
      info() {},
      warn: (event: string) => void logged.push({ level: "warn", event }),
      error: (event: string) => void logged.push({ level: "error", event }),
    };
    await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }], options: { logger, s3StaleUploadMs: 1_000 } });
    const w = await servers.login();
    for (const deadline = Date.now() + 20_000; logged.length === 0 && Date.now() < deadline; ) await Bun.sleep(50);
    // Before: "object store unavailable" (an error line for an outage) at each sweep, for a store that works.
    expect(logged).toEqual([{ level: "warn", event: "stale multipart uploads not swept" }]);
    expect((await w.transfer("STOR a.txt", new TextEncoder().encode("fine"))).final?.code).toBe(226);
    expect((await w.transfer("NLST")).data.toString()).toBe("a.txt\r\n");
  }, 60_000);

  test("refused credentials are said as such, never as a policy that denies the sweep (no 'not swept' warning)", async () => {
    bucket = await freshBucket();
    const logged: Array<{ level: string; event: string; reason?: string }> = [];
    const log = (level: string) => (event: string, fields?: Record<string, unknown>) => void logged.push({ level, event, reason: String(fields?.reason ?? "") });
    const logger = { info() {}, warn: log("warn"), error: log("error") };
    // The server reads the credentials from the environment when a login opens the home.
    const secret = process.env.S3_SECRET_ACCESS_KEY;
    process.env.S3_SECRET_ACCESS_KEY = "not-the-secret";
    try {
      await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }], options: { logger } });
      await servers.login("alice", "alice-pw", 530);
      // A second login's round trip to the store: the sweep the first one started has had its answer.
      await servers.login("alice", "alice-pw", 530);
    } finally {
      process.env.S3_SECRET_ACCESS_KEY = secret;
    }
    // Before: also "warn stale multipart uploads not swept", telling the admin to allow s3:ListBucketMultipartUploads.
    expect(logged.filter((l) => l.level === "warn")).toEqual([]);
    expect(logged).toContainEqual({ level: "error", event: "object store unavailable", reason: "the object store refused the credentials" });
  }, 60_000);
});
