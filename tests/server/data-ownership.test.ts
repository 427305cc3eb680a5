// A data socket has one owner: the passive or active endpoint that accepted or connected it, until a
// transfer takes it. Measured as an admin would see a hostile client: the server's descriptors (this
// process: the server runs in-process), its connection accounting, and whether a later login works.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { FDS_PER_SESSION } from "../../server/fd-budget.ts";
import { useServers } from "../helpers/server.ts";
import { tlsOptions } from "../tls/helpers.ts";

const servers = useServers();

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Run a Python client (raw sockets, ssl) with a hard deadline; its last stdout line is JSON. */
async function python(script: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const proc = Bun.spawn(["python3", "-c", script], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), timeoutMs);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  if ((await proc.exited) !== 0) throw new Error(`python failed: ${err.slice(-1500)}`);
  return JSON.parse(out.trim().split("\n").pop()!);
}

/** A first session's lazy allocations, then the count an idle server holds. */
async function baselineAfterWarmUp(): Promise<number> {
  const warm = await servers.login();
  warm.close();
  const deadline = Date.now() + 5000;
  while (servers.server.server.gate.count > 0 && Date.now() < deadline) await Bun.sleep(10);
  return openFds();
}

/** Wait (bounded) until the descriptor count is at most `limit`; returns the last count seen. */
async function fdsDownTo(limit: number, withinMs = 5000): Promise<number> {
  const deadline = Date.now() + withinMs;
  while (openFds() > limit && Date.now() < deadline) await Bun.sleep(25);
  return openFds();
}

// A control connection (optionally AUTH TLS + PROT P), and a helper that tells whether the server
// closed a data socket: EOF or reset within `wait` seconds (an idle open socket times out).
const PY_PRELUDE = `
import json, os, re, socket, ssl, time
PID = os.getppid()
def fds(): return len(os.listdir(f"/proc/{PID}/fd"))
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class C:
    def __init__(s, port):
        s.s = socket.create_connection(("127.0.0.1", port), timeout=10); s.buf = b""; s.resp()
    def line(s):
        while b"\\r\\n" not in s.buf:
            d = s.s.recv(65536)
            if not d: raise EOFError(s.buf)
            s.buf += d
        l, s.buf = s.buf.split(b"\\r\\n", 1); return l.decode()
    def resp(s):
        l = s.line()
        if len(l) > 3 and l[3] == "-":
            while not s.line().startswith(l[:3] + " "): pass
        return l
    def cmd(s, c): s.s.sendall(c.encode() + b"\\r\\n"); return s.resp()
    def epsv(s): return int(re.search(r"\\|\\|\\|(\\d+)\\|", s.cmd("EPSV")).group(1))
def closed_by_server(sock, wait=5):
    sock.settimeout(wait)
    try: return sock.recv(10) == b""
    except (socket.timeout, TimeoutError, ssl.SSLWantReadError): return False
    except OSError: return True
`;

describe("passive data connections no transfer uses", () => {
  const cases = [
    { label: "PROT P, TLS handshake completed", tls: true },
    { label: "plain", tls: false },
  ];
  for (const c of cases) {
    test(`${c.label}: the next EPSV, ABOR, QUIT and a hang-up close them; descriptors return to baseline`, async () => {
      const s = await servers.start({ options: { tls: tlsOptions() } });
      const baseline = await baselineAfterWarmUp();
      const r = await python(`${PY_PRELUDE}
N = 40
c = C(${s.port})
if ${c.tls ? "True" : "False"}:
    assert c.cmd("AUTH TLS").startswith("234"); c.s = ctx.wrap_socket(c.s, server_hostname="x")
assert c.cmd("USER alice").startswith("331") and c.cmd("PASS alice-pw").startswith("230")
if ${c.tls ? "True" : "False"}:
    c.cmd("PBSZ 0"); assert c.cmd("PROT P").startswith("200")
def data():
    d = socket.create_connection(("127.0.0.1", c.epsv()), timeout=10)
    return ctx.wrap_socket(d, server_hostname="x") if ${c.tls ? "True" : "False"} else d
held = [data() for i in range(N)]
held_fds = fds()
by_epsv = sum(closed_by_server(d, 0.5) for d in held[:-1])
abor = c.cmd("ABOR")
by_abor = closed_by_server(held[-1])
last = data()
c.cmd("QUIT")
by_quit = closed_by_server(last)
# A client that hangs up without QUIT: the session's end closes it.
c = C(${s.port})
if ${c.tls ? "True" : "False"}:
    c.cmd("AUTH TLS"); c.s = ctx.wrap_socket(c.s, server_hostname="x")
c.cmd("USER alice"); c.cmd("PASS alice-pw")
if ${c.tls ? "True" : "False"}:
    c.cmd("PBSZ 0"); c.cmd("PROT P")
last = data()
c.s.close()
by_hangup = closed_by_server(last)
print(json.dumps({"held_fds": held_fds, "by_epsv": by_epsv, "abor": abor, "by_abor": by_abor, "by_quit": by_quit, "by_hangup": by_hangup}))
`);
      // Before: 40 encrypted ones pinned 40 descriptors, after QUIT too, for as long as the client kept them.
      expect(r.held_fds as number).toBeLessThanOrEqual(baseline + FDS_PER_SESSION);
      expect(r.by_epsv).toBe(39);
      expect(r.abor).toStartWith("225");
      expect(r.by_abor).toBe(true);
      expect(r.by_quit).toBe(true);
      expect(r.by_hangup).toBe(true);
      expect(await fdsDownTo(baseline)).toBeLessThanOrEqual(baseline);
      const later = await servers.login();
      expect((await later.cmd("EPSV")).code).toBe(229);
    }, 60_000);
  }
});
