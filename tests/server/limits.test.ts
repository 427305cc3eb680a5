// Operational limits of the server: connection caps, idle timeout, line cap, hostile input,
// FTP bounce (RFC 2577), data-connection theft, failed-login back-off and graceful shutdown.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { FD_HEADROOM, FDS_PER_SESSION } from "../../server/fd-budget.ts";
import { METRICS_MAX_CONNECTIONS } from "../../server/ops/metrics-http.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { slotComesBack, Wire } from "../helpers/wire.ts";
import { waitFor } from "../helpers/peers.ts";

let ts: TestServer | null = null;
let wires: Wire[] = [];
let serve: ServeProcess | null = null;

afterEach(async () => {
  for (const w of wires) w.close();
  wires = [];
  await serve?.kill();
  serve = null;
  await ts?.stop();
  ts = null;
});

async function wire(port = ts!.port): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  return w;
}

async function loggedIn(port = ts!.port): Promise<Wire> {
  const w = await wire(port);
  const r = await w.login("alice", "alice-pw");
  expect(r.code).toBe(230);
  return w;
}

/** Wait until the server closes `w`, skipping replies; returns the codes seen. */
async function untilClosed(w: Wire, timeoutMs = 5000): Promise<number[]> {
  const codes: number[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await w.read(Math.max(1, deadline - Date.now()));
    if (!r) return codes;
    codes.push(r.code);
  }
}

describe("connection limits", () => {
  test("under an open-file limit of 96, serve lowers max-connections to what fits and logs it; every admitted session downloads at once; one more gets 421", async () => {
    ts = await startTestServer();
    await ts.server.close(0);
    const size = 4 << 20;
    writeFileSync(join(ts.home("alice"), "four.bin"), Buffer.alloc(size, 7));
    serve = await spawnServe(["--users", ts.usersFile], { cwd: ts.root, fdLimit: 96 });
    const lowered = /max-connections lowered to fit the open-file limit max_connections=500 allowed=(\d+) open_file_limit=96/;
    const deadline = Date.now() + 5000;
    while (!lowered.test(serve.stdout() + serve.stderr()) && Date.now() < deadline) await Bun.sleep(20);
    const allowed = Number(lowered.exec(serve.stdout() + serve.stderr())?.[1]);
    expect(allowed).toBeGreaterThan(0);
    expect(allowed * FDS_PER_SESSION + FD_HEADROOM).toBeLessThanOrEqual(96);
    const sessions: Wire[] = [];
    for (let i = 0; i < allowed; i++) sessions.push(await loggedIn(serve.port));
    const extra = await wire(serve.port);
    expect((await extra.read())?.code).toBe(421);
    const results = await Promise.all(sessions.map((w) => w.transfer("RETR four.bin")));
    for (const r of results) {
      expect(r.final?.code).toBe(226);
      expect(r.data.length).toBe(size);
    }
    sessions[0]!.close();
    expect(await slotComesBack(serve.port, 5000)).toBe(true);
  }, 30_000);

  test("with --metrics, the sessions allowed under an open-file limit leave room for every connection the metrics endpoint may hold, and the log says how many", async () => {
    ts = await startTestServer();
    await ts.server.close(0);
    serve = await spawnServe(["--users", ts.usersFile, "--metrics", "127.0.0.1:0"], { cwd: ts.root, fdLimit: 160 });
    const lowered = /max-connections lowered to fit the open-file limit max_connections=500 allowed=(\d+) open_file_limit=160 per_session=\d+ metrics_connections=(\d+)/;
    const deadline = Date.now() + 5000;
    while (!lowered.test(serve.stdout() + serve.stderr()) && Date.now() < deadline) await Bun.sleep(20);
    const m = lowered.exec(serve.stdout() + serve.stderr());
    expect(m).not.toBeNull();
    const allowed = Number(m![1]);
    expect(Number(m![2])).toBe(METRICS_MAX_CONNECTIONS);
    expect(allowed).toBeGreaterThan(0);
    expect(allowed * FDS_PER_SESSION + FD_HEADROOM + METRICS_MAX_CONNECTIONS).toBeLessThanOrEqual(160);
  }, 30_000);

  test("a connection over --max-connections gets 421 and is closed", async () => {
    ts = await startTestServer({ options: { maxConnections: 2 } });
    const a = await wire();
    const b = await wire();
    expect((await a.read())?.code).toBe(220);
    expect((await b.read())?.code).toBe(220);
    const c = await wire();
    expect((await c.read())?.code).toBe(421);
    expect(await c.read()).toBeNull();
    // A freed slot is usable again.
    a.close();
    await waitFor(() => ts!.server.gate.count < 2, 10_000, "the server to see the first connection close");
    const d = await wire();
    expect((await d.read())?.code).toBe(220);
  }, 15_000);

  test("a connection over --max-per-ip gets 421", async () => {
    ts = await startTestServer({ options: { maxPerIp: 1 } });
    const a = await wire();
    expect((await a.read())?.code).toBe(220);
    const b = await wire();
    const r = await b.read();
    expect(r?.code).toBe(421);
    expect(r?.lines.join(" ")).toContain("your address");
    expect(await b.read()).toBeNull();
    expect((await a.cmd("NOOP")).code).toBe(200);
  }, 15_000);
});

describe("idle timeout", () => {
  test("an idle session gets 421 and is closed", async () => {
    ts = await startTestServer({ options: { idleTimeoutSec: 1 } });
    const w = await loggedIn();
    const started = Date.now();
    expect(await untilClosed(w, 5000)).toEqual([421]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  }, 15_000);

  test("a HASH that works longer than the idle timeout is answered, and the idle time counts from its reply", async () => {
    const data = crypto.getRandomValues(new Uint8Array(300_000));
    ts = await startTestServer({
      // 300 KB at 100 KB/s: the digest takes ~3 s, three times the idle timeout.
      options: { idleTimeoutSec: 1, hashBytesPerSec: 100_000 },
      setup: (root) => writeFileSync(join(root, "home/alice/big.bin"), data),
    });
    const w = await loggedIn();
    const started = Date.now();
    const hash = await w.cmd("HASH big.bin", 15_000);
    expect(hash.code).toBe(213);
    expect(hash.lines.at(-1)).toContain(new Bun.CryptoHasher("sha256").update(data).digest("hex"));
    expect(Date.now() - started).toBeGreaterThan(1500);
    const replied = Date.now();
    expect(await untilClosed(w, 5000)).toEqual([421]);
    expect(Date.now() - replied).toBeGreaterThanOrEqual(900);
  }, 20_000);

  test("a rate-limited download longer than the idle timeout completes", async () => {
    const size = 300_000;
    const data = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
    ts = await startTestServer({
      options: { idleTimeoutSec: 1, maxRate: 100_000 },
      setup: (root) => writeFileSync(join(root, "home/alice/slow.bin"), data),
    });
    const w = await loggedIn();
    await w.cmd("TYPE I");
    const started = Date.now();
    const { first, final, data: got } = await w.transfer("RETR slow.bin");
    expect(first.code).toBe(150);
    expect(final?.code).toBe(226);
    expect(Date.now() - started).toBeGreaterThan(1500);
    expect(got.length).toBe(size);
    expect(Buffer.compare(got, Buffer.from(data))).toBe(0);
    // Idle again afterwards: now the timeout applies.
    expect(await untilClosed(w, 5000)).toEqual([421]);
  }, 20_000);
  test("a rate-limited upload longer than the idle timeout completes", async () => {
    const size = 300_000;
    const data = new Uint8Array(size).map((_, i) => (i * 11) & 0xff);
    ts = await startTestServer({ options: { idleTimeoutSec: 1, maxRate: 100_000 } });
    const w = await loggedIn();
    await w.cmd("TYPE I");
    const started = Date.now();
    const { first, final } = await w.transfer("STOR up.bin", data);
    expect(first.code).toBe(150);
    if (final === null) throw new Error("no final reply");
    expect(final.code).toBe(226);
    expect(Date.now() - started).toBeGreaterThan(1500);
    expect(Buffer.compare(Buffer.from(await Bun.file(join(ts.home("alice"), "up.bin")).arrayBuffer()), Buffer.from(data))).toBe(0);
  }, 20_000);
});

describe("command line cap", () => {
  test("a line longer than 4096 bytes gets 500 and the session goes on", async () => {
    ts = await startTestServer();
    const w = await loggedIn();
    const r = await w.cmd(`CWD ${"a".repeat(5000)}`);
    expect(r.code).toBe(500);
    expect((await w.cmd("PWD")).code).toBe(257);
    // Exactly at the cap is still a line (and just a name too long for the filesystem: 553, not 500).
    const atCap = await w.cmd(`CWD ${"b".repeat(4096 - 5)}`);
    expect(atCap.code).toBe(553);
  });

  test("an over-long line pipelined between two commands in one write gets its 500 in its own turn", async () => {
    ts = await startTestServer();
    const w = await loggedIn();
    // Before: 500 first (read as PWD's reply), then 257 (read as the MKD's: a directory not made).
    w.raw(`PWD\r\nMKD ${"x".repeat(5000)}\r\nSYST\r\n`);
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await w.read(10_000))?.code);
    expect(codes).toEqual([257, 500, 215]);
  });

  test("a 16 MB line without a newline gets one 500 and is not buffered", async () => {
    ts = await startTestServer();
    const w = await loggedIn();
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    const chunk = new Uint8Array(64 * 1024).fill(0x41);
    // Sent in pieces, waiting between them, so the kernel buffers never hold it all.
    for (let i = 0; i < 256; i++) {
      w.raw(chunk);
      if (i % 16 === 15) await Bun.sleep(5);
    }
    const r = await w.read(10_000);
    expect(r?.code).toBe(500);
    await Bun.sleep(200);
    Bun.gc(true);
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(8 * 1024 * 1024);
    // The end of the over-long line, then a normal command.
    w.raw("\r\n");
    expect((await w.cmd("NOOP")).code).toBe(200);
  }, 30_000);
});

describe("hostile input", () => {
  const cases: [string, Uint8Array | string, number][] = [
    ["binary bytes", new Uint8Array([0x01, 0x02, 0x80, 0xfe, 0x0d, 0x0a]), 500],
    ["a NUL byte", "NOOP\0x\r\n", 500],
    ["a lone CR inside a line", "NO\rOP\r\n", 500],
    ["an empty line", "\r\n", 500],
    ["a bare LF line", "\n", 500],
    ["three-letter junk", "XYZ\r\n", 500],
    ["a five-letter verb", "ABCDE\r\n", 500],
    ["digits as a verb", "1234\r\n", 500],
    ["TELNET IAC junk", new Uint8Array([0xff, 0xfb, 0x01, 0x51, 0x51, 0x51, 0x0d, 0x0a]), 500],
    ["TELNET IP/DM before NOOP (RFC 959 §4.1.3)", new Uint8Array([0xff, 0xf4, 0xff, 0xf2, ...Buffer.from("NOOP\r\n")]), 200],
    ["invalid UTF-8 argument", new Uint8Array([...Buffer.from("CWD "), 0xc3, 0x28, 0x0d, 0x0a]), 553],
  ];
  test.each(cases)("%s: refused or obeyed, session survives", async (_name, input, code) => {
    ts = await startTestServer();
    const w = await loggedIn();
    w.raw(input);
    expect((await w.read())?.code).toBe(code);
    expect((await w.cmd("NOOP")).code).toBe(200);
  });

  test("a stream of garbage does not crash the server; others are still served", async () => {
    ts = await startTestServer();
    const bad = await wire();
    expect((await bad.read())?.code).toBe(220);
    const junk = new Uint8Array(200_000);
    crypto.getRandomValues(junk);
    bad.raw(junk);
    bad.raw("\r\n");
    // It is either answered with 5xx/421 or closed, never anything else.
    const codes = await untilClosed(bad, 2000).catch(() => [] as number[]);
    for (const c of codes) expect(c === 421 || (c >= 500 && c < 600)).toBe(true);
    const good = await loggedIn();
    const { final, data } = await good.transfer("RETR hello.txt");
    expect(final?.code).toBe(226);
    expect(data.length).toBeGreaterThan(0);
  }, 15_000);
});

describe("FTP bounce protection (RFC 2577)", () => {
  const refused = [
    "PORT 127,0,0,2,39,16",
    "PORT 10,0,0,1,39,16",
    "PORT 127,0,0,1,0,21",
    "PORT 127,0,0,1,3,255",
    "EPRT |1|127.0.0.2|10000|",
    "EPRT |1|10.0.0.1|10000|",
    "EPRT |1|127.0.0.1|80|",
    "EPRT |2|::1|10000|",
  ];
  test.each(refused)("%s is refused", async (line) => {
    ts = await startTestServer();
    const w = await loggedIn();
    const r = await w.cmd(line);
    expect(r.code).toBeGreaterThanOrEqual(500);
    // Nothing was remembered: a transfer now has no data endpoint.
    expect((await w.cmd("RETR hello.txt")).code).toBe(425);
  });

  test("the client's own address and a port >= 1024 are accepted", async () => {
    ts = await startTestServer();
    const w = await loggedIn();
    expect((await w.cmd("PORT 127,0,0,1,39,16")).code).toBe(200);
    expect((await w.cmd("EPRT |1|127.0.0.1|10000|")).code).toBe(200);
  });
});

describe("passive data connection theft", () => {
  test("a data connection from another address is refused; the client's own gets the file", async () => {
    ts = await startTestServer();
    const w = await loggedIn();
    await w.cmd("TYPE I");
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    // The thief connects first, from 127.0.0.2 (Linux loopback accepts all of 127/8).
    const thief = Bun.spawn(
      [
        "python3",
        "-c",
        `import socket,sys
n=0
try:
    s=socket.socket(); s.settimeout(4); s.bind(("127.0.0.2",0)); s.connect(("127.0.0.1",${port}))
    while True:
        b=s.recv(65536)
        if not b: break
        n+=len(b)
except Exception as e:
    print("ERR",type(e).__name__)
print("BYTES",n)`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    try {
      const out = await Promise.race([new Response(thief.stdout).text(), Bun.sleep(8000).then(() => "TIMEOUT")]);
      // Closed at once (or reset, or refused): never a byte of the file.
      expect(out).toContain("BYTES 0");
      expect(out.toLowerCase()).not.toContain("timeout");
    } finally {
      try {
        process.kill(thief.pid, "SIGKILL");
      } catch {}
    }
    // The listener still waits for the real client.
    const chunks: Buffer[] = [];
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    const data = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: { data: (_s, c) => void chunks.push(Buffer.from(c)), close: () => closed(), error: () => closed() },
    });
    try {
      expect((await w.cmd("RETR hello.txt")).code).toBe(150);
      await Promise.race([closedP, Bun.sleep(5000)]);
      expect((await w.read())?.code).toBe(226);
      expect(Buffer.concat(chunks).toString()).toBe(await Bun.file(join(ts.home("alice"), "hello.txt")).text());
    } finally {
      data.end();
    }
  }, 20_000);
});

describe("failed logins", () => {
  test("repeated failures from one address get slower", async () => {
    ts = await startTestServer({ options: { failedLoginDelayMs: 50 } });
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const w = await wire();
      await w.read();
      await w.cmd("USER alice");
      const t0 = performance.now();
      expect((await w.cmd("PASS wrong", 10_000)).code).toBe(530);
      times.push(performance.now() - t0);
      w.close();
    }
    expect(times[3]!).toBeGreaterThan(times[0]! + 400);
    expect(times[2]!).toBeGreaterThan(times[1]!);
  }, 30_000);

  test("known and unknown users get identical replies", async () => {
    ts = await startTestServer();
    const replies: string[] = [];
    for (const [user, pw] of [
      ["alice", "wrong"],
      ["nobody", "wrong"],
      ["alice", ""],
      ["root", "alice-pw"],
    ] as const) {
      const w = await wire();
      await w.read();
      const u = await w.cmd(`USER ${user}`);
      const p = await w.cmd(`PASS ${pw}`, 10_000);
      replies.push(`${u.code} ${u.lines.join("|")} / ${p.code} ${p.lines.join("|")}`);
      w.close();
    }
    expect(new Set(replies).size).toBe(1);
    expect(replies[0]).toContain("/ 530");
  }, 30_000);
});

describe("graceful shutdown", () => {
  test("close(grace) lets a running transfer finish and tells idle sessions 421", async () => {
    const size = 200_000;
    const data = new Uint8Array(size).map((_, i) => (i * 13) & 0xff);
    ts = await startTestServer({
      options: { maxRate: 100_000 },
      setup: (root) => writeFileSync(join(root, "home/alice/big.bin"), data),
    });
    const busy = await loggedIn();
    const idle = await loggedIn();
    await busy.cmd("TYPE I");
    const transfer = busy.transfer("RETR big.bin");
    await Bun.sleep(300);
    const closing = ts.server.close(10_000);
    expect((await idle.read())?.code).toBe(421);
    expect(await idle.read()).toBeNull();
    // New connections are refused meanwhile.
    const late = await Wire.connect(ts.port).catch(() => null);
    if (late) {
      wires.push(late);
      const r = await late.read().catch(() => null);
      expect(r === null || r.code === 421).toBe(true);
    }
    const { final, data: got } = await transfer;
    expect(final?.code).toBe(226);
    expect(got.length).toBe(size);
    expect((await busy.read())?.code).toBe(421);
    await closing;
  }, 20_000);

  test("SIGTERM: ftpkit serve tells idle clients 421 and exits 0", async () => {
    ts = await startTestServer();
    await ts.server.close(0);
    serve = await spawnServe(["--users", ts.usersFile], { cwd: ts.root });
    const w = await loggedIn(serve.port);
    process.kill(serve.proc.pid, "SIGTERM");
    expect(await untilClosed(w, 10_000)).toEqual([421]);
    const code = await Promise.race([serve.proc.exited, Bun.sleep(10_000).then(() => -1)]);
    expect(code).toBe(0);
  }, 30_000);
});
