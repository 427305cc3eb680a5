// A connection the client resets while it still waits in the kernel's accept queue (the server was
// busy, here: stopped) reaches the server without a peer address. Each listener must shrug it off:
// the control and implicit-FTPS listeners serve the next client (the implicit one crashed the whole
// server), and a transfer waiting for its passive data connection ends at once instead of at the
// 30 s accept timeout.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";
import { removeDir, tempDir, waitFor } from "../helpers/peers.ts";
import { CERT, KEY, pythonTlsLogin, run } from "../tls/helpers.ts";

const FTPS_LISTENING = /listening on ftps:\/\/[^\s:]+:(\d+)/;
let serve: ServeProcess | null = null;
let root: string | null = null;

afterEach(async () => {
  await serve?.kill(); // SIGKILL ends a stopped process too
  if (root) removeDir(root);
  serve = null;
  root = null;
});

/** Connect to 127.0.0.1:`port`, send `bytes` (if any), then reset the connection (SO_LINGER 0), in Python. */
async function connectSendReset(port: number, bytes: number): Promise<void> {
  const py = `
import socket, struct
s = socket.create_connection(("127.0.0.1", ${port}), timeout=10)
s.sendall(b"x" * ${bytes})
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`;
  const proc = Bun.spawn(["python3", "-c", py], { stdout: "ignore", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const code = await proc.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`python: ${await new Response(proc.stderr).text()}`);
}

/** Run `resets` while the server is stopped, so their connections wait (and die) in its accept queue. */
async function whileStopped(s: ServeProcess, resets: () => Promise<void>): Promise<void> {
  process.kill(s.proc.pid, "SIGSTOP");
  try {
    await resets();
  } finally {
    process.kill(s.proc.pid, "SIGCONT");
  }
}

describe("connections reset in the accept queue", () => {
  test("a STOR waiting for its passive data connection ends at once with 426, creates nothing, and the session goes on", async () => {
    root = tempDir("ftpkit-reset-accept-");
    serve = await spawnServe(["--root", root, "--user", "u:pw", "--write"], { cwd: root });
    const w = await Wire.connect(serve.port);
    await w.login("u", "pw");
    expect((await w.cmd("TYPE I")).code).toBe(200);
    const port = parseEpsvReply((await w.cmd("EPSV")).lines.join(" "));
    await whileStopped(serve, async () => {
      w.raw("STOR up.bin\r\n");
      await connectSendReset(port, 20_000);
    });
    // Before the fix the 150 came, then nothing until the accept timeout (30 s).
    const codes = [(await w.read(10_000))!.code];
    if (codes[0]! < 200) codes.push((await w.read(10_000))!.code);
    expect(codes).toEqual([150, 426]);
    expect(existsSync(join(root, "up.bin"))).toBe(false);
    expect((await w.cmd("NOOP")).code).toBe(200);
  }, 60_000);

  test("under PROT P, a STOR whose data connection is reset in the accept queue ends with 425 (closed during TLS setup), counted aborted", async () => {
    root = tempDir("ftpkit-reset-accept-");
    serve = await spawnServe(["--root", root, "--user", "u:pw", "--write", "--tls-cert", CERT, "--tls-key", KEY], { cwd: root });
    // Python holds the server (SIGSTOP) while it sends STOR and connects and resets the data connection.
    const py = `
import json, os, re, signal, socket, ssl, struct, sys
port, pid = int(sys.argv[1]), int(sys.argv[2])
${pythonTlsLogin("u", "pw", ["TYPE I"])}
dport = int(re.search(r"\\|\\|\\|(\\d+)\\|", cmd("EPSV")).group(1))
os.kill(pid, signal.SIGSTOP)
try:
    t.sendall(b"STOR tls.bin\\r\\n")
    d = socket.create_connection(("127.0.0.1", dport), timeout=10)
    d.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); d.close()
finally:
    os.kill(pid, signal.SIGCONT)
codes = [tf.readline().decode()[:3]]
if codes[0].startswith("1"): codes.append(tf.readline().decode()[:3])
print(json.dumps({"codes": codes, "noop": cmd("NOOP")[:3]}))
`;
    const r = await run(["python3", "-c", py, String(serve.port), String(serve.proc.pid)], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr.slice(-500)}`);
    const out = JSON.parse(r.stdout.trim()) as { codes: string[]; noop: string };
    // Before: 426, where a reset the server saw before the handshake gives 425 (tls/refusal-log).
    expect(out.codes.at(-1)).toBe("425");
    expect(out.noop).toBe("200");
    expect(existsSync(join(root, "tls.bin"))).toBe(false);
    await waitFor(() => /transfer.*STOR/.test(serve!.stdout() + serve!.stderr()), 5000, "the transfer's log line");
    const line = (serve.stdout() + serve.stderr()).split("\n").find((l) => /transfer.*STOR/.test(l))!;
    expect(line).toContain("aborted");
  }, 60_000);

  test("the control and implicit-FTPS listeners keep serving: the server stays up and the next clients log in", async () => {
    root = tempDir("ftpkit-reset-accept-");
    serve = await spawnServe(["--root", root, "--user", "u:pw", "--tls-cert", CERT, "--tls-key", KEY, "--implicit-tls-port", "0"], { cwd: root, alsoWaitFor: FTPS_LISTENING });
    const implicit = Number(FTPS_LISTENING.exec(serve.stdout() + serve.stderr())?.[1]);
    expect(implicit).toBeGreaterThan(0);
    await whileStopped(serve, async () => {
      await connectSendReset(serve!.port, 0);
      await connectSendReset(implicit, 0);
    });
    const w = await Wire.connect(serve.port);
    expect((await w.login("u", "pw")).code).toBe(230);
    const r = await run(["curl", "-sS", "-k", "--max-time", "10", `ftps://u:pw@127.0.0.1:${implicit}/`]);
    expect(r.code).toBe(0);
    expect(serve.proc.exitCode).toBeNull();
  }, 60_000);
});
