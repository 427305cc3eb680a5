// Refused TLS data connections are logged at a rate the server sets: a client that opens many that
// fail their handshake gets one line for the first and a count for the rest, not a line each.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Session } from "../../server/session.ts";
import { DataRefusalLog } from "../../server/tls/refusal-log.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { captureLogger, pythonTlsLogin, run, tempDir, tlsOptions } from "./helpers.ts";
import { waitFor } from "../helpers/peers.ts";

let srv: TestServer | null = null;
let work: string | null = null;

afterEach(async () => {
  await srv?.stop();
  srv = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = null;
});

const TLS_LOGIN = pythonTlsLogin();

/** One TLS control session under PROT P: N times EPSV, LIST and a data connection that sends plain text instead of a handshake; then QUIT. */
const SCRIPT = `
import json, re, socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
${TLS_LOGIN}
finals = []
for i in range(n):
    dport = int(re.search(r"\\|\\|\\|(\\d+)\\|", cmd("EPSV")).group(1))
    first = cmd("LIST")
    d = socket.create_connection(("127.0.0.1", dport), timeout=10)
    d.sendall(b"this is not a TLS handshake\\r\\n" * 4)
    finals.append(tf.readline().decode().strip()[:3])
    d.close()
print(json.dumps({"finals": finals, "quit": cmd("QUIT")[:3]}))
`;

describe("refused TLS data connections in the log", () => {
  test("20 refused in one session: one line for the first, one line counting the other 19 at the session's end", async () => {
    const logger = captureLogger();
    srv = await startTestServer({ options: { tls: tlsOptions(), logger } });
    work = tempDir();
    const script = join(work, "refused.py");
    writeFileSync(script, SCRIPT);
    const r = await run(["python3", script, String(srv.port), "20"], { cwd: work, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr.slice(-500)}`);
    const out = JSON.parse(r.stdout.trim()) as { finals: string[]; quit: string };
    expect(out.finals).toEqual(Array(20).fill("522"));
    expect(out.quit).toBe("221");
    const deadline = Date.now() + 5000;
    while (!logger.events.some((e) => e.event === "session end") && Date.now() < deadline) await Bun.sleep(20);
    const lines = logger.events.filter((e) => e.event.startsWith("tls data connection"));
    expect(lines.map((e) => e.event)).toEqual(["tls data connection refused", "tls data connections refused"]);
    expect(lines[0]!.fields.ip).toBe("127.0.0.1");
    expect(String(lines[0]!.fields.reason)).toContain("SSL connection failed");
    expect(lines[1]!.fields.count).toBe(19);
    expect(lines[1]!.fields.session).toBe(lines[0]!.fields.session);
    // The summary comes before the session's own end line.
    const names = logger.events.map((e) => e.event);
    expect(names.indexOf("tls data connections refused")).toBeLessThan(names.indexOf("session end"));
  }, 40_000);
});

describe("DataRefusalLog", () => {
  const fakeSession = (id: number) => {
    const gone = new AbortController();
    return { session: { id, gone: gone.signal } as unknown as Session, end: () => gone.abort() };
  };

  test("the first refusal is logged at once, later ones summed at most once per interval, the rest at the session's end", async () => {
    const logger = captureLogger();
    const refusals = new DataRefusalLog(() => logger, 100);
    const a = fakeSession(1);
    const b = fakeSession(2);
    refusals.refused(a.session, "10.0.0.1", "handshake failed");
    refusals.refused(b.session, "10.0.0.2", "handshake failed");
    for (let i = 0; i < 49; i++) refusals.refused(a.session, "10.0.0.1", "handshake failed");
    refusals.refused(a.session, "10.0.0.1", "session reuse required");
    expect(logger.events.map((e) => [e.event, e.fields.session])).toEqual([
      ["tls data connection refused", 1],
      ["tls data connection refused", 2],
    ]);
    await waitFor(() => logger.events.length > 2, 2000, "the summary");
    expect(logger.events[2]).toMatchObject({
      event: "tls data connections refused",
      fields: { session: 1, ip: "10.0.0.1", count: 50, reason: "session reuse required" },
    });
    refusals.refused(a.session, "10.0.0.1", "handshake failed");
    a.end();
    b.end(); // nothing after its first: no summary
    expect(logger.events.slice(3).map((e) => [e.event, e.fields.session, e.fields.count])).toEqual([["tls data connections refused", 1, 1]]);
  });

  test("a count is logged by itself an interval after the line before it, with no refusal after it and the session still open; its end adds nothing then", async () => {
    const logger = captureLogger();
    const refusals = new DataRefusalLog(() => logger, 200);
    const a = fakeSession(1);
    const started = Date.now();
    refusals.refused(a.session, "10.0.0.1", "handshake failed");
    refusals.refused(a.session, "10.0.0.1", "handshake failed");
    refusals.refused(a.session, "10.0.0.1", "handshake failed");
    // Before: the count waited for the next refusal or the session's end.
    await waitFor(() => logger.events.length > 1, 2000, "the summary");
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(logger.events.map((e) => [e.event, e.fields.count])).toEqual([
      ["tls data connection refused", undefined],
      ["tls data connections refused", 2],
    ]);
    await Bun.sleep(300); // another interval: no line without a new refusal
    a.end();
    expect(logger.events).toHaveLength(2);
  });
});

/** Under PROT P: EPSV, STOR, a data connection reset before its ClientHello; prints the STOR's replies. */
const RESET_SCRIPT = `
import json, re, socket, ssl, struct, sys
port = int(sys.argv[1])
${TLS_LOGIN}
dport = int(re.search(r"\\|\\|\\|(\\d+)\\|", cmd("EPSV")).group(1))
d = socket.create_connection(("127.0.0.1", dport), timeout=10)
first = cmd("STOR tls.bin")
d.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); d.close()
final = tf.readline().decode().strip()
print(json.dumps({"first": first[:3], "final": final[:3], "quit": cmd("QUIT")[:3]}))
`;

test("a data connection the client resets before its TLS handshake ends the transfer as aborted (425), not as a server error", async () => {
  const logger = captureLogger();
  srv = await startTestServer({ options: { tls: tlsOptions(), logger } });
  work = tempDir();
  const script = join(work, "reset.py");
  writeFileSync(script, RESET_SCRIPT);
  const r = await run(["python3", script, String(srv.port)], { cwd: work, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr.slice(-500)}`);
  expect(JSON.parse(r.stdout.trim())).toEqual({ first: "150", final: "425", quit: "221" });
  await waitFor(() => logger.events.some((e) => e.event === "transfer"), 5000, "the transfer's log line");
  // Before: result "error", as a failing disk is (ftpkit_transfers_total{result="error"} alerts fired).
  expect(logger.events.find((e) => e.event === "transfer")!.fields).toMatchObject({ verb: "STOR", result: "aborted" });
}, 30_000);
