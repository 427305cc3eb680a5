// Python ftplib edge cases from issue 10: names in another encoding, FTP_TLS.prot_c(), a TLS data
// connection dropped after a 550.
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir, waitFor } from "../helpers/peers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { captureLogger, tlsOptions } from "../tls/helpers.ts";
import { run } from "./run.ts";

let ts: TestServer | null = null;
let local: string | null = null;

afterEach(async () => {
  await ts?.stop();
  ts = null;
  if (local) removeDir(local);
  local = null;
});

async function py(script: string, port: number): Promise<Record<string, unknown>> {
  local ??= tempDir("ftpkit-ftplib-");
  const file = join(local, "script.py");
  writeFileSync(file, `import ftplib, io, json, ssl, sys\nport = int(sys.argv[1])\nout = {}\n${script}\nprint(json.dumps(out))\n`);
  const r = await run(["python3", file, String(port)], { cwd: local, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`python exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
}

test("a Latin-1 client storing café.txt and cafè.txt gets 553 twice; no file is created or overwritten", async () => {
  ts = await startTestServer();
  const before = readdirSync(ts.home("alice")).sort();
  const out = await py(
    `
ftp = ftplib.FTP(encoding="latin-1", timeout=10)
ftp.connect("127.0.0.1", port)
ftp.login("alice", "alice-pw")
for name in ["caf\\u00e9.txt", "caf\\u00e8.txt"]:
    try:
        out[name] = ftp.storbinary("STOR " + name, io.BytesIO(name.encode("utf-8")))
    except ftplib.all_errors as e:
        out[name] = str(e)
ftp.quit()
`,
    ts.port,
  );
  expect(String(out["café.txt"])).toStartWith("553");
  expect(String(out["cafè.txt"])).toStartWith("553");
  expect(readdirSync(ts.home("alice")).sort()).toEqual(before);
});

test("FTP_TLS.prot_c() without PBSZ is accepted, and a clear listing then works", async () => {
  ts = await startTestServer({ options: { tls: tlsOptions() } });
  const out = await py(
    `
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=10)
f.connect("127.0.0.1", port)
f.login("alice", "alice-pw")
out["prot_c"] = f.prot_c()
out["names"] = f.nlst()
f.quit()
`,
    ts.port,
  );
  expect(String(out.prot_c)).toStartWith("200");
  expect(out.names).toContain("hello.txt");
});

test("a PROT P client whose RETR gets 550 drops its data connection without a TLS warning in the log", async () => {
  const logger = captureLogger();
  ts = await startTestServer({ options: { tls: tlsOptions(), logger } });
  const out = await py(
    `
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=10)
f.connect("127.0.0.1", port)
f.login("alice", "alice-pw")
f.prot_p()
try:
    f.retrbinary("RETR missing.bin", lambda b: None)
except ftplib.all_errors as e:
    out["retr"] = str(e)
out["ok"] = f.retrbinary("RETR hello.txt", lambda b: None)
f.quit()
`,
    ts.port,
  );
  expect(String(out.retr)).toStartWith("550");
  expect(String(out.ok)).toStartWith("226");
  // The dropped socket closed long before QUIT; wait for the session's end to be logged.
  await waitFor(() => logger.events.some((e) => e.event === "session end"), 5000, "session end");
  expect(logger.events.filter((e) => e.event.startsWith("tls"))).toEqual([]);
});

test("storlines stores LF line ends; a RETR in TYPE A arrives with CRLF; retrbinary gets the stored bytes", async () => {
  ts = await startTestServer();
  const out = await py(
    `
ftp = ftplib.FTP(encoding="utf-8", timeout=10)
ftp.connect("127.0.0.1", port)
ftp.login("alice", "alice-pw")
out["stor"] = ftp.storlines("STOR lines.txt", io.BytesIO(b"one\\ntwo\\n"))
lines = []
ftp.retrlines("RETR lines.txt", lines.append)
out["lines"] = lines
ftp.voidcmd("TYPE A")
conn = ftp.transfercmd("RETR lines.txt")
wire = b""
while True:
    chunk = conn.recv(65536)
    if not chunk: break
    wire += chunk
conn.close()
ftp.voidresp()
out["wire"] = wire.decode()
buf = io.BytesIO()
ftp.retrbinary("RETR lines.txt", buf.write)
out["binary"] = buf.getvalue().decode()
ftp.quit()
`,
    ts.port,
  );
  expect(String(out.stor)).toStartWith("226");
  expect(readFileSync(join(ts.home("alice"), "lines.txt"), "utf8")).toBe("one\ntwo\n");
  expect(out.lines).toEqual(["one", "two"]);
  expect(out.wire).toBe("one\r\ntwo\r\n");
  expect(out.binary).toBe("one\ntwo\n");
});
