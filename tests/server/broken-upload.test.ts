// A broken upload never destroys the file it was meant to replace (overwrites go through a hidden
// file that replaces the target only on success); a new file keeps its partial bytes for REST+STOR.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { slotComesBack } from "../helpers/wire.ts";
import { waitFor } from "../helpers/peers.ts";
import { captureLogger } from "../tls/helpers.ts";
import { parseEpsvReply } from "../../protocol/address.ts";

const servers = useServers();

/**
 * Start curl uploading `bytes` to `name`, kill -9 it once the server has received some, and wait
 * until the server has ended that upload (`logger` is the server's: it logs the transfer once the
 * upload is committed or dropped).
 */
async function killedUpload(name: string, bytes: Uint8Array, dir: string, logger: ReturnType<typeof captureLogger>): Promise<void> {
  const overwrite = existsSync(join(dir, name));
  const src = join(dir, "..", `upload-source-${Date.now()}.bin`);
  writeFileSync(src, bytes);
  // Throttled by curl itself, so the server reads at full speed and sees the data connection end
  // the way a finished upload ends.
  const proc = Bun.spawn(["curl", "-s", "--limit-rate", "300k", "-T", src, `ftp://alice:alice-pw@127.0.0.1:${servers.server.port}/${name}`], {
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    // The upload takes seconds: wait until bytes are arriving, then kill.
    const deadline = Date.now() + 10_000;
    // An overwrite shows as a temp file in .ftpkit-tmp/, a new upload as the file itself.
    const started = () => (existsSync(join(dir, name)) && !overwrite) || (existsSync(join(dir, ".ftpkit-tmp")) && readdirSync(join(dir, ".ftpkit-tmp")).length > 0);
    while (Date.now() < deadline && !started()) await Bun.sleep(50);
    await Bun.sleep(500);
    proc.kill(9);
    await proc.exited;
    await waitFor(() => logger.events.some((e) => e.event === "transfer" && e.fields.path === `/${name}`), 10_000, "the server to end the killed upload");
  } finally {
    proc.kill(9);
  }
}

/**
 * REST `offset` + STOR `name` from Python's ftplib: send `send` bytes, then end the data connection
 * with a reset (SO_LINGER 0) or in good order. Prints the final reply's code.
 */
async function resumedUpload(port: number, name: string, offset: number, send: number, ending: "reset" | "fin"): Promise<string> {
  const py = `
import ftplib, socket, struct
f = ftplib.FTP(); f.connect("127.0.0.1", ${port}, timeout=10); f.login("alice", "alice-pw"); f.voidcmd("TYPE I")
conn = f.transfercmd("STOR ${name}", rest=${offset})
conn.sendall(b"N" * ${send})
if "${ending}" == "reset":
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
try: print(f.getresp()[:3])
except ftplib.Error as e: print(str(e)[:3])
`;
  const proc = Bun.spawn(["python3", "-c", py], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect(await proc.exited, err).toBe(0);
  return out.trim();
}

describe("a resumed upload (REST n + STOR)", () => {
  const SIZE = 200_000;
  const setup = (root: string) => writeFileSync(join(root, "home/alice/keep.bin"), Buffer.alloc(SIZE, "K"));

  test("reset before any byte: the file keeps all its bytes (it was cut to n when the data connection opened)", async () => {
    await servers.start({ setup });
    const file = join(servers.server.home("alice"), "keep.bin");
    expect(await resumedUpload(servers.server.port, "keep.bin", 1000, 0, "reset")).toBe("426");
    expect(readFileSync(file).equals(Buffer.alloc(SIZE, "K"))).toBe(true);
  });

  test("reset after some bytes: the old bytes plus what arrived, nothing cut", async () => {
    await servers.start({ setup });
    const file = join(servers.server.home("alice"), "keep.bin");
    expect(await resumedUpload(servers.server.port, "keep.bin", 1000, 5000, "reset")).toBe("426");
    const got = readFileSync(file);
    expect(got.length).toBe(SIZE);
    // What arrived before the reset (all of it, or less) lies at 1000; the rest is the old file.
    const arrived = got.subarray(1000).indexOf("K");
    expect(arrived).toBeGreaterThanOrEqual(0);
    expect(arrived).toBeLessThanOrEqual(5000);
    const expected = Buffer.concat([Buffer.alloc(1000, "K"), Buffer.alloc(arrived, "N"), Buffer.alloc(SIZE - 1000 - arrived, "K")]);
    expect(got.equals(expected)).toBe(true);
  });

  test("completed (226): bytes [0, n) are kept, the upload follows, and the old tail is cut", async () => {
    await servers.start({ setup });
    const file = join(servers.server.home("alice"), "keep.bin");
    expect(await resumedUpload(servers.server.port, "keep.bin", 1000, 5000, "fin")).toBe("226");
    expect(readFileSync(file).equals(Buffer.concat([Buffer.alloc(1000, "K"), Buffer.alloc(5000, "N")]))).toBe(true);
    const w = await servers.login();
    expect((await w.cmd("SIZE keep.bin")).lines[0]).toBe("6000");
  });

  test("ABOR mid-way: the file keeps its length and its old tail", async () => {
    await servers.start({ setup, options: { maxRate: 100_000 } });
    const file = join(servers.server.home("alice"), "keep.bin");
    const w = await servers.login();
    expect((await w.cmd("REST 1000")).code).toBe(350);
    const upload = w.transfer("STOR keep.bin", Buffer.alloc(150_000, "N"));
    // Mid-way: once the first resumed byte is in the file (the whole upload takes 1.5 s at this rate).
    await waitFor(() => !readFileSync(file).subarray(1000, 1001).equals(Buffer.from("K")), 5000, "the first byte of the resume");
    w.raw("ABOR\r\n");
    await upload.catch(() => {});
    const got = readFileSync(file);
    expect(got.length).toBe(SIZE);
    expect(got.subarray(0, 1000).equals(Buffer.alloc(1000, "K"))).toBe(true);
    expect(got.subarray(SIZE - 1000).equals(Buffer.alloc(1000, "K"))).toBe(true);
  });
});

describe("broken uploads", () => {
  test("kill -9 during an overwrite leaves the old file intact and no hidden file behind", async () => {
    const logger = captureLogger();
    await servers.start({ options: { logger } });
    const home = servers.server.home("alice");
    const before = readFileSync(join(home, "hello.txt"));
    await killedUpload("hello.txt", crypto.getRandomValues(new Uint8Array(2_000_000)), home, logger);
    expect(readFileSync(join(home, "hello.txt")).equals(before)).toBe(true);
    expect(readdirSync(join(home, ".ftpkit-tmp"))).toEqual([]);
  });

  test("kill -9 during a new upload keeps the partial bytes, so the client can resume", async () => {
    const logger = captureLogger();
    await servers.start({ options: { logger } });
    const home = servers.server.home("alice");
    await killedUpload("fresh.bin", crypto.getRandomValues(new Uint8Array(2_000_000)), home, logger);
    expect(existsSync(join(home, "fresh.bin"))).toBe(true);
    const size = readFileSync(join(home, "fresh.bin")).length;
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThan(2_000_000);
  });

  test("a completed overwrite replaces the file, and the hidden file never shows in listings", async () => {
    await servers.start({ options: { maxRate: 300_000 } });
    const w = await servers.login();
    const data = crypto.getRandomValues(new Uint8Array(400_000));
    const upload = w.transfer("STOR hello.txt", data);
    await Bun.sleep(400); // mid-upload
    const other = await servers.login();
    const names = (await other.transfer("NLST")).data.toString().split("\r\n");
    expect(names.some((n) => n.startsWith(".ftpkit-upload."))).toBe(false);
    expect(names).toContain("hello.txt");
    expect((await upload).final?.code).toBe(226);
    expect(readFileSync(join(servers.server.home("alice"), "hello.txt")).equals(Buffer.from(data))).toBe(true);
  });

  test("ABOR during an overwrite keeps the old file", async () => {
    await servers.start({ options: { maxRate: 200_000 } });
    const home = servers.server.home("alice");
    const before = readFileSync(join(home, "hello.txt"));
    const w = await servers.login();
    const upload = w.transfer("STOR hello.txt", crypto.getRandomValues(new Uint8Array(2_000_000)));
    await Bun.sleep(600);
    w.raw("ABOR\r\n");
    await upload.catch(() => {});
    await Bun.sleep(300);
    expect(readFileSync(join(home, "hello.txt")).equals(before)).toBe(true);
  });

  test("QUIT and close right after the data, without waiting for the 226: the overwrite is committed and the session still ends", async () => {
    // RFC 959: a QUIT during a transfer waits for it. Scripts that send QUIT and hang up at once
    // finished their upload; only a client that dies says no QUIT.
    await servers.start({ options: { maxPerIp: 1 } });
    const home = servers.server.home("alice");
    const w = await servers.login();
    const data = await Bun.connect({ hostname: "127.0.0.1", port: parseEpsvReply((await w.cmd("EPSV")).lines[0]!), socket: { data() {} } });
    expect((await w.cmd("STOR hello.txt")).code).toBe(150);
    const bytes = Buffer.from(crypto.getRandomValues(new Uint8Array(64 * 1024)));
    expect(data.write(bytes)).toBe(bytes.length);
    data.end();
    w.raw("QUIT\r\n");
    w.close();
    await waitFor(() => readFileSync(join(home, "hello.txt")).equals(bytes), 5000, "the new content");
    expect(readdirSync(join(home, ".ftpkit-tmp"))).toEqual([]);
    // The connection slot (one per address here) comes back once the session has ended.
    expect(await slotComesBack(servers.server.port, 5000)).toBe(true);
  });

  test("QUIT and a hang-up while a STOR still waits for its data connection: the session still ends (at the accept timeout) and nothing is created", async () => {
    await servers.start({ options: { maxPerIp: 1, dataTimeoutMs: 500 } });
    const home = servers.server.home("alice");
    const w = await servers.login();
    expect((await w.cmd("EPSV")).code).toBe(229);
    expect((await w.cmd("STOR never.bin")).code).toBe(150);
    w.raw("QUIT\r\n");
    w.close();
    expect(await slotComesBack(servers.server.port, 10_000)).toBe(true);
    expect(existsSync(join(home, "never.bin"))).toBe(false);
  });
});
