// STOU on an S3 home (radosgw): concurrent uploads each get a name of their own, as on disk.
import { afterEach, describe, expect, test } from "bun:test";
import { parseEpsvReply } from "../../protocol/address.ts";
import { S3Storage } from "../../server/storage/s3.ts";
import { reservedNames } from "../../server/storage/s3-name-claim.ts";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

describe.skipIf(!HAVE_S3)("STOU on an S3 home", () => {
  test("six STOUs whose uploads overlap: six different names in their 150s, all 226, each object holding its own bytes", async () => {
    bucket = await freshBucket();
    const s = await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }] });
    const sessions = await Promise.all([1, 2, 3, 4, 5, 6].map(() => servers.login()));
    // Each has its data connection up before any STOU is sent; no upload ends before every 150 is in.
    const data = await Promise.all(
      sessions.map(async (w) => {
        expect((await w.cmd("TYPE I")).code).toBe(200);
        const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
        let closed!: () => void;
        const gone = new Promise<void>((r) => (closed = r));
        const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close: () => closed(), error: () => closed() } });
        return { socket, gone };
      }),
    );
    const firsts = await Promise.all(sessions.map((w) => w.cmd("STOU")));
    expect(firsts.map((r) => r.code)).toEqual([150, 150, 150, 150, 150, 150]);
    data.forEach((d, i) => {
      d.socket.write(`body ${i}`);
      d.socket.end();
    });
    await Promise.all(data.map((d) => d.gone));
    expect(await Promise.all(sessions.map(async (w) => (await w.read(10_000))?.code))).toEqual([226, 226, 226, 226, 226, 226]);
    const names = firsts.map((r) => /^FILE: (.+)$/.exec(r.lines[0]!)?.[1] ?? "");
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
