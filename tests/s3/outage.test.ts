// FTP over an S3 home whose store goes silent mid-transfer (a frozen or black-holed gateway: the
// connections stay up, nothing moves, no error comes). A freezable TCP proxy stands in front of radosgw.
import { afterEach, describe, expect, test } from "bun:test";
import { parseEpsvReply } from "../../protocol/address.ts";
import { S3Storage } from "../../server/storage/s3.ts";
import { ABORT_RETRY_DELAYS_MS } from "../../server/storage/s3-upload-end.ts";
import { freezableProxy } from "../helpers/proxy.ts";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

async function put(s: S3Storage, key: string, data: Uint8Array): Promise<void> {
  await using up = await s.openWrite(key, { kind: "truncate" });
  await up.write(data);
  await up.commit();
}

describe.skipIf(!HAVE_S3)("a store that goes silent", () => {
  test("a RETR whose store stops sending mid-file ends with 426 at the data timeout, not when the store answers again; the session keeps working", async () => {
    bucket = await freshBucket();
    const settings = s3Settings();
    const proxy = await freezableProxy(Number(new URL(settings.endpoint).port));
    try {
      await servers.start({
        users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }],
        options: { s3Endpoint: `http://127.0.0.1:${proxy.port}`, dataTimeoutMs: 1000, stallTimeoutMs: 1000 },
      });
      const home = new S3Storage(settings, { bucket: bucket.name, prefix: "alice" });
      const data = crypto.getRandomValues(new Uint8Array(65_536));
      await put(home, "big.bin", Buffer.concat(Array.from({ length: 1024 }, () => data))); // 64 MiB
      const w = await servers.login();
      const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      let got = 0;
      await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, c) => void ((got += c.length), proxy.freeze()) } });
      expect((await w.cmd("RETR big.bin")).code).toBe(150);
      const started = Date.now();
      // Before the fix the 426 came only once the store answered again (never, if it never does).
      const final = await w.read(30_000);
      expect(final?.code).toBe(426);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(got).toBeLessThan(64 * 1024 * 1024);
      proxy.thaw();
      expect((await w.cmd("SIZE big.bin")).lines[0]).toBe(String(64 * 1024 * 1024));
      const again = await w.transfer("RETR big.bin");
      expect([again.final?.code, again.data.length]).toEqual([226, 64 * 1024 * 1024]);
    } finally {
      proxy.stop();
    }
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("a store that goes silent during an upload", () => {
  test("a STOR whose store freezes ends with 426 within one request deadline, not after every part's deadline and retries; the stall is logged once", async () => {
    bucket = await freshBucket();
    const settings = s3Settings();
    const proxy = await freezableProxy(Number(new URL(settings.endpoint).port));
    const stalls: unknown[] = [];
    const logger = { info: (event: string) => void (event === "transfer stalled" && stalls.push(event)), warn() {}, error() {} };
    try {
      await servers.start({
        users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }],
        options: { s3Endpoint: `http://127.0.0.1:${proxy.port}`, dataTimeoutMs: 1000, stallTimeoutMs: 1000, logger },
      });
      const w = await servers.login();
      const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      expect((await w.cmd("STOR frozen.bin")).code).toBe(150);
      // Past the first parts (a multipart upload with parts in flight), then the store goes silent.
      const chunk = new Uint8Array(1024 * 1024).fill(7);
      for (let sent = 0; sent < 24 * 1024 * 1024; ) {
        const n = data.write(chunk);
        if (n > 0) sent += n;
        else await Bun.sleep(5);
      }
      while ((await bucket!.pending()).length === 0) await Bun.sleep(50);
      proxy.freeze();
      const started = Date.now();
      // Before: each part in flight waited out its deadline (60 s + 1 s per 64 KiB) four times.
      const final = await w.read(100_000);
      expect(final?.code).toBe(426);
      expect(Date.now() - started).toBeLessThan(90_000);
      expect(stalls).toHaveLength(1);
      proxy.thaw();
      expect((await w.transfer("STOR after.txt", new TextEncoder().encode("ok"))).final?.code).toBe(226);
      data.terminate();
    } finally {
      proxy.stop();
    }
  }, 120_000);
});

describe.skipIf(!HAVE_S3)("a store that goes down during an upload", () => {
  test("the multipart upload the store could not be told to abort is aborted once it is back: none stays pending", async () => {
    bucket = await freshBucket();
    const real = Number(new URL(s3Settings().endpoint).port);
    const down = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void s.terminate(), data() {} } });
    const proxy = await freezableProxy(real);
    try {
      await servers.start({
        users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }],
        options: { s3Endpoint: `http://127.0.0.1:${proxy.port}` },
      });
      const w = await servers.login();
      const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      expect((await w.cmd("STOR cut.bin")).code).toBe(150);
      const chunk = new Uint8Array(1024 * 1024).fill(7);
      for (let sent = 0; sent < 20 * 1024 * 1024; ) {
        const n = data.write(chunk);
        if (n > 0) sent += n;
        else await Bun.sleep(5);
      }
      // A part stored: the server has the upload's id (the store lists the upload as soon as it made
      // it, before its answer reached the server: cut then, the server never learns the id to abort).
      const partStored = async () => {
        const [u] = await bucket!.pending();
        return u !== undefined && (await bucket!.parts(u.key, u.id)) > 0;
      };
      while (!(await partStored())) await Bun.sleep(50);
      // The store goes down: open connections close, new ones are refused, the abort fails too.
      proxy.to(down.port);
      proxy.cut();
      // The client keeps sending, as curl does: the next part finds the store gone.
      const reply = w.read(60_000);
      let replied = false;
      void reply.finally(() => (replied = true));
      while (!replied && data.write(chunk) >= 0) await Bun.sleep(20);
      // After the 150: 451, "aborted: local error" (RFC 959 §5.4; 450 is a first reply).
      expect((await reply)?.code).toBe(451);
      data.terminate();
      expect(await bucket!.pending()).toHaveLength(1);
      proxy.to(real);
      // Before: it stayed pending (billed by S3) until a lifecycle rule removed it.
      const deadline = Date.now() + ABORT_RETRY_DELAYS_MS[0]! + 20_000;
      while ((await bucket!.pending()).length > 0 && Date.now() < deadline) await Bun.sleep(250);
      expect(await bucket!.pending()).toEqual([]);
      expect(await bucket!.keys()).toEqual([]);
    } finally {
      proxy.stop();
      down.stop(true);
    }
  }, 90_000);
});

describe.skipIf(!HAVE_S3)("a store slow to answer at login", () => {
  test("the login deadline waits for PASS to open the home: 230 once the store answers, not '421 Login timeout' for a client that did its part", async () => {
    bucket = await freshBucket();
    const proxy = await freezableProxy(Number(new URL(s3Settings().endpoint).port));
    try {
      await servers.start({
        users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }],
        options: { s3Endpoint: `http://127.0.0.1:${proxy.port}`, loginTimeoutSec: 2 },
      });
      const w = await servers.connect();
      expect((await w.read())?.code).toBe(220);
      expect((await w.cmd("USER alice")).code).toBe(331);
      proxy.freeze();
      const pass = w.cmd("PASS alice-pw", 30_000);
      await Bun.sleep(4_000); // twice the login deadline, the home's first LIST still unanswered
      proxy.thaw();
      // Before: 421 Login timeout (2 s) at the deadline, and the connection closed.
      expect(await pass).toEqual({ code: 230, lines: ["Login successful"] });
      expect((await w.cmd("PWD")).code).toBe(257);
    } finally {
      proxy.stop();
    }
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("an S3 mount whose store is down at login", () => {
  test("its quota is not counted from 0: uploads get 451 until the usage can be measured, then what is stored counts", async () => {
    bucket = await freshBucket();
    const settings = s3Settings();
    await put(new S3Storage(settings, { bucket: bucket.name, prefix: "2026" }), "old.bin", new Uint8Array(8_000).fill(7));
    const down = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void s.terminate(), data() {} } });
    const proxy = await freezableProxy(down.port); // never frozen here: only moved to the store
    try {
      await servers.start({
        users: [{ name: "alice", password: "alice-pw", mounts: [{ vpath: "/archive", dir: `s3://${bucket.name}/2026`, perms: ["read", "write", "modify"], quota: 10_000 }] }],
        options: { s3Endpoint: `http://127.0.0.1:${proxy.port}` },
      });
      const w = await servers.login(); // the home is local: the login works, the mount's measure fails
      const early = await w.transfer("STOR /archive/new.bin", new Uint8Array(6_000).fill(1));
      expect(early.first.code).toBe(451);
      expect(early.first.lines.join(" ")).toContain("Cannot measure the space in use");
      proxy.to(Number(new URL(settings.endpoint).port));
      // 8,000 bytes stored + 6,000 > 10,000: before, the usage counted from 0 and this was stored.
      const over = await w.transfer("STOR /archive/new.bin", new Uint8Array(6_000).fill(1));
      expect(over.final?.code ?? over.first.code).toBe(552);
      const fits = await w.transfer("STOR /archive/small.bin", new Uint8Array(1_500).fill(2));
      expect(fits.final?.code).toBe(226);
    } finally {
      proxy.stop();
      down.stop(true);
    }
  }, 90_000);
});
