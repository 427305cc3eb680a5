// RETR of an object deleted behind the server's back (another S3 tool): refused before the 150, as
// RETR of an unreadable local file is, since clients read a 5yz after a 150 as a transfer cut short.
// The object's GET starts before the 150 and belongs to the transfer from then on.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { parseEpsvReply } from "../../protocol/address.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";
import type { Wire } from "../helpers/wire.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

/** A server whose alice has her home at s3://BUCKET/alice; returns the bucket's own S3 client. */
async function s3Home(): Promise<Bun.S3Client> {
  bucket = await freshBucket();
  await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }] });
  return bucket.api.client();
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/**
 * Connections of this process to the store with bytes waiting unread: GETs held paused (their
 * read-ahead full), as a RETR's is while its data connection has not come. Pooled idle connections
 * have nothing waiting. Read from /proc (IPv4 loopback: the store is on 127.0.0.1). A paused GET is
 * ESTABLISHED, or CLOSE_WAIT once the store has sent all of it and closed its side (the raw GET asks
 * for `Connection: close`): radosgw often does, the rest of the object waiting in our kernel buffer.
 */
function pausedGets(): number {
  const storePort = Number(new URL(process.env.S3_ENDPOINT!).port);
  const mine = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) mine.add(m[1]!);
    } catch {}
  }
  let n = 0;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const remotePort = parseInt(f[2]!.split(":")[1]!, 16);
    const unread = parseInt(f[4]!.split(":")[1]!, 16);
    const open = f[3] === "01" || f[3] === "08";
    if (remotePort === storePort && open && unread > 0 && mine.has(f[9]!)) n++;
  }
  return n;
}

/** Wait (bounded) until `pausedGets()` satisfies `ok`; returns the last count. */
async function pausedGetsUntil(ok: (n: number) => boolean, withinMs = 10_000): Promise<number> {
  const deadline = Date.now() + withinMs;
  let n = pausedGets();
  while (!ok(n) && Date.now() < deadline) {
    await Bun.sleep(20);
    n = pausedGets();
  }
  return n;
}

/** A data connection to `port`; resolves with what it received once the server closed it. */
async function receive(port: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));
  await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: { data: (_s, c) => void chunks.push(Buffer.from(c)), close: () => closed(), error: () => closed() },
  });
  return done.then(() => Buffer.concat(chunks));
}

/** EPSV, and the port it names. */
async function epsv(w: Wire): Promise<number> {
  const r = await w.cmd("EPSV");
  expect(r.code).toBe(229);
  return parseEpsvReply(r.lines[0]!);
}

describe.skipIf(!HAVE_S3)("RETR of an object deleted behind the server's back", () => {
  test("deleted after SIZE or after LIST: 550 is RETR's only reply; a present object is still sent", async () => {
    const s3 = await s3Home();
    const kept = bytes(70_000, 1);
    await s3.write("alice/kept.bin", kept);
    await s3.write("alice/gone.bin", bytes(50_000, 2));
    await s3.write("alice/listed.bin", bytes(10, 3));
    const w = await servers.login();
    expect((await w.transfer("NLST")).data.toString()).toContain("listed.bin");
    expect(await w.cmd("SIZE gone.bin")).toEqual({ code: 213, lines: ["50000"] });
    await s3.delete("alice/gone.bin");
    await s3.delete("alice/listed.bin");
    for (const name of ["gone.bin", "listed.bin"]) {
      const r = await w.transfer(`RETR ${name}`);
      expect(r.first.code).toBe(550);
      expect(r.final).toBeNull();
      // Nothing of the store's own words: no bucket name, no endpoint.
      expect(r.first.lines.join(" ")).not.toContain(bucket!.name);
      expect(r.first.lines.join(" ")).not.toContain("127.0.0.1");
    }
    const ok = await w.transfer("RETR kept.bin");
    expect([ok.first.code, ok.final?.code]).toEqual([150, 226]);
    expect(Buffer.compare(ok.data, Buffer.from(kept))).toBe(0);
    // The session goes on: the refusals left nothing half-open.
    expect((await w.cmd("NOOP")).code).toBe(200);
  }, 60_000);

  test("the GET starts before the 150: an object deleted once the 150 is out is still sent whole (after REST too)", async () => {
    const s3 = await s3Home();
    const data = bytes(200_000, 4);
    for (const [offset, key] of [[0, "a.bin"], [123_456, "b.bin"]] as const) {
      await s3.write(`alice/${key}`, data);
      const w = await servers.login();
      if (offset) expect((await w.cmd(`REST ${offset}`)).code).toBe(350);
      // EPSV now, the data connection only after the deletion: without the early GET, the server
      // would fetch the object only once the data connection came, and find it gone after its 150.
      const port = await epsv(w);
      const first = await w.cmd(`RETR ${key}`);
      expect(first.code).toBe(150);
      await s3.delete(`alice/${key}`);
      expect(await s3.exists(`alice/${key}`)).toBe(false);
      const received = await receive(port);
      expect((await w.read(10_000))?.code).toBe(226);
      expect(Buffer.compare(received, Buffer.from(data.subarray(offset)))).toBe(0);
      w.close();
    }
  }, 60_000);

  test("the started GET is the transfer's: ABOR, a data connection that never comes and the session's end each let it go", async () => {
    const s3 = await s3Home();
    const big = bytes(6 * 1024 * 1024, 5); // over the read-ahead: the GET is held open, paused
    await s3.write("alice/big.bin", big);
    expect(await pausedGetsUntil((n) => n === 0)).toBe(0);
    const w = await servers.login();
    // ABOR before the data connection came.
    await epsv(w);
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    expect(await pausedGetsUntil((n) => n === 1)).toBe(1);
    w.raw("ABOR\r\n");
    expect([(await w.read())?.code, (await w.read())?.code]).toContain(226);
    expect(await pausedGetsUntil((n) => n === 0)).toBe(0);
    // The next RETR sends the whole object.
    const received = receive(await epsv(w));
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    expect((await w.read(30_000))?.code).toBe(226);
    expect(Buffer.compare(await received, Buffer.from(big))).toBe(0);
    // The client goes away while the server waits for the data connection.
    await epsv(w);
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    expect(await pausedGetsUntil((n) => n === 1)).toBe(1);
    w.close();
    expect(await pausedGetsUntil((n) => n === 0)).toBe(0);
  }, 60_000);
});
