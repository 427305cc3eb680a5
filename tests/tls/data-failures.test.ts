// A client's own TLS failure on a data connection ends its transfer as "aborted", as a hang-up does:
// "error" (ftpkit_transfers_total{result="error"}) is kept for the server's and the storage's failures.
import { afterEach, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/peers.ts";
import { captureLogger, pythonTlsLogin, run, tempDir, tlsOptions } from "./helpers.ts";

let srv: TestServer | null = null;
let work: string | null = null;

afterEach(async () => {
  await srv?.stop();
  srv = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = null;
});

/**
 * Python: alice over AUTH TLS under PROT P (control certificate not checked), EPSV, RETR hello.txt,
 * then a data connection that either never starts its handshake ("silent") or checks the server's
 * self-signed certificate and so ends the handshake with an alert ("alert"); prints RETR's replies.
 */
const SCRIPT = `
import json, re, socket, ssl, sys
port, mode = int(sys.argv[1]), sys.argv[2]
${pythonTlsLogin("alice", "alice-pw", [], 15)}
dport = int(re.search(r"\\|\\|\\|(\\d+)\\|", cmd("EPSV")).group(1))
d = socket.create_connection(("127.0.0.1", dport), timeout=15)
first = cmd("RETR hello.txt")
if mode == "alert":
    try: ssl.create_default_context().wrap_socket(d, server_hostname="localhost")
    except ssl.SSLError: pass
final = tf.readline().decode().strip()
d.close()
print(json.dumps({"first": first[:3], "final": final, "quit": cmd("QUIT")[:3]}))
`;

async function retrWith(mode: "silent" | "alert"): Promise<{ first: string; final: string; quit: string }> {
  work = tempDir();
  const script = join(work, "data-tls.py");
  writeFileSync(script, SCRIPT);
  const r = await run(["python3", script, String(srv!.port), mode], { cwd: work, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr.slice(-500)}`);
  return JSON.parse(r.stdout.trim());
}

const cases = [
  ["silent", "a data connection whose TLS handshake never starts: 425 after the data timeout", "425 Can't open data connection: TLS handshake timed out"],
  ["alert", "a client that refuses the server's certificate on the data connection (its alert ends the handshake): 522", "522 SSL connection failed: TLS handshake on the data connection failed"],
] as const;

for (const [mode, what, final] of cases) {
  test(`${what}, and the transfer is logged and counted as aborted, not as a server error`, async () => {
    const logger = captureLogger();
    srv = await startTestServer({ options: { tls: tlsOptions(), logger, dataTimeoutMs: 1500 } });
    expect(await retrWith(mode)).toEqual({ first: "150", final, quit: "221" });
    await waitFor(() => logger.events.some((e) => e.event === "transfer"), 5000, "the transfer's log line");
    // Before: result "error", as a failing disk's is (an alert on ftpkit_transfers_total{result="error"} fired).
    expect(logger.events.find((e) => e.event === "transfer")!.fields).toMatchObject({ verb: "RETR", result: "aborted" });
  }, 30_000);
}
