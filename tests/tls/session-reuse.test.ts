// --tls-session-reuse required: a PROT P data connection must resume *its own* control connection's
// TLS session (vsftpd's require_ssl_reuse), not any session the server ever issued.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { run, tempDir, tlsOptions } from "./helpers.ts";

let srv: TestServer | null = null;
let work: string | null = null;

afterEach(async () => {
  await srv?.stop();
  srv = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = null;
});

/**
 * Two control sessions A and B (both alice). B lists with its data connection offering the session
 * of `offer` ("A": the other control connection's, "B": its own). Prints what the data connection saw.
 */
const SCRIPT = `
import json, re, socket, ssl, sys
port, offer, version = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if version == "1.2": ctx.maximum_version = ssl.TLSVersion.TLSv1_2
def control():
    s = socket.create_connection(("127.0.0.1", port), timeout=10); f = s.makefile("rb"); f.readline()
    s.sendall(b"AUTH TLS\\r\\n"); f.readline()
    t = ctx.wrap_socket(s, server_hostname="localhost"); tf = t.makefile("rb")
    def cmd(c):
        t.sendall(c.encode() + b"\\r\\n"); return tf.readline().decode().strip()
    for c in ["PBSZ 0", "PROT P", "USER alice", "PASS alice-pw", "TYPE I"]: cmd(c)
    return t, tf, cmd
a, _, _ = control()
b, bf, bcmd = control()
session = (a if offer == "A" else b).session
dport = int(re.search(r"\\|\\|\\|(\\d+)\\|", bcmd("EPSV")).group(1))
b.sendall(b"LIST\\r\\n")
d = socket.create_connection(("127.0.0.1", dport), timeout=10)
first = bf.readline().decode().strip()
reused, data = None, b""
try:
    td = ctx.wrap_socket(d, server_hostname="localhost", session=session)
    reused = td.session_reused
    while True:
        chunk = td.recv(65536)
        if not chunk: break
        data += chunk
except (ssl.SSLError, OSError) as e:
    pass
final = bf.readline().decode().strip()
print(json.dumps({"first": first, "reused": reused, "listed": len(data), "final": final}))
`;

async function crossSession(offer: "A" | "B", version: "1.2" | "1.3") {
  srv = await startTestServer({ options: { tls: tlsOptions({ sessionReuse: "required" }) } });
  work = tempDir();
  writeFileSync(join(srv.home("alice"), "listed.txt"), "x");
  const script = join(work, "cross.py");
  writeFileSync(script, SCRIPT);
  const r = await run(["python3", script, String(srv.port), offer, version], { cwd: work, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr.slice(-500)}`);
  return JSON.parse(r.stdout.trim()) as { first: string; reused: boolean | null; listed: number; final: string };
}

describe("--tls-session-reuse required", () => {
  for (const version of ["1.3", "1.2"] as const) {
    test(`TLS ${version}: a data connection resuming another control connection's session is refused with 522, no listing sent`, async () => {
      const out = await crossSession("A", version);
      expect(out.reused).not.toBe(true);
      expect(out.listed).toBe(0);
      expect(out.final).toMatch(/^522 .*session reuse required/);
    }, 25_000);

    test(`TLS ${version}: a data connection resuming its own control connection's session is served`, async () => {
      const out = await crossSession("B", version);
      expect(out.reused).toBe(true);
      expect(out.listed).toBeGreaterThan(0);
      expect(out.final).toMatch(/^226 /);
    }, 25_000);
  }
});
