// RNFR/RNTO of a directory on S3 cut by the store going down mid-way (copies made, originals not yet
// all deleted): a clear 450, no object lost, and the same rename again finishes the move. A proxy in
// front of radosgw goes down after a number of requests of one kind (copies, deletes).
import { afterEach, describe, expect, test } from "bun:test";
import { S3Storage } from "../../server/storage/s3.ts";
import { headObject } from "../../server/storage/s3-object.ts";
import { bodyHoldingProxy, downAfterProxy } from "../helpers/proxy.ts";
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

/** Alice's home with a directory d of FILES files (and an empty directory x); returns it and what d holds. */
async function homeWithTree(): Promise<{ home: S3Storage; all: string[] }> {
  bucket = await freshBucket();
  const home = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "alice" });
  await home.mkdir("d");
  await home.mkdir("x");
  const all: string[] = [];
  for (let i = 0; i < FILES; i++) {
    await using up = await home.openWrite(`d/f${i}`, { kind: "truncate" });
    await up.write(new TextEncoder().encode(`file ${i}`));
    await up.commit();
    all.push(`f${i}=file ${i}`);
  }
  return { home, all: all.sort() };
}

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

/** Alice logged in to a server whose store is reached through the proxy on `port`, RNFR d answered 350. */
async function renamingBehind(port: number) {
  await servers.start({
    users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket!.name}/alice` }],
    options: { s3Endpoint: `http://127.0.0.1:${port}` },
  });
  const w = await servers.login();
  expect((await w.cmd("RNFR d")).code).toBe(350);
  return w;
}

describe.skipIf(!HAVE_S3)("a directory rename cut by the store going down", () => {
  for (const [phase, request] of [
    ["while copying", /^PUT [^\r\n]*\r\n[\s\S]*x-amz-copy-source:/i],
    ["while deleting the originals", /^DELETE /],
  ] as const) {
    test(`${phase}: 450 saying to repeat it, every file in d or m, and the same RNFR/RNTO once the store is back moves the rest`, async () => {
      const { home, all } = await homeWithTree();
      const settings = s3Settings();
      const proxy = await downAfterProxy(Number(new URL(settings.endpoint).port), request, 10);
      try {
        const w = await renamingBehind(proxy.port);
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
        expect((await bucket!.keys()).filter((k) => k.startsWith("alice/d/"))).toEqual([]);
        expect((await headObject(bucket!.api, "alice/m/"))?.renameFrom).toBeUndefined();
        expect((await w.cmd("RNFR d")).code).toBe(550);
      } finally {
        proxy.stop();
      }
    }, 90_000);
  }

  test("while a cut rename is pending, its source or destination renamed to a third name gets 450 and nothing moves; finished, a new directory of the source's name is not let into the old destination", async () => {
    const { home, all } = await homeWithTree();
    const settings = s3Settings();
    const proxy = await downAfterProxy(Number(new URL(settings.endpoint).port), /^PUT [^\r\n]*\r\n[\s\S]*x-amz-copy-source:/i, 10);
    try {
      const w = await renamingBehind(proxy.port);
      expect(`${(await w.cmd("RNTO m", 60_000)).code}`).toBe("450");
      await proxy.down();
      proxy.up();
      const kept = await filesUnder(home, "m");
      expect(kept.length).toBeGreaterThan(0);
      const keysBefore = (await bucket!.keys()).sort();
      // Before: 250 for both, a fresh token over the old one dropped m's journal: d's files in two
      // places (m holding some, m2 all) and the move could no longer be finished.
      for (const [from, to] of [["d", "m2"], ["m", "m3"], ["d/", "elsewhere"]]) {
        expect((await w.cmd(`RNFR ${from}`)).code).toBe(350);
        const r = await w.cmd(`RNTO ${to}`, 60_000);
        expect(`${r.code} ${r.lines.join(" ")}`).toBe(
          "450 File unavailable, try again later: an interrupted rename of this directory is pending: repeat that same RNFR and RNTO to finish it",
        );
        expect(r.lines.join(" ")).not.toContain(bucket!.name);
      }
      expect((await bucket!.keys()).sort()).toEqual(keysBefore);
      // The recorded pair still finishes it.
      expect((await w.cmd("RNFR d")).code).toBe(350);
      expect((await w.cmd("RNTO m", 60_000)).code).toBe(250);
      expect(await filesUnder(home, "m")).toEqual(all);
      // A new d, with a file of a name m holds, is not "resumed" into m (no journal left).
      expect((await w.cmd("MKD d")).code).toBe(257);
      const name = kept[0]!.split("=")[0]!;
      await using up = await home.openWrite(`d/${name}`, { kind: "truncate" });
      await up.write(new TextEncoder().encode("the new d's"));
      await up.commit();
      expect((await w.cmd("RNFR d")).code).toBe(350);
      expect((await w.cmd("RNTO m", 60_000)).lines.join(" ")).toBe("Target is an existing directory");
      expect(await filesUnder(home, "m")).toEqual(all);
      expect(await filesUnder(home, "d")).toEqual([`${name}=the new d's`]);
      // Now done, d renames elsewhere as any directory.
      expect((await w.cmd("RNFR d")).code).toBe(350);
      expect((await w.cmd("RNTO m2", 60_000)).code).toBe(250);
    } finally {
      proxy.stop();
    }
  }, 90_000);

  test("repeated after changes: a file uploaded into the destination since the cut is kept, an original changed since its copy is copied again", async () => {
    const { home, all } = await homeWithTree();
    const settings = s3Settings();
    // Cut while deleting: every original has its copy in m, some originals are gone.
    const proxy = await downAfterProxy(Number(new URL(settings.endpoint).port), /^DELETE /, 10);
    try {
      const w = await renamingBehind(proxy.port);
      expect((await w.cmd("RNTO m", 60_000)).code).toBe(450);
      await proxy.down();
      proxy.up();
      const left = (await filesUnder(home, "d")).map((f) => f.split("=")[0]!);
      expect(left.length).toBeGreaterThan(1);
      const [uploaded, changed] = left as [string, string];
      // The store's clock past the second of the copies (LastModified counts seconds).
      const copiedAt = (await headObject(bucket!.api, `alice/m/${uploaded}`))!.mtime.getTime();
      for (let i = 0; ; i++) {
        await bucket!.api.client().write("clock", "");
        if ((await headObject(bucket!.api, "clock"))!.mtime.getTime() > copiedAt) break;
        if (i > 100) throw new Error("the store's clock did not move");
      }
      await bucket!.api.client().delete("clock");
      const put = async (key: string, text: string) => {
        await using up = await home.openWrite(key, { kind: "truncate" });
        await up.write(new TextEncoder().encode(text));
        await up.commit();
      };
      await put(`m/${uploaded}`, "uploaded into m");
      await put(`d/${changed}`, "changed in d");
      expect((await w.cmd("RNFR d")).code).toBe(350);
      expect((await w.cmd("RNTO m", 60_000)).code).toBe(250);
      // Before: the original was copied over the newer upload.
      const expected = all.map((f) => (f.startsWith(`${uploaded}=`) ? `${uploaded}=uploaded into m` : f.startsWith(`${changed}=`) ? `${changed}=changed in d` : f));
      expect(await filesUnder(home, "m")).toEqual(expected.sort());
      expect((await bucket!.keys()).filter((k) => k.startsWith("alice/d/"))).toEqual([]);
    } finally {
      proxy.stop();
    }
  }, 90_000);

  test("a store frozen in the middle of a copy's answer (its head came, its body never does): the same 450 within a request deadline, not when the store wakes; then the same rename finishes", async () => {
    const { home, all } = await homeWithTree();
    const settings = s3Settings();
    const proxy = await bodyHoldingProxy(Number(new URL(settings.endpoint).port), /^PUT [^\r\n]*\r\n[\s\S]*x-amz-copy-source:/i, 10);
    try {
      const w = await renamingBehind(proxy.port);
      const started = Date.now();
      // Before: no reply at all until the body came (never, here), the command hung with its keys locked.
      const cut = await w.cmd("RNTO m", 100_000);
      await proxy.held();
      expect(`${cut.code} ${cut.lines.join(" ")}`).toBe(INTERRUPTED);
      expect(Date.now() - started).toBeLessThan(90_000);
      proxy.release();
      expect((await w.cmd("RNFR d")).code).toBe(350);
      expect((await w.cmd("RNTO m", 60_000)).code).toBe(250);
      expect(await filesUnder(home, "m")).toEqual(all);
    } finally {
      proxy.stop();
    }
  }, 150_000);
});
