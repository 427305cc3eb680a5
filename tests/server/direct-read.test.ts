// Plain uploads read what their data socket holds straight from its descriptor (server/data/direct-read.ts).
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { directReadBytes } from "../../server/data/direct-read.ts";
import { tlsOptions } from "../tls/helpers.ts";

const servers = useServers();

/**
 * A Python ftplib client: STOR `name` with `size` pseudo-random bytes sent in `pieces` pieces `gapMs`
 * apart, ended by FIN or RST. Returns the final reply's code and the MD5 of what it sent.
 */
async function upload(port: number, name: string, size: number, opts: { pieces?: number; gapMs?: number; ending?: "fin" | "reset"; type?: "I" | "A"; tls?: boolean; active?: boolean } = {}): Promise<{ code: string; md5: string }> {
  const py = `
import ftplib, hashlib, random, socket, struct, time
data = random.Random(7).randbytes(${size})
import ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx) if ${opts.tls ? "True" : "False"} else ftplib.FTP()
f.connect("127.0.0.1", ${port}, timeout=20); f.login("alice", "alice-pw"); f.voidcmd("TYPE ${opts.type ?? "I"}")
if ${opts.tls ? "True" : "False"}: f.prot_p()
f.set_pasv(${opts.active ? "False" : "True"})
conn = f.transfercmd("STOR ${name}")
pieces = ${opts.pieces ?? 1}
step = -(-len(data) // pieces)
for i in range(0, len(data), step):
    conn.sendall(data[i:i + step])
    if pieces > 1: time.sleep(${(opts.gapMs ?? 0) / 1000})
if "${opts.ending ?? "fin"}" == "reset":
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
if ${opts.tls ? "True" : "False"}: conn.unwrap()
conn.close()
try: print(f.getresp()[:3], hashlib.md5(data).hexdigest())
except ftplib.Error as e: print(str(e)[:3], hashlib.md5(data).hexdigest())
`;
  const proc = Bun.spawn(["python3", "-c", py], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  expect(await proc.exited, err).toBe(0);
  const [code = "", md5 = ""] = out.trim().split(" ");
  return { code, md5 };
}

const md5Of = (path: string) => new Bun.CryptoHasher("md5").update(readFileSync(path)).digest("hex");

test("a plain 32 MiB STOR takes bytes from the socket's descriptor and stores every byte in order", async () => {
  await servers.start();
  const before = directReadBytes.total;
  const sent = await upload(servers.server.port, "big.bin", 32 * 1024 * 1024);
  expect(sent.code).toBe("226");
  expect(directReadBytes.total - before).toBeGreaterThan(0);
  expect(md5Of(join(servers.server.home("alice"), "big.bin"))).toBe(sent.md5);
}, 30_000);

for (const mode of ["passive", "active"] as const) {
  test(`an upload sent in pieces with pauses between them (${mode}) is stored whole, and the server answers other sessions meanwhile`, async () => {
    await servers.start();
    const other = await servers.login();
    const size = 3 * 1024 * 1024;
    const sending = upload(servers.server.port, "slow.bin", size, { pieces: 12, gapMs: 150, active: mode === "active" });
    // A read that waited for bytes instead of returning would hold the event loop for the gaps.
    for (let i = 0; i < 8; i++) {
      const t0 = performance.now();
      expect((await other.cmd("NOOP")).code).toBe(200);
      expect(performance.now() - t0).toBeLessThan(1000);
      await Bun.sleep(100);
    }
    const sent = await sending;
    expect(sent.code).toBe("226");
    expect(md5Of(join(servers.server.home("alice"), "slow.bin"))).toBe(sent.md5);
  }, 30_000);
}

test("a reset after 8 MiB is a broken upload (426), not a complete one", async () => {
  await servers.start();
  expect((await upload(servers.server.port, "reset.bin", 8 * 1024 * 1024, { ending: "reset" })).code).toBe("426");
}, 30_000);

test("a TYPE A upload does not take the direct path", async () => {
  await servers.start();
  const before = directReadBytes.total;
  expect((await upload(servers.server.port, "text.bin", 4 * 1024 * 1024, { type: "A" })).code).toBe("226");
  expect(directReadBytes.total - before).toBe(0);
}, 30_000);

test("a PROT P upload does not take the direct path (its socket holds ciphertext) and is stored whole", async () => {
  await servers.start({ options: { tls: tlsOptions() } });
  const before = directReadBytes.total;
  const sent = await upload(servers.server.port, "tls.bin", 8 * 1024 * 1024, { tls: true });
  expect(sent.code).toBe("226");
  expect(directReadBytes.total - before).toBe(0);
  expect(md5Of(join(servers.server.home("alice"), "tls.bin"))).toBe(sent.md5);
}, 30_000);
