// MODE B (RFC 959 §3.4.2): transfers framed in blocks, each ended by an EOF block, one after another
// on one data connection kept between them.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { BlockData } from "../helpers/block-data.ts";
import { random } from "../helpers/quota.ts";
import type { Wire } from "../helpers/wire.ts";
import type { FtpServer } from "../../server/index.ts";
import type { Session } from "../../server/session.ts";
import { KeptEndpoint } from "../../server/data/kept.ts";
import { BLOCK_RESTART, EOF_BLOCK, encodeBlocks } from "../../protocol/block-mode.ts";

const servers = useServers();

/** Log in as alice and switch to MODE B. */
async function blockSession(): Promise<Wire> {
  const w = await servers.login();
  expect((await w.cmd("MODE B")).lines[0]).toBe("Mode set to B.");
  return w;
}

/** Send a transfer command on the kept connection and return its 150 and final replies. */
async function run(w: Wire, line: string) {
  const first = await w.cmd(line);
  const final = first.code === 150 ? await w.read(10_000) : null;
  return { first, final };
}

function sessionsOf(server: FtpServer): Session[] {
  return [...server.context.sessions];
}

describe("MODE B", () => {
  test("MODE B and S are accepted, STAT shows the mode, FEAT does not list it, HELP mentions B", async () => {
    await servers.start();
    const w = await servers.login();
    expect((await w.cmd("STAT")).lines.join("\n")).toContain("MODE: Stream");
    expect((await w.cmd("MODE B")).code).toBe(200);
    expect((await w.cmd("STAT")).lines.join("\n")).toContain("MODE: Block");
    expect((await w.cmd("FEAT")).lines.join("\n")).not.toMatch(/MODE/);
    expect((await w.cmd("HELP MODE")).lines[0]).toMatch(/S\|B/);
    expect((await w.cmd("MODE S")).lines[0]).toBe("Mode set to S.");
    expect((await w.cmd("MODE C")).code).toBe(504);
  });

  test("RETR sends framed bytes, the connection stays open, and a second RETR, LIST and MLSD use it", async () => {
    const ts = await servers.start();
    const a = random(300_000);
    writeFileSync(join(ts.home("alice"), "a.bin"), a);
    const w = await blockSession();
    const d = await BlockData.open(w);
    const r1 = await run(w, "RETR a.bin");
    expect([r1.first.code, r1.final?.code]).toEqual([150, 226]);
    expect(Buffer.from(a).equals((await d.next())!)).toBe(true);
    expect(await d.closedWithin(200)).toBe(false);
    const r2 = await run(w, "RETR hello.txt");
    expect([r2.first.code, r2.final?.code]).toEqual([150, 226]);
    expect((await d.next())!.toString()).toBe(readFileSync(join(ts.home("alice"), "hello.txt"), "utf8"));
    const list = await run(w, "LIST");
    expect(list.final?.code).toBe(226);
    expect((await d.next())!.toString()).toContain("a.bin");
    const mlsd = await run(w, "MLSD");
    expect(mlsd.final?.code).toBe(226);
    const lines = (await d.next())!.toString().split("\r\n");
    expect(lines.some((l) => l.endsWith(" a.bin") && l.includes("size=300000"))).toBe(true);
    expect(d.closed).toBe(false);
  });

  test("TYPE A converts before framing", async () => {
    const ts = await servers.start();
    writeFileSync(join(ts.home("alice"), "t.txt"), "one\ntwo\n");
    const w = await blockSession();
    expect((await w.cmd("TYPE A")).code).toBe(200);
    const d = await BlockData.open(w);
    expect((await run(w, "RETR t.txt")).final?.code).toBe(226);
    expect((await d.next())!.toString()).toBe("one\r\ntwo\r\n");
  });

  test("STOR is committed on the EOF block while the connection stays open; a second STOR uses it", async () => {
    const ts = await servers.start();
    const w = await blockSession();
    const d = await BlockData.open(w);
    const bodies = [random(200_000), random(70_000)];
    for (const [i, body] of bodies.entries()) {
      expect((await w.cmd(`STOR up${i}.bin`)).code).toBe(150);
      await d.upload(body);
      expect((await w.read(10_000))?.code).toBe(226);
      expect(readFileSync(join(ts.home("alice"), `up${i}.bin`)).equals(Buffer.from(body))).toBe(true);
    }
    expect(await d.closedWithin(200)).toBe(false);
    // An empty file is an EOF block alone; then a download on the same connection.
    expect((await w.cmd("STOR empty.bin")).code).toBe(150);
    await d.upload(new Uint8Array(0));
    expect((await w.read(10_000))?.code).toBe(226);
    expect(readFileSync(join(ts.home("alice"), "empty.bin")).length).toBe(0);
    expect((await run(w, "RETR up1.bin")).final?.code).toBe(226);
    expect((await d.next())!.equals(Buffer.from(bodies[1]!))).toBe(true);
  });

  test("APPE appends and STOU stores under a new name, each committed at its EOF block on the kept connection; an APPE cut before its EOF block keeps what came, as in MODE S, and the quota counts exactly the bytes on disk", async () => {
    const quota = 10_000_000;
    const ts = await servers.start({ users: [{ name: "alice", password: "alice-pw", quota }] });
    const home = ts.home("alice");
    writeFileSync(join(home, "log.bin"), "start;");
    const w = await blockSession();
    const base = quota - Number(/\d+/.exec((await w.cmd("AVBL")).lines[0]!)![0]);
    const d = await BlockData.open(w);
    const [more, unique] = [random(150_000), random(90_000)];
    expect((await w.cmd("APPE log.bin")).code).toBe(150);
    await d.upload(more);
    expect((await w.read(10_000))?.code).toBe(226);
    expect(readFileSync(join(home, "log.bin")).equals(Buffer.concat([Buffer.from("start;"), more]))).toBe(true);
    const stou = await w.cmd("STOU log.bin");
    expect(stou.lines[0]).toBe("FILE: log.bin.1");
    await d.upload(unique);
    expect((await w.read(10_000))?.code).toBe(226);
    expect(readFileSync(join(home, "log.bin.1")).equals(Buffer.from(unique))).toBe(true);
    expect(await d.closedWithin(200)).toBe(false);
    // Cut: data blocks, then a FIN where the EOF block should be.
    expect((await w.cmd("APPE log.bin")).code).toBe(150);
    const cut = random(300_000);
    await d.raw(encodeBlocks(cut));
    d.end();
    expect((await w.read(10_000))?.code).toBe(426);
    const after = readFileSync(join(home, "log.bin"));
    const kept = after.length - 6 - more.length;
    expect(kept).toBeGreaterThanOrEqual(0);
    expect(after.equals(Buffer.concat([Buffer.from("start;"), more, Buffer.from(cut.subarray(0, kept))]))).toBe(true);
    const used = quota - Number(/\d+/.exec((await w.cmd("AVBL")).lines[0]!)![0]);
    expect(used).toBe(base + more.length + unique.length + kept);
  });

  test("bytes after an upload's EOF block in the same write are the next transfer's", async () => {
    const ts = await servers.start();
    const w = await blockSession();
    const d = await BlockData.open(w);
    const [x, y] = [random(100_000), random(50_000)];
    const framed = (b: Uint8Array) => Buffer.concat([encodeBlocks(b), EOF_BLOCK]);
    expect((await w.cmd("STOR x.bin")).code).toBe(150);
    await d.raw(Buffer.concat([framed(x), framed(y)]));
    expect((await w.read(10_000))?.code).toBe(226);
    expect((await w.cmd("STOR y.bin")).code).toBe(150);
    expect((await w.read(10_000))?.code).toBe(226);
    expect(readFileSync(join(ts.home("alice"), "x.bin")).equals(Buffer.from(x))).toBe(true);
    expect(readFileSync(join(ts.home("alice"), "y.bin")).equals(Buffer.from(y))).toBe(true);
  });

  test("an upload in one-byte blocks, restart markers among them, stores the right bytes", async () => {
    const ts = await servers.start();
    const w = await blockSession();
    const d = await BlockData.open(w);
    const body = random(50_000);
    const blocks = Array.from(body, (b) => Uint8Array.of(0, 0, 1, b));
    blocks.splice(25_000, 0, Uint8Array.of(BLOCK_RESTART, 0, 3, 0x31, 0x32, 0x33));
    expect((await w.cmd("STOR tiny.bin")).code).toBe(150);
    await d.raw(Buffer.concat([...blocks, EOF_BLOCK]));
    expect((await w.read(10_000))?.code).toBe(226);
    expect(readFileSync(join(ts.home("alice"), "tiny.bin")).equals(Buffer.from(body))).toBe(true);
  });

  test("an upload whose connection closes (FIN or RST) before the EOF block is broken: 426, nothing replaced, no quota charged", async () => {
    const ts = await servers.start({ users: [{ name: "alice", password: "alice-pw", quota: 10_000_000 }] });
    writeFileSync(join(ts.home("alice"), "old.bin"), "old contents");
    const w = await blockSession();
    const before = (await w.cmd("AVBL")).lines[0];
    for (const end of ["fin", "rst"] as const) {
      const name = "old.bin";
      const d = await BlockData.open(w);
      expect((await w.cmd(`STOR ${name}`)).code).toBe(150);
      await d.raw(encodeBlocks(random(500_000))); // data blocks, no EOF block
      if (end === "fin") d.end();
      else d.terminate();
      expect((await w.read(10_000))?.code).toBe(426);
    }
    expect(readFileSync(join(ts.home("alice"), "old.bin"), "utf8")).toBe("old contents");
    expect((await w.cmd("AVBL")).lines[0]).toBe(before!);
  });

  test("a new file broken before the EOF block keeps its partial bytes, as in MODE S, for REST+STOR", async () => {
    const ts = await servers.start();
    const w = await blockSession();
    const d = await BlockData.open(w);
    expect((await w.cmd("STOR new.bin")).code).toBe(150);
    await d.raw(encodeBlocks(random(500_000)));
    d.end();
    expect((await w.read(10_000))?.code).toBe(426);
    expect(readFileSync(join(ts.home("alice"), "new.bin")).length).toBeLessThanOrEqual(500_000);
  });

  test("a malformed block header: refused, nothing stored, the connection closed; the session goes on", async () => {
    const ts = await servers.start();
    writeFileSync(join(ts.home("alice"), "bad.bin"), "old contents");
    const w = await blockSession();
    const d = await BlockData.open(w);
    expect((await w.cmd("STOR bad.bin")).code).toBe(150);
    await d.raw(Buffer.concat([encodeBlocks(random(1000)), Buffer.from([0x01, 0, 4, 1, 2, 3, 4])]));
    const final = await w.read(10_000);
    expect(final?.code).toBe(426);
    expect(final?.lines[0]).toMatch(/Malformed MODE B block header/);
    expect(await d.closedWithin(2000)).toBe(true);
    expect(readFileSync(join(ts.home("alice"), "bad.bin"), "utf8")).toBe("old contents");
    // No kept connection: a transfer needs a new EPSV, which works.
    expect((await w.cmd("RETR hello.txt")).code).toBe(425);
    const d2 = await BlockData.open(w);
    expect((await run(w, "RETR hello.txt")).final?.code).toBe(226);
    expect((await d2.next())?.length).toBeGreaterThan(0);
  });

  test("ABOR during a RETR cuts the connection; the next RETR without EPSV gets 425", async () => {
    const ts = await servers.start();
    writeFileSync(join(ts.home("alice"), "big.bin"), new Uint8Array(64 * 1024 * 1024));
    const w = await blockSession();
    const d = await BlockData.open(w);
    d.pause();
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    w.raw("ABOR\r\n");
    expect((await w.read(10_000))?.code).toBe(426);
    expect((await w.read(10_000))?.code).toBe(226);
    d.resume();
    expect(await d.closedWithin(5000)).toBe(true);
    expect((await w.cmd("RETR hello.txt")).code).toBe(425);
  });

  test("a new EPSV, MODE S, ABOR and QUIT each close the kept connection", async () => {
    await servers.start();
    const w = await blockSession();
    for (const closer of ["EPSV", "MODE S", "ABOR", "QUIT"]) {
      if (closer !== "EPSV") expect((await w.cmd("MODE B")).code).toBe(200);
      const d = await BlockData.open(w);
      expect((await run(w, "RETR hello.txt")).final?.code).toBe(226);
      expect(await d.next()).not.toBeNull();
      expect(await d.closedWithin(100)).toBe(false);
      const r = await w.cmd(closer);
      expect(r.code).toBeLessThan(400);
      expect(await d.closedWithin(3000)).toBe(true);
      if (closer === "MODE S" || closer === "ABOR") expect((await w.cmd("RETR hello.txt")).code).toBe(425);
    }
  });

  test("a kept connection the client closed is not used: 425, then a new EPSV works", async () => {
    await servers.start();
    const w = await blockSession();
    const d = await BlockData.open(w);
    expect((await run(w, "RETR hello.txt")).final?.code).toBe(226);
    d.end();
    expect(await d.closedWithin(3000)).toBe(true);
    expect((await w.cmd("RETR hello.txt")).code).toBe(425);
    const d2 = await BlockData.open(w);
    expect((await run(w, "RETR hello.txt")).final?.code).toBe(226);
    expect(await d2.next()).not.toBeNull();
  });

  test("REST 1000 then RETR sends from byte 1000", async () => {
    const ts = await servers.start();
    const a = random(5000);
    writeFileSync(join(ts.home("alice"), "r.bin"), a);
    const w = await blockSession();
    const d = await BlockData.open(w);
    expect((await w.cmd("REST 1000")).code).toBe(350);
    expect((await run(w, "RETR r.bin")).final?.code).toBe(226);
    expect((await d.next())!.equals(Buffer.from(a.subarray(1000)))).toBe(true);
  });

  test("junk sent on a kept connection between transfers is held bounded; the next STOR refuses it and the session goes on", async () => {
    const ts = await servers.start();
    writeFileSync(join(ts.home("alice"), "junk.bin"), "old contents");
    const w = await blockSession();
    const d = await BlockData.open(w);
    expect((await run(w, "RETR hello.txt")).final?.code).toBe(226);
    expect(await d.next()).not.toBeNull();
    const junk = new Uint8Array(10 * 1024 * 1024).fill(0xff);
    const sent = await d.raw(junk, 1500);
    const kept = sessionsOf(ts.server).map((s) => s.dataEndpoint).find((e) => e instanceof KeptEndpoint) as KeptEndpoint | undefined;
    expect(kept).toBeDefined();
    // The server stops reading once EARLY_BYTES (256 KiB) wait; the rest stays in the kernel's buffers.
    expect(kept!.conn.heldBytes).toBeLessThan(1024 * 1024);
    expect(sent).toBeGreaterThan(kept!.conn.heldBytes);
    expect((await w.cmd("NOOP")).code).toBe(200);
    expect((await w.cmd("STOR junk.bin")).code).toBe(150);
    expect((await w.read(10_000))?.code).toBe(426);
    expect(await d.closedWithin(3000)).toBe(true);
    expect(readFileSync(join(ts.home("alice"), "junk.bin"), "utf8")).toBe("old contents");
    expect((await w.cmd("NOOP")).code).toBe(200);
  });

  test("the session's end and the server's shutdown close the kept connection", async () => {
    const ts = await servers.start();
    for (const end of ["hang-up", "shutdown"] as const) {
      const w = await blockSession();
      const d = await BlockData.open(w);
      expect((await run(w, "RETR hello.txt")).final?.code).toBe(226);
      expect(await d.next()).not.toBeNull();
      if (end === "hang-up") w.close();
      else await ts.server.close(0);
      expect(await d.closedWithin(3000)).toBe(true);
    }
  });

  test("PORT: an active data connection is kept too (RETR, then STOR, on it)", async () => {
    const ts = await servers.start();
    const w = await blockSession();
    // The client side of an active connection: a listener whose one accepted socket is read as blocks.
    let conn: BlockData | null = null;
    let accepted!: (d: BlockData) => void;
    const got = new Promise<BlockData>((r) => (accepted = r));
    const l = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          conn = BlockData.adopt(s);
          l.stop();
          accepted(conn);
        },
        data: (_s, c) => conn?.feed(c),
        drain: () => conn?.drained(),
        close: () => conn?.gone(),
        error: () => conn?.gone(),
      },
    });
    expect((await w.cmd(`PORT 127,0,0,1,${l.port >> 8},${l.port & 0xff}`)).code).toBe(200);
    const r = await run(w, "RETR hello.txt");
    expect([r.first.code, r.final?.code]).toEqual([150, 226]);
    const d = await got;
    expect((await d.next())!.toString()).toBe(readFileSync(join(ts.home("alice"), "hello.txt"), "utf8"));
    const body = random(100_000);
    expect((await w.cmd("STOR active.bin")).code).toBe(150);
    await d.upload(body);
    expect((await w.read(10_000))?.code).toBe(226);
    expect(readFileSync(join(ts.home("alice"), "active.bin")).equals(Buffer.from(body))).toBe(true);
    expect(d.closed).toBe(false);
  });

  test("a kept connection idle past the stall timeout is not a stalled transfer: it stays, and the next RETR runs on it", async () => {
    await servers.start({ options: { dataTimeoutMs: 1000, stallTimeoutMs: 1000 } });
    const w = await blockSession();
    const d = await BlockData.open(w);
    expect((await run(w, "RETR hello.txt")).final?.code).toBe(226);
    expect(await d.next()).not.toBeNull();
    expect(await d.closedWithin(2500)).toBe(false);
    expect((await run(w, "RETR hello.txt")).final?.code).toBe(226);
    expect(await d.next()).not.toBeNull();
  });

  test("an upload sending only empty blocks and restart markers moves no file byte: aborted as stalled (426), and its name is free again", async () => {
    await servers.start({ options: { dataTimeoutMs: 1000, stallTimeoutMs: 1000 } });
    const w = await blockSession();
    const d = await BlockData.open(w);
    expect((await w.cmd("STOR idle.bin")).code).toBe(150);
    // Framing every 100 ms, forever: well inside the stall timeout, but never a file byte.
    const framing = [Uint8Array.of(0, 0, 0), Uint8Array.of(BLOCK_RESTART, 0, 1, 0x31)];
    let i = 0;
    const keepAlive = setInterval(() => void d.raw(framing[i++ % 2]!).catch(() => {}), 100);
    try {
      const final = await w.read(8_000);
      expect(final?.code).toBe(426);
      expect(final?.lines[0]).toContain("stalled");
    } finally {
      clearInterval(keepAlive);
    }
    // Its claim on the name is gone: a new upload of it completes.
    const again = await BlockData.open(w);
    expect((await w.cmd("STOR idle.bin")).code).toBe(150);
    await again.upload(Uint8Array.of(1, 2, 3));
    expect((await w.read(10_000))?.code).toBe(226);
  });
});
