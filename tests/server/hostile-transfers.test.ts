// Issue 8: a transfer owns its resources and ends exactly once — measured as an attacker would,
// by descriptors, quota and bytes on disk before and after.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { useServers } from "../helpers/server.ts";
import type { Wire } from "../helpers/wire.ts";
import { LocalStorage } from "../../server/storage/local.ts";

const servers = useServers();

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** A port on 127.0.0.1 nobody listens on (bound, then closed). */
function closedPort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

function portCommand(port: number): string {
  return `PORT 127,0,0,1,${port >> 8},${port & 255}`;
}

/** Run `verb` against a closed active-mode port: 150, then a 425 without any data moving. */
async function failedActive(w: Wire, line: string, port: number): Promise<number[]> {
  const codes = [(await w.cmd(portCommand(port))).code];
  const first = await w.cmd(line);
  codes.push(first.code);
  if (first.code < 200) codes.push((await w.read(10_000))!.code);
  return codes;
}

async function avbl(w: Wire): Promise<number> {
  const r = await w.cmd("AVBL");
  expect(r.code).toBe(213);
  return Number(r.lines[0]!.trim().split(/\s+/).pop());
}

describe("transfers that never get a data connection", () => {
  test("150 RETR and 150 STOR against a closed active port leave no descriptor open and the file unchanged", async () => {
    const s = await servers.start();
    writeFileSync(join(s.home("alice"), "big.bin"), new Uint8Array(900_000));
    const w = await servers.login();
    const port = closedPort();
    // Warm up once (lazy allocations), then count.
    await failedActive(w, "RETR big.bin", port);
    const before = openFds();
    for (let i = 0; i < 150; i++) {
      expect(await failedActive(w, "RETR big.bin", port)).toEqual([200, 150, 425]);
      expect(await failedActive(w, "STOR big.bin", port)).toEqual([200, 150, 425]);
    }
    expect(openFds() - before).toBeLessThan(10);
    expect(statSync(join(s.home("alice"), "big.bin")).size).toBe(900_000);
  }, 60_000);

  test("50 failed overwrites cannot cheat the quota: AVBL and the file stay as they were", async () => {
    const s = await servers.start({ users: [{ name: "alice", password: "alice-pw", quota: 1_000_000 }] });
    const w = await servers.login();
    expect((await w.transfer("STOR big.bin", new Uint8Array(900_000).fill(7))).final?.code).toBe(226);
    const left = await avbl(w);
    const port = closedPort();
    for (let i = 0; i < 50; i++) expect(await failedActive(w, "STOR big.bin", port)).toEqual([200, 150, 425]);
    expect(await avbl(w)).toBe(left);
    expect(readFileSync(join(s.home("alice"), "big.bin")).equals(Buffer.alloc(900_000, 7))).toBe(true);
    // …and the quota still refuses what does not fit.
    expect((await w.transfer("STOR more.bin", new Uint8Array(left + 1))).final?.code).toBe(552);
  }, 60_000);

  test("STOR does not create or truncate the target before its data connection exists", async () => {
    const s = await servers.start();
    const target = join(s.home("alice"), "hello.txt");
    const before = readFileSync(target);
    const w = await servers.login();
    expect((await w.cmd("EPSV")).code).toBe(229);
    expect((await w.cmd("STOR hello.txt")).code).toBe(150);
    expect(readFileSync(target).equals(before)).toBe(true);
    expect((await w.cmd("ABOR")).code).toBe(426);
    expect((await w.read())?.code).toBe(226);
    expect((await w.cmd("EPSV")).code).toBe(229);
    expect((await w.cmd("STOR new-file.txt")).code).toBe(150);
    expect(readdirSync(s.home("alice"))).not.toContain("new-file.txt");
  }, 60_000);

  test("ABOR while a transfer waits for its data connection is answered at once (426, then 226)", async () => {
    await servers.start({ options: { dataTimeoutMs: 60_000 } });
    const w = await servers.login();
    expect((await w.cmd("EPSV")).code).toBe(229);
    expect((await w.cmd("RETR hello.txt")).code).toBe(150);
    w.raw("ABOR\r\n");
    // Far below the 60 s accept timeout: the wait is cut by the ABOR itself.
    expect((await w.read(5000))?.code).toBe(426);
    expect((await w.read(5000))?.code).toBe(226);
    expect((await w.cmd("NOOP")).code).toBe(200);
  }, 60_000);

  test("ABOR sent in one packet with the STOR it aborts is answered at once (150, 426, 226), and nothing is created", async () => {
    const s = await servers.start({ options: { dataTimeoutMs: 60_000 } });
    const w = await servers.login();
    expect((await w.cmd("EPSV")).code).toBe(229);
    w.raw("STOR never.bin\r\nABOR\r\n");
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await w.read(5000))?.code);
    expect(codes).toEqual([150, 426, 226]);
    expect(readdirSync(s.home("alice"))).not.toContain("never.bin");
    expect((await w.cmd("NOOP")).code).toBe(200);
  }, 60_000);
});

describe("ABOR and STAT pipelined with the transfer command", () => {
  test("RETR and ABOR in one packet, the data connection open but not read: the download is cut (150, 426, 226)", async () => {
    const s = await servers.start();
    writeFileSync(join(s.home("alice"), "big.bin"), new Uint8Array(64 * 1024 * 1024));
    const w = await servers.login();
    expect((await w.cmd("TYPE I")).code).toBe(200);
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    // A client that reads nothing: the 64 MiB can never all be sent, so only the ABOR can end it.
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { open: (sock) => sock.pause(), data() {} } });
    try {
      w.raw("RETR big.bin\r\nABOR\r\n");
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await w.read(5000))?.code);
      expect(codes).toEqual([150, 426, 226]);
    } finally {
      data.terminate();
    }
  }, 30_000);

  test("RETR, PWD, STAT and QUIT in one packet: a command behind another keeps its turn, and every reply comes in order", async () => {
    await servers.start();
    const w = await servers.login();
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close: () => closed(), error: () => closed() } });
    w.raw("RETR hello.txt\r\nPWD\r\nSTAT\r\nQUIT\r\n");
    const codes = [];
    for (let r = await w.read(5000); r; r = await w.read(5000)) codes.push(r.code);
    await closedP;
    // The STAT runs after the PWD, so it reports on the session (211), not on the transfer (213).
    expect(codes).toEqual([150, 226, 257, 211, 221]);
  }, 30_000);

  test("RETR, NOOP and SIZE in one packet: the NOOP keeps its turn (150, 226, 200, 213), as vsftpd answers", async () => {
    await servers.start();
    const w = await servers.login();
    expect((await w.cmd("TYPE I")).code).toBe(200);
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close: () => closed(), error: () => closed() } });
    w.raw("RETR hello.txt\r\nNOOP\r\nSIZE hello.txt\r\n");
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await w.read(5000))?.code);
    await closedP;
    // Before: 150, 200, 226, 213 (the NOOP jumped the transfer it was pipelined behind).
    expect(codes).toEqual([150, 226, 200, 213]);
  }, 30_000);

  test("RETR and STAT in one packet: the STAT is answered during the transfer", async () => {
    await servers.start({ options: { dataTimeoutMs: 60_000 } });
    const w = await servers.login();
    expect((await w.cmd("EPSV")).code).toBe(229);
    // No data connection yet: the RETR waits for it, so the STAT can only be answered beside it.
    w.raw("RETR hello.txt\r\nSTAT\r\n");
    expect((await w.read(5000))?.code).toBe(150);
    const stat = await w.read(5000);
    expect(stat?.code).toBe(213);
    expect(stat?.lines.join(" ")).toContain("RETR /hello.txt");
    w.raw("ABOR\r\n");
    const codes = [];
    for (let i = 0; i < 2; i++) codes.push((await w.read(5000))?.code);
    expect(codes).toEqual([426, 226]);
  }, 30_000);
});

/** Connect a data socket for `line` over EPSV, send `bytes`, then reset the connection (SO_LINGER 0, via Python). */
async function resetUpload(port: number, line: string, bytes: number): Promise<string> {
  const py = `
import ftplib, socket, struct, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", ${port}, timeout=10)
ftp.login("alice", "alice-pw")
ftp.voidcmd("TYPE I")
conn = ftp.transfercmd(${JSON.stringify(line)})
conn.sendall(b"x" * ${bytes})
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
try:
    print(ftp.voidresp())
except ftplib.all_errors as e:
    print(e)
ftp.quit()
`;
  const proc = Bun.spawn(["python3", "-c", py], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(timer);
  return out.trim();
}

describe("a reset data connection is a broken upload, never a complete one", () => {
  test("RST in the middle of an overwrite: 426, and the old file stays whole", async () => {
    const s = await servers.start();
    const target = join(s.home("alice"), "keep.bin");
    const old = crypto.getRandomValues(new Uint8Array(2_000_000));
    writeFileSync(target, old);
    for (let i = 0; i < 3; i++) {
      const reply = await resetUpload(s.port, "STOR keep.bin", 500_000);
      expect(reply.slice(0, 3)).toBe("426");
      expect(readFileSync(target).equals(Buffer.from(old))).toBe(true);
    }
    // No temp file left behind (and no temp directory at all when every reset beat the accept).
    const tmp = join(s.home("alice"), ".ftpkit-tmp");
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
  }, 60_000);

  test("RST during APPE and a new upload: 426, and the quota counts exactly the bytes kept", async () => {
    const s = await servers.start({ users: [{ name: "alice", password: "alice-pw", quota: 10_000_000 }] });
    const w = await servers.login();
    const base = 10_000_000 - (await avbl(w));
    expect((await resetUpload(s.port, "STOR fresh.bin", 300_000)).slice(0, 3)).toBe("426");
    expect((await resetUpload(s.port, "APPE fresh.bin", 200_000)).slice(0, 3)).toBe("426");
    // A reset that lands before the server accepted the connection creates nothing (426 all the
    // same, since the accept-queue fix): then no byte is kept.
    const path = join(s.home("alice"), "fresh.bin");
    const kept = existsSync(path) ? statSync(path).size : 0;
    expect(kept).toBeLessThanOrEqual(500_000);
    const w2 = await servers.login();
    expect(10_000_000 - (await avbl(w2))).toBe(base + kept);
  }, 60_000);
});

describe("the ledger follows what is stored", () => {
  test("overwrites racing DELE of the same file leave the ledger equal to what is on disk", async () => {
    const quota = 5_000_000;
    const s = await servers.start({ users: [{ name: "alice", password: "alice-pw", quota }] });
    const home = s.home("alice");
    const a = await servers.login();
    const b = await servers.login();
    const base = quota - (await avbl(a));
    const body = new Uint8Array(400_000).fill(1);
    for (let i = 0; i < 15; i++) {
      await Promise.all([a.transfer("STOR race.bin", body), b.cmd("DELE race.bin")]);
    }
    const onDisk = readdirSync(home).includes("race.bin") ? statSync(join(home, "race.bin")).size : 0;
    expect(quota - (await avbl(a))).toBe(base + onDisk);
  }, 60_000);
});

describe("reserved names and a full disk", () => {
  test("names under .ftpkit- are refused with 553 and never listed", async () => {
    await servers.start();
    const w = await servers.login();
    expect((await w.transfer("STOR x.bin", new Uint8Array(10))).final?.code).toBe(226);
    for (const name of [".ftpkit-tmp/x", ".ftpkit-upload.1234", "sub/.ftpkit-tmp"]) {
      expect((await w.transfer(`STOR ${name}`, new Uint8Array(10))).first.code).toBe(553);
    }
    expect((await w.cmd("CWD .ftpkit-tmp")).code).toBe(553);
    expect((await w.cmd("DELE .ftpkit-tmp")).code).toBe(553);
    const names = (await w.transfer("LIST -a")).data.toString();
    expect(names).not.toContain(".ftpkit");
  }, 60_000);

  test("a .ftpkit-tmp symlink planted in a home sends no upload data or lock file out of it, and the sweep removes nothing there", async () => {
    const outside = mkdtempSync(join(tmpdir(), "ftpkit-planted-"));
    try {
      // A dead process's temp file as the sweep would remove it, had it followed the link.
      const bait = `${hostname()}.999999999.x`;
      writeFileSync(join(outside, bait), "keep");
      const s = await servers.start({ setup: (root) => symlinkSync(outside, join(root, "home/alice/.ftpkit-tmp")) });
      writeFileSync(join(s.home("alice"), "old.bin"), "old");
      const w = await servers.login();
      expect((await w.cmd("TYPE I")).code).toBe(200);
      // A new name (its reservation's lock file, taken before the 150) and an overwrite (its temp file).
      for (const name of ["new.bin", "old.bin"]) {
        const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
        expect((await w.cmd(`STOR ${name}`)).code).toBe(150);
        expect(readdirSync(outside)).toEqual([bait]);
        const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
        data.write(new Uint8Array(100_000).fill(7));
        data.end();
        await w.read(5000);
      }
      // Where other processes serve the home (--workers, --state), a new name also takes a lock file: not there either.
      const shared = (await new LocalStorage(s.home("alice"), { sharedNames: true }).claimWrite("another.bin", { kind: "create" }))!;
      expect(shared).not.toBeNull();
      shared.release();
      expect(readdirSync(outside)).toEqual([bait]);
      expect(readFileSync(join(outside, bait), "utf8")).toBe("keep");
      expect(statSync(join(s.home("alice"), "new.bin")).size).toBe(100_000);
      expect(readFileSync(join(s.home("alice"), "old.bin"), "utf8")).toBe("old"); // no temp directory to be had: refused
      expect((await w.cmd("NOOP")).code).toBe(200);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  }, 60_000);

  test("an upload that fills the disk ends 552 after its 150 (452 is a first reply), and the quota counts exactly what stayed on disk", async () => {
    const quota = 50_000_000;
    const s = await servers.start({
      users: [{ name: "alice", password: "alice-pw", quota, home: "small" }],
      setup: (root) => {
        mkdirSync(join(root, "small"));
        Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", join(root, "small")]);
      },
    });
    const small = join(s.root, "small");
    try {
      expect(Bun.spawnSync(["mountpoint", "-q", small]).exitCode).toBe(0);
      const w = await servers.login();
      const r = await w.transfer("STOR big.bin", new Uint8Array(3_000_000).fill(9));
      expect(r.final?.code).toBe(552);
      const kept = readdirSync(small).includes("big.bin") ? statSync(join(small, "big.bin")).size : 0;
      // AVBL also caps by free disk space (none here): SITE QUOTA shows the ledger itself.
      const used = async () => Number(/used (\d+) of/.exec((await w.cmd("SITE QUOTA")).lines.join("\n"))?.[1]);
      expect(await used()).toBe(kept);
      if (kept) expect((await w.cmd("DELE big.bin")).code).toBe(250);
      expect(await used()).toBe(0);
    } finally {
      Bun.spawnSync(["umount", "-l", small]);
    }
  }, 60_000);
});
