// MODE B under PROT P: one TLS data connection carries a download and an upload (no handshake per file).
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { random } from "../helpers/quota.ts";
import { run, tlsOptions } from "../tls/helpers.ts";

const servers = useServers();

/** ftplib's FTP_TLS: PROT P, MODE B, then RETR, RETR, STOR and RETR on the one data connection transfercmd opened; then PROT C and a RETR. */
const SCRIPT = `
import ftplib, json, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx); f.connect("127.0.0.1", port, timeout=10); f.login("alice", "alice-pw"); f.prot_p()
f.voidcmd("TYPE I"); f.voidcmd("MODE B")
def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError("data connection closed")
        b += c
    return b
def read_transfer(s):
    out = b""
    while True:
        h = recvn(s, 3); n = (h[1] << 8) | h[2]; d = recvn(s, n) if n else b""
        if not h[0] & 0x10: out += d
        if h[0] & 0x40: return out
def frame(body):
    out = b""
    for i in range(0, len(body), 65535):
        p = body[i:i + 65535]; out += bytes([0, len(p) >> 8, len(p) & 0xff]) + p
    return out + bytes([0x40, 0, 0])
res = []
conn = f.transfercmd("RETR a.bin"); a = read_transfer(conn); res.append(f.voidresp()[:3])
f.sendcmd("RETR hello.txt"); h = read_transfer(conn); res.append(f.voidresp()[:3])
body = open(sys.argv[2], "rb").read()
f.sendcmd("STOR up.bin"); conn.sendall(frame(body)); res.append(f.voidresp()[:3])
f.sendcmd("RETR up.bin"); u = read_transfer(conn); res.append(f.voidresp()[:3])
open(sys.argv[3], "wb").write(a); open(sys.argv[4], "wb").write(u)
# PROT C: the kept TLS connection no longer fits; refused before any 150, and closed.
f.voidcmd("PROT C")
try: f.sendcmd("RETR hello.txt"); res.append("150")
except ftplib.error_temp as e: res.append(str(e)[:3])
conn.settimeout(5)
try: closed = conn.recv(1) == b""
except (ssl.SSLError, OSError): closed = True
print(json.dumps({"replies": res, "hello": h.decode(), "closed": closed}))
f.quit()
`;

test("PROT P: RETR, RETR, STOR and RETR in MODE B over one kept TLS data connection; after PROT C it is closed and the next RETR is 425 without a 150", async () => {
  const ts = await servers.start({ options: { tls: tlsOptions() } });
  const a = random(400_000);
  const up = random(300_000);
  writeFileSync(join(ts.home("alice"), "a.bin"), a);
  const src = join(ts.root, "src.bin");
  writeFileSync(src, up);
  const [gotA, gotUp] = [join(ts.root, "got-a.bin"), join(ts.root, "got-up.bin")];
  const r = await run(["python3", "-c", SCRIPT, String(ts.port), src, gotA, gotUp], { timeoutMs: 30_000 });
  expect(r.stderr).toBe("");
  const out = JSON.parse(r.stdout.trim()) as { replies: string[]; hello: string; closed: boolean };
  expect(out.replies).toEqual(["226", "226", "226", "226", "425"]);
  expect(out.closed).toBe(true);
  expect(out.hello).toBe(readFileSync(join(ts.home("alice"), "hello.txt"), "utf8"));
  expect(readFileSync(gotA).equals(Buffer.from(a))).toBe(true);
  expect(readFileSync(join(ts.home("alice"), "up.bin")).equals(Buffer.from(up))).toBe(true);
  expect(readFileSync(gotUp).equals(Buffer.from(up))).toBe(true);
}, 60_000);
