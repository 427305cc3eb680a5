// A running upload and directory commands of other sessions on an S3 home, answered as a local home
// answers them. Before: MKD of a name being uploaded got 257 and the files put in that "directory"
// vanished from listings once the upload committed; RMD of a directory a file was being uploaded into
// got 250 and a rename of it 250, each upload then failing (451) after all its bytes (an overwrite's
// new data lost). Skipped only without S3_ENDPOINT.
import { afterEach, describe, expect, test } from "bun:test";
import { putObject } from "../../server/storage/s3-object.ts";
import { reservedNames } from "../../server/storage/s3-name-claim.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { random, startUpload } from "../helpers/quota.ts";
import { useServers } from "../helpers/server.ts";
import type { Wire } from "../helpers/wire.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

const KB = 1000;

async function serve(): Promise<TestBucket> {
  bucket = await freshBucket();
  await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice`, quota: 10_000 * KB }] });
  return bucket;
}

async function login(): Promise<Wire> {
  const w = await servers.login();
  expect((await w.cmd("TYPE I")).code).toBe(200);
  return w;
}

/** Send the rest of an upload and end it: its final reply. */
async function ending(w: Wire, up: Awaited<ReturnType<typeof startUpload>>, rest: Uint8Array) {
  await up.send(rest);
  up.data.shutdown();
  up.data.end();
  return w.read(60_000);
}

const names = async (w: Wire, dir: string) => (await w.transfer(`NLST ${dir}`)).data.toString().split("\r\n").filter(Boolean).sort();

describe.skipIf(!HAVE_S3)("an upload under way and directory commands, on an S3 home", () => {
  test("MKD of a name being uploaded: 450 (as RNTO onto it), the upload ends 226; a directory another tool made there meanwhile fails the upload (451 Is a directory), its files kept and listed", async () => {
    const b = await serve();
    const uploader = await login();
    const other = await login();
    const up = await startUpload(uploader, "STOR report");
    await up.send(random(100 * KB));
    const mkd = await other.cmd("MKD report");
    expect(mkd.code).toBe(450);
    expect(mkd.lines.join(" ")).toContain("being uploaded by another session");
    expect(await ending(uploader, up, random(10))).toEqual({ code: 226, lines: ["Transfer complete"] });
    expect((await other.cmd("SIZE report")).lines[0]).toBe(String(100 * KB + 10));

    // Another S3 tool (or a node sharing no state) makes the directory while the data comes.
    const up2 = await startUpload(uploader, "STOR notes");
    await up2.send(random(KB));
    await putObject(b.api, "alice/notes/", new Uint8Array(0));
    await putObject(b.api, "alice/notes/important.txt", new TextEncoder().encode("precious"));
    expect(await ending(uploader, up2, random(10))).toEqual({ code: 451, lines: ["Is a directory"] });
    expect(await names(other, "notes")).toEqual(["notes/important.txt"]);
    expect((await other.transfer("RETR notes/important.txt")).data.toString()).toBe("precious");
    expect((await b.keys()).filter((k) => k.startsWith("alice/notes")).sort()).toEqual(["alice/notes/", "alice/notes/important.txt"]);
    expect(reservedNames()).toBe(0);
  }, 60_000);

  test("RMD of a directory a new file is being uploaded into: 550 Directory not empty, the upload ends 226 and RMD works once it is deleted", async () => {
    await serve();
    const uploader = await login();
    const other = await login();
    expect((await other.cmd("MKD d")).code).toBe(257);
    const up = await startUpload(uploader, "STOR d/new");
    await up.send(random(50 * KB));
    expect(await other.cmd("RMD d")).toEqual({ code: 550, lines: ["Directory not empty: a file is being uploaded into it"] });
    expect(await ending(uploader, up, random(10))).toEqual({ code: 226, lines: ["Transfer complete"] });
    expect(await names(other, "d")).toEqual(["d/new"]);
    expect((await other.cmd("DELE d/new")).code).toBe(250);
    expect((await other.cmd("RMD d")).code).toBe(250);
    expect(reservedNames()).toBe(0);
  }, 60_000);

  for (const kind of ["new file", "overwrite"] as const) {
    test(`RNFR/RNTO of a directory while a file in it is uploaded (${kind}): 450 file busy, the upload ends 226 with its bytes, and the rename works once it has ended`, async () => {
      await serve();
      const uploader = await login();
      const other = await login();
      expect((await other.cmd("MKD d")).code).toBe(257);
      expect((await other.transfer("STOR d/keep", new TextEncoder().encode("kept"))).final?.code).toBe(226);
      if (kind === "overwrite") expect((await other.transfer("STOR d/f", new TextEncoder().encode("old"))).final?.code).toBe(226);
      const up = await startUpload(uploader, "STOR d/f");
      const bytes = random(50 * KB + 10);
      await up.send(bytes.subarray(0, 50 * KB));
      expect((await other.cmd("RNFR d")).code).toBe(350);
      const rnto = await other.cmd("RNTO e", 60_000);
      expect(rnto.code).toBe(450);
      expect(rnto.lines.join(" ")).toContain("being uploaded by another session");
      expect(await ending(uploader, up, bytes.subarray(50 * KB))).toEqual({ code: 226, lines: ["Transfer complete"] });
      expect((await other.cmd("RNFR d")).code).toBe(350);
      expect((await other.cmd("RNTO e", 60_000)).code).toBe(250);
      expect(await names(other, "e")).toEqual(["e/f", "e/keep"]);
      expect(Buffer.compare((await other.transfer("RETR e/f")).data, Buffer.from(bytes))).toBe(0);
      expect(reservedNames()).toBe(0);
    }, 60_000);
  }
});

describe.skipIf(!HAVE_S3)("replies an all-S3 user gets as a local home's user does", () => {
  test("STOR under a file: 550 Not a directory; SITE HELP does not list CHMOD, which always answers 550 there", async () => {
    await serve();
    const w = await login();
    expect((await w.transfer("STOR f", new TextEncoder().encode("1"))).final?.code).toBe(226);
    expect((await w.transfer("STOR f/x", new Uint8Array(1))).first).toEqual({ code: 550, lines: ["Not a directory"] });
    expect((await w.transfer("STOR missing/x", new Uint8Array(1))).first).toEqual({ code: 550, lines: ["No such directory"] });
    const help = await w.cmd("SITE HELP");
    expect(help.code).toBe(214);
    expect(help.lines.join("\n")).not.toContain("CHMOD");
    expect(help.lines.join("\n")).toContain("UMASK");
    expect((await w.cmd("SITE CHMOD 644 f")).code).toBe(550);
  }, 60_000);
});
