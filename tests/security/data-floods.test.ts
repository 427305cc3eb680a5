// What a client sends where the server reads nothing, and commands it queues before it vanishes:
// neither may grow the server (memory, descriptors, passive ports) nor keep a transfer alive.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { useServers } from "../helpers/server.ts";
import { waitFor } from "../helpers/peers.ts";
import { captureLogger } from "../tls/helpers.ts";
import { parseEpsvReply } from "../../protocol/address.ts";

const servers = useServers();
let serve: ServeProcess | null = null;
let root: string | null = null;

afterEach(async () => {
  await serve?.kill();
  if (root) removeDir(root);
  serve = null;
  root = null;
});

/** Run a Python client (ftplib and raw sockets); its last stdout line is JSON. */
async function python(script: string): Promise<Record<string, unknown>> {
  const proc = Bun.spawn(["python3", "-c", script], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 60_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  if ((await proc.exited) !== 0) throw new Error(`python failed: ${err}`);
  return JSON.parse(out.trim().split("\n").pop()!);
}

const PY_PRELUDE = `
import ftplib, json, socket, struct, threading, time
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) * 1024
def connect(port, user, pw):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=20)
    ftp.login(user, pw)
    ftp.voidcmd("TYPE I")
    return ftp
def epsv(ftp):
    return int(ftp.sendcmd("EPSV").split("|")[3])
`;

async function spawnWithFile(name: string, bytes: number): Promise<ServeProcess> {
  root = tempDir("ftpkit-data-flood-");
  writeFileSync(join(root, name), "");
  truncateSync(join(root, name), bytes);
  serve = await spawnServe(["--root", root, "--user", "u:pw"], { cwd: root });
  return serve;
}

describe("bytes sent where the server reads nothing", () => {
  test("a data connection that sends without a command stops being read: the client can push no more than the kernel's buffers hold, and the server's memory does not follow", async () => {
    const s = await spawnWithFile("big.bin", 1);
    const r = await python(`${PY_PRELUDE}
ftp = connect(${s.port}, "u", "pw")
d = socket.create_connection(("127.0.0.1", epsv(ftp)))
before = rss(${s.proc.pid})
d.settimeout(2)
chunk = b"x" * (1 << 20)
sent = 0
try:
    while sent < (512 << 20):
        sent += d.send(chunk)
except socket.timeout:
    pass
print(json.dumps({"sent": sent, "grew": rss(${s.proc.pid}) - before}))
`);
    // Before: 512 MiB taken in about a second, and the server ~1 GB bigger. Now: what the kernel's
    // buffers hold, then the client's writes wait.
    expect(r.sent as number).toBeLessThan(64 << 20);
    expect(r.grew as number).toBeLessThan(64 << 20);
  }, 60_000);

  test("bytes sent on a RETR's data connection are dropped: the download completes whole and the server's memory does not follow", async () => {
    const s = await spawnWithFile("big.bin", 256 << 20);
    const r = await python(`${PY_PRELUDE}
ftp = connect(${s.port}, "u", "pw")
d = socket.create_connection(("127.0.0.1", epsv(ftp)))
ftp.sendcmd("RETR big.bin")
before = rss(${s.proc.pid})
pushed = [0]
def push():
    chunk = b"x" * (1 << 20)
    try:
        while pushed[0] < (1 << 30):
            d.sendall(chunk)
            pushed[0] += len(chunk)
    except OSError:
        pass
t = threading.Thread(target=push, daemon=True)
t.start()
got = 0
while True:
    b = d.recv(1 << 20)
    if not b: break
    got += len(b)
grew = rss(${s.proc.pid}) - before
reply = ftp.voidresp()
print(json.dumps({"got": got, "reply": reply[:3], "pushed": pushed[0], "grew": grew}))
`);
    expect(r.got).toBe(256 << 20);
    expect(r.reply).toBe("226");
    expect(r.pushed as number).toBeGreaterThan(16 << 20); // the flood did run while the file came
    expect(r.grew as number).toBeLessThan(64 << 20);
  }, 60_000);

  test("a download the client does not read is stalled out even while the client keeps sending on it", async () => {
    const s = await servers.start({ options: { dataTimeoutMs: 500, stallTimeoutMs: 500 } });
    writeFileSync(join(s.home("alice"), "huge.bin"), "");
    truncateSync(join(s.home("alice"), "huge.bin"), 256 << 20);
    const r = await python(`${PY_PRELUDE}
ftp = connect(${s.port}, "alice", "alice-pw")
d = socket.create_connection(("127.0.0.1", epsv(ftp)))
ftp.sendcmd("RETR huge.bin")
deadline = time.time() + 15
how = "deadline"
chunk = b"x" * 65536
d.settimeout(1)
while time.time() < deadline:
    try:
        d.send(chunk)
    except socket.timeout:
        continue
    except OSError:
        how = "closed by the server"
        break
try:
    reply = ftp.getresp()
except ftplib.all_errors as e:
    reply = str(e)
print(json.dumps({"how": how, "reply": reply}))
`);
    // Before, every byte the client sent counted as activity: the transfer never stalled.
    expect(r.how).toBe("closed by the server");
    expect(String(r.reply)).toMatch(/^426 .*stalled/);
  }, 60_000);
});

describe("commands queued behind a transfer when the client vanishes", () => {
  test("a PASV queued behind a RETR does not run after the session ends: no listener or descriptor is left", async () => {
    const s = await servers.start();
    writeFileSync(join(s.home("alice"), "some.bin"), "x".repeat(1000));
    const fds = () => readdirSync("/proc/self/fd").length;
    const warm = await servers.login();
    warm.close();
    const before = fds();
    await python(`${PY_PRELUDE}
for i in range(10):
    ftp = connect(${s.port}, "alice", "alice-pw")
    epsv(ftp)
    ftp.sock.sendall(b"RETR some.bin\\r\\nPASV\\r\\n")
    assert ftp.getresp().startswith("150")
    ftp.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ftp.sock.close()
print(json.dumps({}))
`);
    // Before, each round left a passive listener (and its descriptor) that nothing would close.
    const deadline = Date.now() + 10_000;
    while (fds() > before + 2 && Date.now() < deadline) await Bun.sleep(50);
    expect(fds()).toBeLessThanOrEqual(before + 2);
  }, 60_000);
});

describe("connections to a passive port from another address", () => {
  test("200 from 127.0.0.2 to one session's passive port: one log line for the first, one counting the rest at the session's end", async () => {
    const logger = captureLogger();
    await servers.start({ options: { logger } });
    const w = await servers.login();
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    const r = await python(`${PY_PRELUDE}
refused = 0
for i in range(200):
    s = socket.socket(); s.settimeout(5); s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", ${port})); s.recv(1)
        refused += 1
    except OSError:
        refused += 1
    s.close()
print(json.dumps({"refused": refused}))
`);
    expect(r.refused).toBe(200);
    // The client's own connection is still taken: the listing arrives.
    const listing = await w.transfer("LIST");
    expect(listing.final?.code).toBe(226);
    expect((await w.cmd("QUIT")).code).toBe(221);
    await waitFor(() => logger.events.some((e) => e.event === "session end"), 5000, "session end");
    const lines = logger.events.filter((e) => e.event.includes("refused: foreign address"));
    // Before, one WARN line per connection: 200 lines a stranger could multiply at will.
    expect(lines.map((e) => e.event)).toEqual(["data connection refused: foreign address", "data connections refused: foreign address"]);
    expect(lines[0]!.fields).toMatchObject({ ip: "127.0.0.2", expected: "127.0.0.1" });
    expect(lines[1]!.fields.count).toBe(199);
  }, 60_000);
});

describe("sorted listings, read whole before they are sent", () => {
  test("the entries they hold at once are bounded: a second LIST -t beyond maxSortedEntries gets 450, and the budget comes back when the first ends", async () => {
    const s = await servers.start({ options: { maxSortedEntries: 1500, dataTimeoutMs: 60_000 } });
    const dir = join(s.home("alice"), "many");
    mkdirSync(dir);
    for (let i = 0; i < 1000; i++) writeFileSync(join(dir, `f${String(i).padStart(4, "0")}`), "");
    utimesSync(join(dir, "f0500"), new Date(), new Date(Date.now() + 3_600_000)); // the newest
    const a = await servers.login();
    const b = await servers.login();
    // A's LIST -t holds its 1,000 entries while it waits for a data connection that never comes.
    expect((await a.cmd("EPSV")).code).toBe(229);
    expect((await a.cmd("LIST -t many")).code).toBe(150);
    // Before, every such listing was read whole whatever the others held: ~280 bytes an entry
    // for as long as its client takes (20 stalled LIST -t of 100,000 entries: +555 MB).
    const refused = await b.transfer("LIST -t many");
    expect(refused.first.code).toBe(450);
    expect((await b.cmd("STAT -t many")).code).toBe(450);
    // A listing that is not sorted streams, and is not counted.
    expect((await b.transfer("NLST many")).final?.code).toBe(226);
    a.raw("ABOR\r\n");
    expect((await a.read())?.code).toBe(426);
    expect((await a.read())?.code).toBe(226);
    const sorted = await b.transfer("NLST -t many");
    expect(sorted.final?.code).toBe(226);
    const names = sorted.data.toString().trim().split("\r\n");
    expect(names.length).toBe(1000);
    expect(names[0]).toBe("many/f0500");
    // Given back after a complete listing and after STAT too: both fit again, one after the other.
    expect((await b.cmd("STAT -r many")).code).toBe(213);
    expect((await a.transfer("LIST -r many")).final?.code).toBe(226);
  }, 60_000);
});
