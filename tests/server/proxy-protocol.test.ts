import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { formatProxyV2 } from "../../protocol/proxy.ts";
import { createLogger } from "../../server/log.ts";
import { runFtpkit, waitFor } from "../helpers/peers.ts";
import { useServers } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";
import { scrape } from "../ops/helpers.ts";
import { freePort, startRedis } from "../helpers/redis.ts";

const servers = useServers();

/** A logger that keeps its JSON lines, so a test can check what was logged. */
function capture() {
  const out = { text: "" };
  const logger = createLogger("json", false, { write: (s: string) => (out.text += s) });
  return { logger, lines: () => out.text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Connect, send `header`, and return the wire (the greeting is still unread). */
async function viaBalancer(port: number, header: Uint8Array | string): Promise<Wire> {
  const w = await Wire.connect(port);
  w.raw(header);
  return w;
}

/** A data connection from `local` (a loopback address); `send` goes first, then FIN if `end`. */
function connectFrom(local: string, port: number, send?: Uint8Array, end = false) {
  const chunks: Buffer[] = [];
  const sock = connect({ host: "127.0.0.1", port, localAddress: local });
  sock.on("data", (c: Buffer) => chunks.push(c));
  sock.on("error", () => {});
  const connected = new Promise<void>((r) => sock.once("connect", () => r()));
  const gone = new Promise<void>((r) => sock.once("close", () => r()));
  void connected.then(() => (send ? (end ? sock.end(send) : sock.write(send)) : undefined));
  return { connected, gone, received: () => Buffer.concat(chunks).toString() };
}

const v2From = (ip: string, port = 40_001) => formatProxyV2({ ip, port }, { ip: "127.0.0.1", port: 21 });

describe("--proxy-protocol on the control port", () => {
  test("a v2 header from the balancer makes the header's address the session's client address", async () => {
    const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1/32" } });
    const w = await viaBalancer(port, v2From("127.0.0.9"));
    try {
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      const stat = await w.cmd("STAT");
      expect(stat.lines.join("\n")).toContain("Connected to 127.0.0.9");
    } finally {
      w.close();
    }
  });

  test("a v1 header works too, and commands sent right behind it are not lost", async () => {
    const { port } = await servers.start({ options: { proxyFrom: "127.0.0.0/8" } });
    const w = await viaBalancer(port, "PROXY TCP4 127.0.0.8 127.0.0.1 5000 21\r\nNOOP\r\n");
    try {
      expect((await w.read())?.code).toBe(220);
      expect((await w.read())?.code).toBe(200);
      expect((await w.cmd("STAT")).lines.join("\n")).toContain("Connected to 127.0.0.8");
    } finally {
      w.close();
    }
  });

  test("curl --haproxy-protocol downloads through a PROXY-protocol port", async () => {
    const { port, home } = await servers.start({ options: { proxyFrom: "127.0.0.1" } });
    const proc = Bun.spawn(["curl", "-sS", "--max-time", "10", "--haproxy-protocol", `ftp://alice:alice-pw@127.0.0.1:${port}/hello.txt`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    expect(out).toBe(await Bun.file(join(home("alice"), "hello.txt")).text());
  });

  test("per-IP limits count the real client address, not the balancer's", async () => {
    const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1", maxPerIp: 1 } });
    const a1 = await viaBalancer(port, v2From("127.0.0.20"));
    const a2 = await viaBalancer(port, v2From("127.0.0.20"));
    const b = await viaBalancer(port, v2From("127.0.0.21"));
    try {
      expect((await a1.read())?.code).toBe(220);
      const second = await a2.read();
      expect(second?.code).toBe(421);
      expect(second?.lines.join(" ")).toContain("from your address");
      expect((await b.read())?.code).toBe(220);
    } finally {
      for (const w of [a1, a2, b]) w.close();
    }
  });

  test("the passive data connection must come from the header's client address", async () => {
    const log = capture();
    const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1", logger: log.logger } });
    // The "client" is 127.0.0.9; a data connection from 127.0.0.7 (neither it nor a balancer) is someone else.
    const w = await viaBalancer(port, v2From("127.0.0.9"));
    try {
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      const dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      const stranger = connectFrom("127.0.0.7", dataPort);
      await stranger.gone;
      await waitFor(() => log.lines().some((l) => l.event === "data connection refused: foreign address" && l.expected === "127.0.0.9"), 5000, "refusal logged");
    } finally {
      w.close();
    }
  });

  // The balancer reaches the node over IPv6, its clients come over IPv4 (and the other way round):
  // PASV went by the node's socket (425 for every IPv4 client: ftplib, wget, curl --disable-epsv).
  test("PASV follows the client's family, not the node's socket's, and names the address the client dialed (the header's destination)", async () => {
    const v6node = await servers.start({ options: { host: "::1", proxyFrom: "::1" } });
    const v4client = await Wire.connect(v6node.port, "::1");
    v4client.raw(formatProxyV2({ ip: "127.0.0.9", port: 40_001 }, { ip: "127.0.0.3", port: 2121 }));
    const v4node = await servers.start({ options: { proxyFrom: "127.0.0.1" } });
    const v6client = await viaBalancer(v4node.port, formatProxyV2({ ip: "2001:db8::9", port: 40_001 }, { ip: "2001:db8::1", port: 21 }));
    try {
      expect((await v4client.login("alice", "alice-pw")).code).toBe(230);
      const pasv = await v4client.cmd("PASV");
      expect(pasv.code).toBe(227);
      expect(pasv.lines[0]).toMatch(/\(127,0,0,3,\d+,\d+\)/);
      expect((await v6client.login("alice", "alice-pw")).code).toBe(230);
      expect((await v6client.cmd("PASV")).lines[0]).toBe("PASV needs IPv4; use EPSV");
      expect((await v6client.cmd("EPSV")).code).toBe(229);
    } finally {
      v4client.close();
      v6client.close();
    }
  });

  // Clients connect their data connection to the address they reached the control port on (EPSV
  // always; curl and Python's ftplib for PASV too): the balancer's. It forwards the node's passive
  // range with its own PROXY header naming the client.
  test("a passive port forwarded by the balancer: its PROXY header names the client, and LIST and STOR run", async () => {
    const log = capture();
    const { port, home } = await servers.start({ options: { proxyFrom: "127.0.0.1", logger: log.logger } });
    const w = await viaBalancer(port, v2From("127.0.0.9"));
    try {
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      let dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      let balancer = connectFrom("127.0.0.1", dataPort, v2From("127.0.0.9"));
      await balancer.connected;
      expect((await w.cmd("LIST")).code).toBe(150);
      expect((await w.read())?.code).toBe(226);
      await balancer.gone;
      expect(balancer.received()).toContain("hello.txt");
      // An upload: the balancer sends the header and the client's first bytes in one segment.
      const body = Buffer.from("uploaded through the balancer\n".repeat(1000));
      dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      balancer = connectFrom("127.0.0.1", dataPort, Buffer.concat([v2From("127.0.0.9"), body]), true);
      await balancer.connected;
      expect((await w.cmd("STOR forwarded.txt")).code).toBe(150);
      expect((await w.read())?.code).toBe(226);
      expect(readFileSync(join(home("alice"), "forwarded.txt")).equals(body)).toBe(true);
      // A header naming another client is refused like a direct connection from there.
      dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      const other = connectFrom("127.0.0.1", dataPort, v2From("127.0.0.10"));
      await other.gone;
      await waitFor(() => log.lines().some((l) => l.event === "data connection refused: foreign address" && l.ip === "127.0.0.10"), 5000, "refusal logged");
    } finally {
      w.close();
    }
  });

  test("a client on the balancer's own address: an upload through the forwarded passive port stores no header, and straight to the port works too", async () => {
    const { port, home } = await servers.start({ options: { proxyFrom: "127.0.0.1" } });
    const w = await viaBalancer(port, v2From("127.0.0.1"));
    const file = (name: string) => readFileSync(join(home("alice"), name), "utf8");
    try {
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      const transfer = async (line: string, send?: Uint8Array) => {
        const dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
        const data = connectFrom("127.0.0.1", dataPort, send, send !== undefined);
        await data.connected;
        expect((await w.cmd(line)).code).toBe(150);
        expect((await w.read())?.code).toBe(226);
        await data.gone;
        return data.received();
      };
      const text = (t: string) => Buffer.from(t);
      await transfer("STOR via-balancer.txt", Buffer.concat([v2From("127.0.0.1"), text("through the balancer\n")]));
      expect(file("via-balancer.txt")).toBe("through the balancer\n");
      // Straight to the port: its own bytes, none (an empty file), and a download that sends nothing.
      await transfer("STOR direct.txt", text("direct\n"));
      expect(file("direct.txt")).toBe("direct\n");
      await transfer("STOR empty.txt", text(""));
      expect(file("empty.txt")).toBe("");
      expect(await transfer("RETR direct.txt")).toBe("direct\n");
    } finally {
      w.close();
    }
  });

  test("a client on the balancer's own address: a header already sent when a stalled event loop comes back is read as the balancer's", async () => {
    const { port, home } = await servers.start({ options: { proxyFrom: "127.0.0.1" } });
    const w = await viaBalancer(port, v2From("127.0.0.1"));
    let balancer: { kill(): void } | undefined;
    try {
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      const dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      // The balancer: another process, so its header can arrive while this one (the server's) is
      // stalled. It connects, says so a moment later (the server has taken the connection by then and
      // its 0.5 s wait for a header runs), and sends the header with the client's bytes 0.2 s after.
      const header = Buffer.from(v2From("127.0.0.1")).toString("hex");
      const script = `import socket, sys, time
s = socket.create_connection(("127.0.0.1", ${dataPort}), timeout=10)
time.sleep(0.1); print("connected", flush=True); time.sleep(0.2)
s.sendall(bytes.fromhex("${header}") + b"after a stall\\n"); s.shutdown(socket.SHUT_WR); s.recv(1); s.close()`;
      const proc = Bun.spawn(["python3", "-c", script], { stdout: "pipe", stderr: "inherit" });
      balancer = proc;
      const reader = proc.stdout.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toContain("connected");
      // This process stalls past the 0.5 s while reading (a GC pause, a loaded host): when its loop
      // comes back its timers run before the read of the header waiting in the socket.
      const until = performance.now() + 900;
      while (performance.now() < until) {}
      expect((await w.cmd("STOR stalled.txt")).code).toBe(150);
      expect((await w.read())?.code).toBe(226);
      expect(readFileSync(join(home("alice"), "stalled.txt"), "utf8")).toBe("after a stall\n");
      expect(await proc.exited).toBe(0);
    } finally {
      balancer?.kill();
      w.close();
    }
  });

  test("behind a balancer, a client that ends its upload's data connection and drops its control connection at once leaves the old file", async () => {
    const { port, home } = await servers.start({ options: { proxyFrom: "127.0.0.1" } });
    const target = join(home("alice"), "hello.txt");
    const before = readFileSync(target);
    const tmp = join(home("alice"), ".ftpkit-tmp");
    const w = await viaBalancer(port, v2From("127.0.0.1"));
    try {
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
      const dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      const data = await Bun.connect({ hostname: "127.0.0.1", port: dataPort, socket: { data() {} } });
      expect((await w.cmd("STOR hello.txt")).code).toBe(150);
      data.write(new Uint8Array(64 * 1024).fill(7));
      await waitFor(() => existsSync(tmp) && readdirSync(tmp).some((f) => statSync(join(tmp, f)).size > 0), 5000, "the upload's temp file");
      // How a killed client ends: a FIN on the data connection, its control connection closed with it.
      data.shutdown();
      data.end();
      w.close();
      await waitFor(() => readdirSync(tmp).length === 0, 5000, "the upload to end");
      expect(readFileSync(target).equals(before)).toBe(true);
    } finally {
      w.close();
    }
  });

  const refusals: Array<[string, string | Uint8Array, string]> = [
    ["a client that speaks FTP without a header", "USER alice\r\n", "no PROXY header"],
    ["a malformed v1 header", "PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n", "TCP4 address is not a valid IPv4 address"],
    ["a TLS ClientHello", Uint8Array.from([0x16, 0x03, 0x01, 0x00, 0x05]), "no PROXY header"],
  ];
  for (const [name, sent, reason] of refusals) {
    test(`${name} is closed without a greeting, with one log line`, async () => {
      const log = capture();
      const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1", logger: log.logger } });
      const w = await viaBalancer(port, sent);
      expect(await w.read()).toBeNull();
      await waitFor(() => log.lines().some((l) => l.event === "connection refused"), 5000, "log line");
      const refused = log.lines().filter((l) => l.event === "connection refused");
      expect(refused).toHaveLength(1);
      expect(String(refused[0]!.reason)).toContain(reason);
      w.close();
    });
  }

  test("a balancer that sends no header within the deadline is cut off", async () => {
    const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1" } });
    const w = await Wire.connect(port);
    expect(await w.read(6000)).toBeNull();
    w.close();
  }, 10_000);

  test("a header from an address outside --proxy-from is refused, even a well-formed one", async () => {
    const log = capture();
    const { port } = await servers.start({ options: { proxyFrom: "10.0.0.0/8,::1", logger: log.logger } });
    const w = await viaBalancer(port, v2From("127.0.0.9"));
    expect(await w.read()).toBeNull();
    await waitFor(() => log.lines().some((l) => l.event === "connection refused" && String(l.reason).includes("--proxy-from")), 5000, "log line");
    w.close();
  });

  test("each refusal for the PROXY header (invalid, none in time, outside --proxy-from) counts in ftpkit_connections_refused_total{reason=\"proxy\"}", async () => {
    const { server, port } = await servers.start({ options: { proxyFrom: "127.0.0.1", ops: { metrics: { host: "127.0.0.1", port: 0 } } } });
    const refused = async () => (await scrape(server.ops.metricsPort!)).get('ftpkit_connections_refused_total{reason="proxy"}');
    expect(await refused()).toBe(0);
    const invalid = await viaBalancer(port, "PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n");
    expect(await invalid.read()).toBeNull();
    invalid.close();
    const outside = connectFrom("127.0.0.9", port, v2From("10.0.0.1"));
    await outside.gone;
    const silent = await Wire.connect(port);
    expect(await silent.read(6000)).toBeNull();
    silent.close();
    // Before: 0, the banned and denied series alone counted.
    expect(await refused()).toBe(3);
    expect((await scrape(server.ops.metricsPort!)).get('ftpkit_connections_refused_total{reason="denied"}')).toBe(0);
  }, 10_000);

  test("LOCAL (a balancer health check) gets a normal greeting as the balancer itself", async () => {
    const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1" } });
    const local = new Uint8Array(16);
    local.set(formatProxyV2({ ip: "1.1.1.1", port: 1 }, { ip: "1.1.1.1", port: 1 }).subarray(0, 12));
    local[12] = 0x20;
    const w = await viaBalancer(port, local);
    expect((await w.read())?.code).toBe(220);
    expect((await w.cmd("QUIT")).code).toBe(221);
    w.close();
  });

  test("a client whose v2 header names a UNIX socket is served (UNSPEC fallback), not cut off", async () => {
    const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1" } });
    const unix = new Uint8Array(16 + 216);
    unix.set(formatProxyV2({ ip: "1.1.1.1", port: 1 }, { ip: "1.1.1.1", port: 1 }).subarray(0, 12));
    unix.set([0x21, 0x31, 0, 216], 12);
    unix.set(new TextEncoder().encode("/run/haproxy/ftp.sock"), 16);
    const w = await viaBalancer(port, unix);
    expect((await w.login("alice", "alice-pw")).code).toBe(230);
    w.close();
  });
});

describe("bans behind a balancer", () => {
  test("failed logins behind a v1 UNKNOWN header never ban the balancer; a real client address still gets banned", async () => {
    const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1", ops: { banAfter: 2 } } });
    const failTwice = async (header: string) => {
      for (let i = 0; i < 2; i++) {
        const w = await viaBalancer(port, header);
        expect((await w.login("alice", "wrong")).code).toBe(530);
        w.close();
      }
    };
    await failTwice("PROXY UNKNOWN\r\n");
    // The balancer (and every client behind it) is still served, health checks included.
    const after = await viaBalancer(port, "PROXY UNKNOWN\r\n");
    expect((await after.login("alice", "alice-pw")).code).toBe(230);
    after.close();
    const client = "PROXY TCP4 127.0.0.7 127.0.0.1 5000 21\r\n";
    await failTwice(client);
    const banned = await viaBalancer(port, client);
    const r = await banned.read();
    expect(r?.code).toBe(421);
    banned.close();
  });
});

test("an IPv4 client named in a v1 TCP6 header's long spelling is banned alone, not with every IPv4 client so spelled", async () => {
  const { port } = await servers.start({ options: { proxyFrom: "127.0.0.1", ops: { banAfter: 2 } } });
  const header = (ip: string) => `PROXY TCP6 0:0:0:0:0:ffff:${ip} ::1 5000 21\r\n`;
  for (let i = 0; i < 2; i++) {
    const w = await viaBalancer(port, header("192.0.2.7"));
    expect((await w.login("alice", "wrong")).code).toBe(530);
    w.close();
  }
  const banned = await viaBalancer(port, header("192.0.2.7"));
  expect((await banned.read())?.code).toBe(421);
  banned.close();
  const other = await viaBalancer(port, header("192.0.2.8"));
  expect((await other.read())?.code).toBe(220);
  other.close();
});

describe("ftpkit serve --proxy-protocol and --state flags", () => {
  // Bad usage exits 2; a store that cannot be reached, 1.
  const cases: Array<[string[], number, string]> = [
    [["--proxy-protocol"], 2, "--proxy-protocol needs --proxy-from"],
    [["--proxy-from", "127.0.0.1"], 2, "--proxy-from needs --proxy-protocol"],
    [["--proxy-protocol", "--proxy-from", "10.0.0.0/40"], 2, "prefix length"],
    [["--proxy-protocol", "--proxy-from", "balancer.example"], 2, "not an IP address"],
    [["--state", "memcached://127.0.0.1:11211"], 2, "--state must look like redis://HOST:PORT[/DB]"],
    [["--state", "redis://127.0.0.1:1"], 1, "cannot reach the state store at redis://127.0.0.1:1"],
    // The store's password never reaches the log or the terminal.
    [["--state", "redis://:s3cret-pw@127.0.0.1:1"], 1, "cannot reach the state store at redis://…@127.0.0.1:1"],
    [["--state", "redis://:s3cret-pw@127.0.0.1:1/x"], 2, "--state must look like redis://HOST:PORT[/DB], got \"redis://…@127.0.0.1:1/x\""],
    // Before: exit 1 and Bun's "Invalid URL format" with a stack trace.
    [["--state", "redis://127.0.0.1:99999"], 2, "--state: port 99999 is out of range (1-65535)"],
    [["--state", "redis://:s3cret-pw@127.0.0.1:0"], 2, "--state: port 0 is out of range (1-65535)"],
  ];
  for (const [args, code, message] of cases) {
    test(`serve ${args.join(" ")} fails with one clear line, exit ${code}`, async () => {
      const r = await runFtpkit(["serve", "--port", "0", ...args]);
      expect(r.code).toBe(code);
      expect(r.stderr + r.stdout).toContain(message);
      expect(r.stderr).not.toContain("    at ");
      expect(r.stderr + r.stdout).not.toContain("s3cret-pw");
    });
  }
});

describe("ftpkit serve --state names the cause when the store cannot be reached", () => {
  test("nothing listening, a password missing, a password refused, a database missing: each says so, without the password", async () => {
    const refused = await runFtpkit(["serve", "--port", "0", "--state", `redis://127.0.0.1:${freePort()}`]);
    expect(refused.stderr).toContain("connection refused (is the store running");
    // That line alone: no "state store unreachable reason=connection closed" log line before it.
    expect(refused.stdout + refused.stderr).not.toContain("state store unreachable");
    const redis = await startRedis(freePort(), ["--requirepass", "right-pw"]);
    try {
      const missing = await runFtpkit(["serve", "--port", "0", "--state", `redis://127.0.0.1:${redis.port}`]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("it requires a password: redis://:PASSWORD@HOST:PORT");
      const wrong = await runFtpkit(["serve", "--port", "0", "--state", `redis://:wrong-pw@127.0.0.1:${redis.port}`]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain(`cannot reach the state store at redis://…@127.0.0.1:${redis.port}: it refused the user or password in the URL`);
      expect(wrong.stderr).not.toContain("wrong-pw");
      // The right password and a database the store does not have: the database, not the password.
      const db = await runFtpkit(["serve", "--port", "0", "--state", `redis://:right-pw@127.0.0.1:${redis.port}/16`]);
      expect(db.code).toBe(1);
      expect(db.stderr).toContain(`cannot reach the state store at redis://…@127.0.0.1:${redis.port}/16: it has no database 16 (ERR DB index is out of range)`);
    } finally {
      await redis.stop();
    }
  }, 30_000);
});
