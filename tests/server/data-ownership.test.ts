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

/**
 * A Python process driven line by line: `next()` reads its next stdout line, `send()` writes one to
 * its stdin. Killed by its PID when the test ends or overruns.
 */
function pythonProcess(script: string, timeoutMs = 60_000) {
  const proc = Bun.spawn(["python3", "-c", script], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill(9), timeoutMs);
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  return {
    async next(): Promise<string> {
      while (!buf.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("python ended early");
        buf += decoder.decode(value);
      }
      const nl = buf.indexOf("\n");
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      return line;
    },
    send(line: string): void {
      proc.stdin.write(line + "\n");
      proc.stdin.flush();
    },
    stop(): void {
      clearTimeout(timer);
      proc.kill(9);
    },
  };
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

// A listener with backlog 0 whose queue is full: the kernel drops further SYNs, so a connect to it
// stays in SYN-SENT. On "drain" it accepts what comes (the retried SYNs then get through); on
// "report" it says how many accepted connections their peer cut at once (the fill sockets stay open).
const BLACKHOLE = `
import json, socket, sys, threading, time
bh = socket.socket(); bh.bind(("127.0.0.1", 0)); bh.listen(0)
fill = []
for i in range(3):
    f = socket.socket(); f.setblocking(False)
    try: f.connect(bh.getsockname())
    except BlockingIOError: pass
    fill.append(f)
time.sleep(0.3)
print(bh.getsockname()[1], flush=True)
sys.stdin.readline()
accepted = []
def accept():
    while True: accepted.append(bh.accept()[0])
threading.Thread(target=accept, daemon=True).start()
sys.stdin.readline()
def cut_by_peer(a):
    a.settimeout(0.1)
    try: return a.recv(10) == b""
    except socket.timeout: return False
    except OSError: return True
cut, seen, end = 0, 0, time.time() + 3   # the accept thread may not have taken it yet
while not cut and time.time() < end:
    cut += sum(cut_by_peer(a) for a in accepted[seen:]); seen = len(accepted)
    time.sleep(0.05)
print(json.dumps({"accepted": len(accepted), "cut": cut}), flush=True)
`;

describe("active connects to a port that drops SYNs", () => {
  test("PORT + LIST + ABOR, 100 rounds: one connect in flight at most, each cancelled at ABOR or its deadline (descriptor and slot back at once)", async () => {
    const s = await servers.start({ options: { dataTimeoutMs: 1500 } });
    const blackhole = pythonProcess(BLACKHOLE);
    try {
      const bp = Number(await blackhole.next());
      const baseline = await baselineAfterWarmUp(); // its pipes to the blackhole process included
      const r = await python(`${PY_PRELUDE}
c = C(${s.port})
assert c.cmd("USER alice").startswith("331") and c.cmd("PASS alice-pw").startswith("230")
codes = set(); peak = 0
for i in range(100):
    assert c.cmd("EPRT |1|127.0.0.1|${bp}|").startswith("200")
    first = c.cmd("LIST"); assert first.startswith("150"), first
    c.s.sendall(b"ABOR\\r\\n"); codes.add((c.resp()[:3], c.resp()[:3]))
    peak = max(peak, fds())
# A LIST while the abandoned connect is still in flight does not start another: 425 at its deadline.
c.cmd("EPRT |1|127.0.0.1|${bp}|"); c.cmd("LIST"); late = c.resp()
c.cmd("QUIT")
print(json.dumps({"codes": sorted(codes), "peak": peak, "late": late}))
`);
      expect(r.codes).toEqual([["426", "226"]]);
      // Before 3daa50c: each round left a socket in SYN-SENT for ~2 minutes (300 rounds, 300 descriptors).
      expect(r.peak as number).toBeLessThanOrEqual(baseline + FDS_PER_SESSION);
      expect(r.late).toStartWith("425");
      // Every abandoned connect was cancelled, its descriptor closed at ABOR or at its deadline: once
      // the client is gone nothing is left, and the session's slot is free at once. Before (Bun.connect
      // cannot cancel), one connect stayed in SYN-SENT until the kernel gave up (~2 minutes), holding
      // a descriptor and the slot.
      expect(await fdsDownTo(baseline)).toBeLessThanOrEqual(baseline);
      const freed = Date.now() + 2000;
      while (s.server.gate.count > 0 && Date.now() < freed) await Bun.sleep(20);
      expect(s.server.gate.count).toBe(0);
      // The port takes connections again: no SYN of the server's is still being retried, so nothing
      // connects late (before, the retried SYN got through and the server had to cut that socket).
      blackhole.send("drain");
      blackhole.send("report");
      expect(JSON.parse(await blackhole.next()).cut).toBe(0);
    } finally {
      blackhole.stop();
    }
    const later = await servers.login();
    expect((await later.cmd("PWD")).code).toBe(257);
  }, 60_000);
});
