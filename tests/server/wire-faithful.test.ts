// Sequences where ftpkit answered otherwise than vsftpd, ProFTPD and Pure-FTPd (a wire audit): each
// runs against ftpkit and, when it is installed, against vsftpd as the reference.
import type { Socket } from "bun";
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { useServers } from "../helpers/server.ts";
import { chownTo, startVsftpd, vsftpdAvailable } from "../helpers/system-ftpd.ts";
import { Wire } from "../helpers/wire.ts";
import { concurrentStous } from "../helpers/stou.ts";

const servers = useServers();
const owned = useCleanups("ftpkit-wire-");
const NO_VSFTPD = "vsftpd needs /usr/sbin/vsftpd and root";

/** A control connection to `port`, logged in, TYPE I; closed after the test. */
async function loginTo(port: number, user: string, password: string): Promise<Wire> {
  const w = await Wire.connect(port);
  owned.later(() => w.close());
  expect((await w.login(user, password)).code).toBe(230);
  expect((await w.cmd("TYPE I")).code).toBe(200);
  return w;
}

/**
 * A download (`line`: RETR, LIST…) by a client that half-closes its side of the data connection as
 * soon as it is up (it sends nothing on it: `ncat host port </dev/null >file` does so when its input
 * ends), over EPSV or PORT: the bytes it got and the final reply.
 */
async function halfClosedDownload(w: Wire, line: string, mode: "EPSV" | "PORT" = "EPSV"): Promise<{ bytes: number; code: number | undefined }> {
  let bytes = 0;
  let closed!: () => void;
  const gone = new Promise<void>((r) => (closed = r));
  const handlers = {
    open: (s: Socket<undefined>) => void s.shutdown(),
    data: (_s: Socket<undefined>, c: Buffer) => void (bytes += c.length),
    close: () => closed(),
    error: () => closed(),
  };
  if (mode === "EPSV") {
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    await Bun.connect({ hostname: "127.0.0.1", port, socket: handlers });
  } else {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: handlers });
    owned.later(() => l.stop(true));
    expect((await w.cmd(`PORT 127,0,0,1,${l.port >> 8},${l.port & 255}`)).code).toBe(200);
  }
  expect((await w.cmd(line)).code).toBe(150);
  await gone;
  return { bytes, code: (await w.read(10_000))?.code };
}

const BIG = 8 * 1024 * 1024;

describe("a client's FIN on a download's data connection only says it sends nothing", () => {
  test("RETR (passive and active) and LIST run to the end and answer 226 when the client half-closes at once", async () => {
    const s = await servers.start();
    writeFileSync(join(s.home("alice"), "big.bin"), new Uint8Array(BIG));
    const w = await loginTo(s.port, "alice", "alice-pw");
    expect(await halfClosedDownload(w, "RETR big.bin")).toEqual({ bytes: BIG, code: 226 });
    expect(await halfClosedDownload(w, "RETR big.bin", "PORT")).toEqual({ bytes: BIG, code: 226 });
    const list = await halfClosedDownload(w, "LIST");
    expect(list.code).toBe(226);
    expect(list.bytes).toBeGreaterThan(0);
    // The session goes on.
    expect((await w.cmd("NOOP")).code).toBe(200);
  }, 30_000);

  test.skipIf(!vsftpdAvailable())(`vsftpd does the same (reference; skipped without it: ${NO_VSFTPD})`, async () => {
    const v = await startVsftpd();
    owned.later(() => v.stop());
    writeFileSync(join(v.home, "big.bin"), new Uint8Array(BIG));
    chownTo(v.home, v.user);
    const w = await loginTo(v.port, v.user, v.password);
    expect(await halfClosedDownload(w, "RETR big.bin")).toEqual({ bytes: BIG, code: 226 });
  }, 30_000);
});

/** A data connection to the server's EPSV port; what it receives is counted. */
async function openEpsv(w: Wire) {
  const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  let received = 0;
  let closed!: () => void;
  const gone = new Promise<void>((r) => (closed = r));
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: { data: (_s, c) => void (received += c.length), close: () => closed(), error: () => closed() },
  });
  owned.later(() => void socket.end());
  return { socket, gone, received: () => received };
}

describe("NOOP during a transfer is answered at once (Commons Net's control keep-alive)", () => {
  test("a NOOP sent while an upload is open gets 200 before the upload ends; the upload then ends with 226", async () => {
    const s = await servers.start();
    const w = await loginTo(s.port, "alice", "alice-pw");
    const data = await openEpsv(w);
    expect((await w.cmd("STOR kept.bin")).code).toBe(150);
    data.socket.write(new Uint8Array(1000));
    // Commons Net waits 1 s (its default) for this reply, and then goes on waiting at each block.
    expect((await w.cmd("NOOP", 2000)).code).toBe(200);
    data.socket.write(new Uint8Array(1000));
    data.socket.end();
    await data.gone;
    expect((await w.read(5000))?.code).toBe(226);
    expect((await w.cmd("SIZE kept.bin")).lines[0]).toBe("2000");
  });

  test("a NOOP during a download nobody reads yet gets 200; the download then completes", async () => {
    const s = await servers.start();
    writeFileSync(join(s.home("alice"), "big.bin"), new Uint8Array(BIG));
    const w = await loginTo(s.port, "alice", "alice-pw");
    const data = await openEpsv(w);
    data.socket.pause();
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    expect((await w.cmd("NOOP", 2000)).code).toBe(200);
    data.socket.resume();
    await data.gone;
    expect((await w.read(10_000))?.code).toBe(226);
    expect(data.received()).toBe(BIG);
  }, 30_000);

  test("a NOOP pipelined behind another command waits its turn: replies keep the order of the commands", async () => {
    const s = await servers.start();
    const w = await loginTo(s.port, "alice", "alice-pw");
    const data = await openEpsv(w);
    expect((await w.cmd("STOR order.bin")).code).toBe(150);
    w.raw("PWD\r\nNOOP\r\n");
    data.socket.end();
    await data.gone;
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await w.read(5000))?.code);
    expect(codes).toEqual([226, 257, 200]);
  });
});

/** STOU over EPSV with `body`: the name its 150 gives ("150 FILE: name", RFC 1123 §4.1.2.9) and the final code. */
async function stou(w: Wire, line: string, body: string): Promise<{ name: string | null; code: number | undefined }> {
  const r = await w.transfer(line, new TextEncoder().encode(body));
  expect(r.first.code).toBe(150);
  return { name: /^FILE: (.+)$/.exec(r.first.lines[0]!)?.[1] ?? null, code: r.final?.code };
}

/** What vsftpd does, and ftpkit now too: the argument if free, else it (or STOU) with .1, .2… */
async function stouSequence(w: Wire, read: (name: string) => string): Promise<void> {
  expect(await stou(w, "STOU", "first")).toEqual({ name: "STOU.1", code: 226 });
  expect(await stou(w, "STOU", "second")).toEqual({ name: "STOU.2", code: 226 });
  expect(await stou(w, "STOU hello.txt", "third")).toEqual({ name: "hello.txt.1", code: 226 });
  expect(await stou(w, "STOU new.txt", "fourth")).toEqual({ name: "new.txt", code: 226 });
  expect(await stou(w, "STOU new.txt", "fifth")).toEqual({ name: "new.txt.1", code: 226 });
  expect(["STOU.1", "STOU.2", "hello.txt.1", "new.txt", "new.txt.1"].map(read)).toEqual(["first", "second", "third", "fourth", "fifth"]);
}

describe("STOU stores under a new name and says which (vsftpd, ProFTPD and Pure-FTPd all have it)", () => {
  test("STOU, STOU, STOU hello.txt, STOU new.txt twice: STOU.1, STOU.2, hello.txt.1, new.txt, new.txt.1 in the 150; nothing overwritten", async () => {
    const s = await servers.start();
    const home = s.home("alice");
    const before = readFileSync(join(home, "hello.txt"));
    const w = await loginTo(s.port, "alice", "alice-pw");
    await stouSequence(w, (name) => readFileSync(join(home, name), "utf8"));
    expect(readFileSync(join(home, "hello.txt"))).toEqual(before);
    // A name taken by a directory is skipped too; without a data connection, 425 as for STOR.
    mkdirSync(join(home, "STOU.3"));
    expect(await stou(w, "STOU", "fourth")).toEqual({ name: "STOU.4", code: 226 });
    expect((await w.cmd("STOU")).code).toBe(425);
  });

  test("concurrent STOUs each get a name of their own, even while a pre-upload hook holds them between the name's choice and its claim", async () => {
    // The hook (`true`) makes the STOUs overlap: each chose STOU.1, and all but one got 450 "file busy".
    const s = await servers.start({ options: { ops: { hooks: [{ event: "pre-upload", command: "true" }] } } });
    const home = s.home("alice");
    const sessions = await Promise.all([1, 2, 3, 4, 5, 6].map(() => loginTo(s.port, "alice", "alice-pw")));
    const names = await concurrentStous(sessions, (end) => owned.later(end), 5000);
    expect(new Set(names).size).toBe(6);
    names.forEach((name, i) => expect(readFileSync(join(home, name), "utf8")).toBe(`body ${i}`));
  });

  test("STOU needs the right to create files, as STOR: 550 before any 150, nothing created", async () => {
    const s = await servers.start({ users: [{ name: "reader", password: "reader-pw", home: "home/alice", perms: ["read"] }] });
    const w = await loginTo(s.port, "reader", "reader-pw");
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    owned.later(() => void data.end());
    expect((await w.cmd("STOU")).code).toBe(550);
    expect(readdirSync(s.home("alice")).filter((n) => n.startsWith("STOU"))).toEqual([]);
  });

  test.skipIf(!vsftpdAvailable())(`vsftpd names them the same (reference; skipped without it: ${NO_VSFTPD})`, async () => {
    const v = await startVsftpd();
    owned.later(() => v.stop());
    writeFileSync(join(v.home, "hello.txt"), "hello\n");
    chownTo(v.home, v.user);
    const w = await loginTo(v.port, v.user, v.password);
    await stouSequence(w, (name) => readFileSync(join(v.home, name), "utf8"));
  });
});

describe("a SITE command the server does not have is 500, as in the references (RFC 959 §5.4: no 504 for SITE)", () => {
  const unknown = ["SITE IDLE 60", "SITE FOO", "SITE EXEC ls"];

  test("SITE IDLE, FOO and EXEC: 500; the session goes on", async () => {
    const s = await servers.start();
    const w = await loginTo(s.port, "alice", "alice-pw");
    for (const line of unknown) expect({ line, code: (await w.cmd(line)).code }).toEqual({ line, code: 500 });
    expect((await w.cmd("SITE HELP")).code).toBe(214);
  });

  test.skipIf(!vsftpdAvailable())(`vsftpd answers them 500 too (reference; skipped without it: ${NO_VSFTPD})`, async () => {
    const v = await startVsftpd();
    owned.later(() => v.stop());
    const w = await loginTo(v.port, v.user, v.password);
    for (const line of unknown) expect({ line, code: (await w.cmd(line)).code }).toEqual({ line, code: 500 });
  });
});
