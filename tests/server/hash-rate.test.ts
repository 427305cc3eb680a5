// Hashing while streaming, the HASH cache, bounded hash work, and bandwidth limits (issue #3, server side).
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { parseHashReply } from "../../protocol/hash.ts";
import type { CreateServerOptions } from "../../server/index.ts";
import { useServers } from "../helpers/server.ts";
import type { Wire } from "../helpers/wire.ts";

const servers = useServers();
const serve = (options: CreateServerOptions = {}) => servers.start({ options });

async function login(): Promise<Wire> {
  const w = await servers.login();
  expect((await w.cmd("TYPE I")).code).toBe(200);
  return w;
}

const openFds = () => readdirSync("/proc/self/fd").length;

const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/**
 * A hash budget so small that reading the file again would take far longer than the reply timeout
 * (300 KB at 4 KB/s ≈ 75 s): a HASH answered at once can only come from the digest computed while
 * the bytes streamed.
 */
const SLOW_REHASH: CreateServerOptions = { hashBytesPerSec: 4 * 1024 };

describe("hashing while streaming", () => {
  test("after OPTS HASH, a HASH right after STOR is answered from the digest computed while the bytes arrived", async () => {
    await serve(SLOW_REHASH);
    const w = await login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    const data = crypto.getRandomValues(new Uint8Array(300_000));
    expect((await w.transfer("STOR streamed.bin", data)).final?.code).toBe(226);
    const r = parseHashReply((await w.cmd("HASH streamed.bin", 3000)).lines[0]!);
    expect(r).toMatchObject({ algorithm: "SHA-256", start: 0, end: data.length });
    expect(r.hex).toBe(sha256(data));
  });

  test("after OPTS HASH MD5, RETR computes the digest on the way out", async () => {
    await serve(SLOW_REHASH);
    const file = join(servers.server.home("alice"), "big.bin");
    const original = crypto.getRandomValues(new Uint8Array(300_000));
    writeFileSync(file, original);
    const w = await login();
    expect((await w.cmd("OPTS HASH MD5")).code).toBe(200);
    expect((await w.transfer("RETR big.bin")).data.equals(original)).toBe(true);
    const r = parseHashReply((await w.cmd("HASH big.bin", 3000)).lines[0]!);
    expect(r.hex).toBe(new Bun.CryptoHasher("md5").update(original).digest("hex"));
  });

  test("a 24 MiB upload after OPTS HASH, to a new name and over an existing file, gets the right HASH at once", async () => {
    await serve(SLOW_REHASH);
    const w = await login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    for (const fill of [1, 2]) {
      // Big enough for the hashing thread to follow the writes in several steps.
      const data = new Uint8Array(24 << 20).fill(fill);
      data.set(crypto.getRandomValues(new Uint8Array(65536)), 1000);
      expect((await w.transfer("STOR big-upload.bin", data)).final?.code).toBe(226);
      const r = parseHashReply((await w.cmd("HASH big-upload.bin", 3000)).lines[0]!);
      expect(r).toMatchObject({ algorithm: "SHA-256", start: 0, end: data.length });
      expect(r.hex).toBe(sha256(data));
      expect(sha256(readFileSync(join(servers.server.home("alice"), "big-upload.bin")))).toBe(r.hex);
    }
  }, 30_000);

  test("a second RETR after the file was rewritten with the same size and mtime computes the new digest", async () => {
    await serve(SLOW_REHASH);
    const file = join(servers.server.home("alice"), "again.bin");
    const first = crypto.getRandomValues(new Uint8Array(300_000));
    writeFileSync(file, first);
    const st = statSync(file);
    const w = await login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    expect((await w.transfer("RETR again.bin")).data.equals(first)).toBe(true);
    expect(parseHashReply((await w.cmd("HASH again.bin", 3000)).lines[0]!).hex).toBe(sha256(first));
    const second = Buffer.from(first);
    second[5] = second[5]! ^ 0xff;
    writeFileSync(file, second);
    utimesSync(file, st.atime, st.mtime);
    expect((await w.transfer("RETR again.bin")).data.equals(second)).toBe(true);
    expect(parseHashReply((await w.cmd("HASH again.bin", 3000)).lines[0]!).hex).toBe(sha256(second));
  });

  test("a file rewritten after the transfer keeping its size and mtime (cp -p, rsync) is hashed again", async () => {
    await serve();
    const w = await login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    const data = crypto.getRandomValues(new Uint8Array(300_000));
    expect((await w.transfer("STOR streamed.bin", data)).final?.code).toBe(226);
    const file = join(servers.server.home("alice"), "streamed.bin");
    const st = statSync(file);
    const tampered = Buffer.from(data);
    tampered[0] = tampered[0]! ^ 0xff;
    writeFileSync(file, tampered);
    utimesSync(file, st.atime, st.mtime);
    const r = parseHashReply((await w.cmd("HASH streamed.bin")).lines[0]!);
    expect(r.hex).toBe(sha256(tampered)); // never the upload's digest for bytes no longer there
  });

  test("a file changed after the transfer (new mtime) is hashed again, never answered from a stale entry", async () => {
    await serve();
    const w = await login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    const data = crypto.getRandomValues(new Uint8Array(50_000));
    expect((await w.transfer("STOR changing.bin", data)).final?.code).toBe(226);
    const file = join(servers.server.home("alice"), "changing.bin");
    const changed = Buffer.from(data);
    changed[10] = changed[10]! ^ 1;
    writeFileSync(file, changed);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const r = parseHashReply((await w.cmd("HASH changing.bin")).lines[0]!);
    expect(r.hex).toBe(sha256(changed));
  });
});

describe("a HASH asked on a second connection while the file is sent", () => {
  /**
   * A server with `options`, a 32 MiB file `name` in alice's home (more than the two sockets' buffers
   * on loopback hold: the send cannot end before the test reads), a session that RETRs it after OPTS
   * HASH (back once the 150 came, its data connection not read yet), and a second session that asks
   * HASH of it.
   */
  async function sendingWhileAsked(name: string, options?: CreateServerOptions) {
    await serve(options);
    const original = Buffer.alloc(32 << 20, 7).fill(crypto.getRandomValues(new Uint8Array(65536)), 0, 65536);
    writeFileSync(join(servers.server.home("alice"), name), original);
    const sender = await login();
    expect((await sender.cmd("OPTS HASH SHA-256")).code).toBe(200);
    const asker = await login();
    const port = parseEpsvReply((await sender.cmd("EPSV")).lines[0]!);
    const chunks: Buffer[] = [];
    let closed!: () => void;
    const ended = new Promise<void>((r) => (closed = r));
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, c) => void chunks.push(Buffer.from(c)), close: () => closed(), error: () => closed() } });
    data.pause(); // the send waits for us: it is still running when the other connection asks
    expect((await sender.cmd(`RETR ${name}`)).code).toBe(150);
    asker.raw(`HASH ${name}\r\n`);
    return { original, sender, asker, data, ended, bytes: () => Buffer.concat(chunks) };
  }

  test("is answered with the digest the send computes, not by reading the file again (whose budget would take minutes)", async () => {
    const { original, sender, asker, data, ended, bytes } = await sendingWhileAsked("sending.bin", SLOW_REHASH);
    data.resume();
    await ended;
    expect(bytes().equals(original)).toBe(true);
    expect((await sender.read())?.code).toBe(226);
    const r = parseHashReply((await asker.read(5000))!.lines[0]!);
    expect(r).toMatchObject({ algorithm: "SHA-256", start: 0, end: original.length });
    expect(r.hex).toBe(sha256(original));
  }, 30_000);

  test("is answered by reading the file when the send does not end within a moment (a reader that does not read held it, and the asker's QUIT, for as long as it liked)", async () => {
    const { original, asker, data } = await sendingWhileAsked("stuck.bin");
    try {
      const r = parseHashReply((await asker.read(10_000))!.lines[0]!);
      expect(r.hex).toBe(sha256(original));
      expect((await asker.cmd("QUIT")).code).toBe(221);
    } finally {
      data.terminate();
    }
  }, 30_000);

  test("is still answered, by reading the file, when the send it waited for is cut off", async () => {
    const { original, sender, asker, data } = await sendingWhileAsked("cut.bin");
    data.terminate(); // a reset before the client read a byte
    expect((await sender.read(10_000))!.code).toBeGreaterThanOrEqual(400);
    const r = parseHashReply((await asker.read(10_000))!.lines[0]!);
    expect(r.hex).toBe(sha256(original));
  }, 30_000);
});

/** Start `line` (RETR or STOR) over EPSV, move some bytes, then drop the data connection; returns the final reply. */
async function abandon(w: Wire, line: string): Promise<number> {
  const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  let got!: () => void;
  const someBytes = new Promise<void>((r) => (got = r));
  const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: () => got(), close() {}, error() {} } });
  expect((await w.cmd(line)).code).toBe(150);
  if (line.startsWith("STOR")) {
    data.write(new Uint8Array(8 << 20));
    data.flush();
  } else await someBytes;
  data.terminate(); // a reset, mid-transfer
  return (await w.read(10_000))!.code;
}

describe("bounded hash work", () => {
  test("downloads and uploads dropped mid-stream after OPTS HASH leave no descriptor open", async () => {
    await serve();
    writeFileSync(join(servers.server.home("alice"), "large.bin"), new Uint8Array(64 << 20));
    const w = await login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    await abandon(w, "RETR large.bin"); // warm-up: the hashing thread and lazy allocations
    const before = openFds();
    for (let i = 0; i < 10; i++) {
      expect(await abandon(w, "RETR large.bin")).toBeGreaterThanOrEqual(400);
      expect(await abandon(w, `STOR dropped-${i}.bin`)).toBeGreaterThanOrEqual(400);
    }
    // The session still works, and its HASH reads the whole file again.
    const r = parseHashReply((await w.cmd("HASH large.bin", 10_000)).lines[0]!);
    expect(r.hex).toBe(sha256(new Uint8Array(64 << 20)));
    // Descriptors the hashing thread used are closed once it lets go: wait for that, bounded.
    for (let i = 0; i < 50 && openFds() - before >= 5; i++) await Bun.sleep(20);
    expect(openFds() - before).toBeLessThan(5);
  }, 60_000);

  test("a slow HASH of a large file does not block other sessions", async () => {
    await serve({ hashBytesPerSec: 1024 * 1024 });
    writeFileSync(join(servers.server.home("alice"), "large.bin"), new Uint8Array(4 * 1024 * 1024));
    const hasher = await login();
    const other = await login();
    const started = performance.now();
    hasher.raw("HASH large.bin\r\n");
    await Bun.sleep(300);
    const noopStarted = performance.now();
    expect((await other.cmd("NOOP")).code).toBe(200);
    const noopMs = performance.now() - noopStarted;
    const reply = await hasher.read(15_000);
    const hashMs = performance.now() - started;
    expect(reply?.code).toBe(213);
    // 4 MiB at 1 MiB/s per user takes seconds; the other session was answered meanwhile.
    expect(hashMs).toBeGreaterThan(2500);
    expect(noopMs).toBeLessThan(hashMs / 2);
  });
});

describe("bandwidth limits", () => {
  test("--max-rate slows one session's download to about the rate", async () => {
    await serve({ maxRate: 200_000 });
    writeFileSync(join(servers.server.home("alice"), "rated.bin"), new Uint8Array(400_000));
    const w = await login();
    const started = performance.now();
    const r = await w.transfer("RETR rated.bin");
    expect(r.data.length).toBe(400_000);
    expect(performance.now() - started).toBeGreaterThan(1400); // 400 kB at 200 kB/s, minus a small burst
  });

  test("--max-user-rate is shared by all sessions of one user", async () => {
    await serve({ maxUserRate: 200_000 });
    writeFileSync(join(servers.server.home("alice"), "shared.bin"), new Uint8Array(200_000));
    const [a, b] = [await login(), await login()];
    const started = performance.now();
    const [ra, rb] = await Promise.all([a.transfer("RETR shared.bin"), b.transfer("RETR shared.bin")]);
    expect(ra.data.length + rb.data.length).toBe(400_000);
    // Each alone would be ~1 s; together they share one 200 kB/s bucket.
    expect(performance.now() - started).toBeGreaterThan(1400);
  });
});
