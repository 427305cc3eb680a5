// --metrics: Prometheus numbers move while a transfer runs; /healthz and /readyz; TLS handshakes counted.
import { describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { createServer, type FtpServer } from "../../server/index.ts";
import { MemoryLogins } from "../../server/auth/memory-store.ts";
import { useServers } from "../helpers/server.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { ftplib, run, tempDir, tlsOptions } from "../tls/helpers.ts";
import { scrape, until } from "./helpers.ts";

const servers = useServers();
const METRICS = { metrics: { host: "127.0.0.1", port: 0 } };
const SIZE = 600_000;

function metricsPort(s: FtpServer): number {
  const p = s.ops.metricsPort;
  if (p === undefined) throw new Error("no metrics listener");
  return p;
}

describe("/metrics", () => {
  test("bytes out grow during a download; counters, histogram and gauges agree after it", async () => {
    // 200 KB/s: the 600 KB download takes about 3 s, long enough to scrape in the middle of it.
    const ts = await servers.start({
      options: { ops: METRICS, maxRate: 200_000 },
      setup: (root) => writeFileSync(join(root, "home/alice/big.bin"), Buffer.alloc(SIZE, 7)),
    });
    const port = metricsPort(ts.server);
    const before = await scrape(port);
    expect(before.get('ftpkit_transfer_bytes_total{direction="out"}')).toBe(0);
    expect(before.get("ftpkit_sessions_open")).toBe(0);

    const bad = await servers.connect();
    expect((await bad.login("alice", "wrong")).code).toBe(530);
    const w = await servers.login();
    await w.cmd("TYPE I");
    const dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    let received = 0;
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    const data = await Bun.connect({
      hostname: "127.0.0.1",
      port: dataPort,
      socket: { data: (_s, c) => void (received += c.length), close: () => closed(), error: () => closed() },
    });
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    await until(() => received > 50_000, 10_000, "the first bytes");
    const mid1 = await scrape(port);
    const out1 = mid1.get('ftpkit_transfer_bytes_total{direction="out"}')!;
    expect(out1).toBeGreaterThan(0);
    expect(out1).toBeLessThan(SIZE);
    expect(mid1.get("ftpkit_transfers_active")).toBe(1);
    expect(mid1.get("ftpkit_sessions_open")).toBe(2);
    await until(() => received > out1 + 100_000, 10_000, "more bytes");
    const out2 = (await scrape(port)).get('ftpkit_transfer_bytes_total{direction="out"}')!;
    expect(out2).toBeGreaterThan(out1);

    await closedP;
    expect((await w.read())?.code).toBe(226);
    data.end();
    const after = await scrape(port);
    expect(received).toBe(SIZE);
    expect(after.get('ftpkit_transfer_bytes_total{direction="out"}')).toBe(SIZE);
    expect(after.get('ftpkit_transfer_bytes_total{direction="in"}')).toBe(0);
    expect(after.get('ftpkit_transfers_total{verb="RETR",result="ok"}')).toBe(1);
    expect(after.get('ftpkit_transfer_duration_seconds_count{verb="RETR"}')).toBe(1);
    expect(after.get('ftpkit_transfer_duration_seconds_bucket{verb="RETR",le="0.5"}')).toBe(0); // it took seconds
    expect(after.get('ftpkit_transfer_duration_seconds_bucket{verb="RETR",le="+Inf"}')).toBe(1);
    expect(after.get("ftpkit_transfers_active")).toBe(0);
    expect(after.get('ftpkit_logins_total{result="ok"}')).toBe(1);
    expect(after.get('ftpkit_logins_total{result="failed"}')).toBe(1);
    expect(after.get("ftpkit_sessions_total")).toBe(2);
    expect(after.get('ftpkit_quota_used_bytes{user="alice"}')).toBeGreaterThanOrEqual(0);
    expect(after.has('ftpkit_quota_limit_bytes{user="alice"}')).toBe(true);
  }, 30_000);

  test("a client that hangs up mid-download: the byte counter never falls (Prometheus would take it for a reset)", async () => {
    const ts = await servers.start({
      options: { ops: METRICS, maxRate: 200_000 },
      setup: (root) => writeFileSync(join(root, "home/alice/big.bin"), Buffer.alloc(SIZE, 7)),
    });
    const metrics = ts.server.ops.metrics!;
    const sample = () => {
      const text = metrics.registry.render();
      const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      return { out: num(/^ftpkit_transfer_bytes_total\{direction="out"\} (\d+)$/m), finished: num(/^ftpkit_transfers_total\{verb="RETR",result="aborted"\} (\d+)$/m), active: num(/^ftpkit_transfers_active (\d+)$/m) };
    };
    const w = await servers.login();
    await w.cmd("TYPE I");
    const dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    let received = 0;
    const data = await Bun.connect({ hostname: "127.0.0.1", port: dataPort, socket: { data: (_s, c) => void (received += c.length) } });
    try {
      expect((await w.cmd("RETR big.bin")).code).toBe(150);
      await until(() => received > 100_000, 10_000, "the first bytes");
      const before = sample();
      expect(before.out).toBeGreaterThan(0);
      w.close(); // the control connection goes, no QUIT: the session ends before its transfer has
      const seen: number[] = [];
      const deadline = Date.now() + 10_000;
      for (let s = sample(); s.finished === 0 && Date.now() < deadline; s = sample()) {
        seen.push(s.out);
        expect(s.active).toBe(1); // still running until its end is counted
        await Bun.sleep(1);
      }
      const after = sample();
      expect(after.finished).toBe(1);
      expect(after.active).toBe(0);
      expect(Math.min(...seen, after.out)).toBeGreaterThanOrEqual(before.out);
    } finally {
      data.end();
    }
  }, 30_000);

  test("uploads count as bytes in; file operations are counted by kind", async () => {
    const ts = await servers.start({ options: { ops: METRICS } });
    const w = await servers.login();
    const payload = Buffer.alloc(70_000, 1);
    expect((await w.transfer("STOR up.bin", payload)).final?.code).toBe(226);
    expect((await w.cmd("MKD d")).code).toBe(257);
    expect((await w.cmd("RNFR up.bin")).code).toBe(350);
    expect((await w.cmd("RNTO d/up2.bin")).code).toBe(250);
    expect((await w.cmd("DELE d/up2.bin")).code).toBe(250);
    expect((await w.cmd("RMD d")).code).toBe(250);
    const m = await scrape(metricsPort(ts.server));
    expect(m.get('ftpkit_transfer_bytes_total{direction="in"}')).toBe(payload.length);
    expect(m.get('ftpkit_transfers_total{verb="STOR",result="ok"}')).toBe(1);
    for (const op of ["mkdir", "rename", "delete", "rmdir"]) expect(m.get(`ftpkit_file_operations_total{op="${op}"}`)).toBe(1);
  });

  test("TLS handshakes are counted, data connections that resumed the control session as reused", async () => {
    const ts = await servers.start({ options: { ops: METRICS, tls: tlsOptions() } });
    const work = tempDir();
    try {
      writeFileSync(join(work, "up.txt"), "hello over TLS\n");
      const r = await run(["curl", "-sS", "--ssl-reqd", "-k", "-T", join(work, "up.txt"), `ftp://alice:alice-pw@127.0.0.1:${ts.port}/t.txt`]);
      expect(r.code).toBe(0);
      await until(async () => ((await scrape(metricsPort(ts.server))).get('ftpkit_transfers_total{verb="STOR",result="ok"}') ?? 0) === 1);
      const m = await scrape(metricsPort(ts.server));
      expect(m.get('ftpkit_tls_handshakes_total{channel="control",reused="false"}')).toBe(1);
      expect(m.get('ftpkit_tls_handshakes_total{channel="data",reused="true"}')).toBe(1); // curl resumes
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test("an AUTH TLS answered with plain text instead of a handshake is no TLS handshake: the control series stays at 0", async () => {
    const ts = await servers.start({ options: { ops: METRICS, tls: tlsOptions() } });
    await new Promise<void>((done, fail) => {
      const s = net.connect({ host: "127.0.0.1", port: ts.port });
      const timer = setTimeout(() => fail(new Error("the server did not close a failed handshake")), 10_000);
      let step = 0;
      s.on("data", (chunk) => {
        const text = chunk.toString("latin1");
        if (step === 0 && text.startsWith("220")) s.write("AUTH TLS\r\n"), step++;
        else if (step === 1 && text.startsWith("234")) s.write("USER alice\r\n".repeat(8)), step++;
      });
      s.on("close", () => (clearTimeout(timer), done()));
      s.on("error", () => {});
    });
    const control = 'ftpkit_tls_handshakes_total{channel="control",reused="false"}';
    // Before: counted when AUTH TLS started the upgrade, before any handshake.
    expect((await scrape(metricsPort(ts.server))).get(control) ?? 0).toBe(0);
    const r = await run(["curl", "-sS", "--ssl-reqd", "-k", "--max-time", "10", `ftp://alice:alice-pw@127.0.0.1:${ts.port}/`]);
    expect(r.code).toBe(0);
    await until(async () => (await scrape(metricsPort(ts.server))).get(control) === 1, 5000, "curl's handshake");
  });

  test("--tls-session-reuse required refusing ftplib's data connection: its handshake is counted (reused=false), the transfer as aborted, not as a server error", async () => {
    const ts = await servers.start({ options: { ops: METRICS, tls: tlsOptions({ sessionReuse: "required" }) } });
    const work = tempDir();
    try {
      writeFileSync(join(work, "up.txt"), "never stored\n");
      const steps = await ftplib(work, ts.port, "alice", "alice-pw", "P", ["STOR up.txt up.txt"]);
      expect(steps.at(-1)).toMatchObject({ ok: false, reply: "522 SSL connection failed: session reuse required" });
      const series = 'ftpkit_transfers_total{verb="STOR",result="aborted"}';
      await until(async () => ((await scrape(metricsPort(ts.server))).get(series) ?? 0) === 1);
      const m = await scrape(metricsPort(ts.server));
      // Before: result "error" (the server's failure), and no data handshake at all.
      expect(m.get('ftpkit_transfers_total{verb="STOR",result="error"}')).toBe(0);
      expect(m.get('ftpkit_tls_handshakes_total{channel="data",reused="false"}')).toBe(1);
      expect(m.get('ftpkit_tls_handshakes_total{channel="data",reused="true"}') ?? 0).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test("every control connection accepted is counted by listener, an implicit-TLS one whose handshake fails too; sessions count only those greeted", async () => {
    const ts = await servers.start({ options: { ops: METRICS, tls: tlsOptions({ implicitPort: 0 }) } });
    const port = metricsPort(ts.server);
    const implicit = ts.server.implicitTlsPort!;
    const before = await scrape(port);
    const count = (m: Map<string, number>, series: string) => m.get(series)! - before.get(series)!;
    // Two clients that speak plain text to the implicit-TLS port: their handshakes fail and the server closes them.
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((done, fail) => {
        const s = net.connect({ host: "127.0.0.1", port: implicit }, () => s.write("USER alice\r\n"));
        const timer = setTimeout(() => fail(new Error("the server did not close a failed handshake")), 10_000);
        s.on("close", () => (clearTimeout(timer), done()));
        s.on("error", () => {});
        s.resume(); // the server's TLS alert is read, so its close is seen
      });
    }
    const r = await run(["curl", "-sS", "-k", "--max-time", "10", `ftps://alice:alice-pw@127.0.0.1:${implicit}/`]);
    expect(r.code).toBe(0);
    const plain = await servers.connect();
    await plain.cmd("QUIT");
    await until(async () => count(await scrape(port), "ftpkit_sessions_total") === 2, 10_000, "two sessions");
    const m = await scrape(port);
    expect(count(m, 'ftpkit_connections_total{listener="implicit-tls"}')).toBe(3);
    expect(count(m, 'ftpkit_connections_total{listener="control"}')).toBe(1);
    expect(count(m, "ftpkit_sessions_total")).toBe(2);
  });

  test("series whose labels are known in advance are there at 0 before their first event, so increase() sees the first one", async () => {
    const ts = await servers.start({ options: { ops: { ...METRICS, hooks: [{ event: "upload", command: "true" }, { event: "pre-upload", command: "true" }] } } });
    const port = metricsPort(ts.server);
    const before = await scrape(port);
    const zero = [
      'ftpkit_logins_total{result="ok"}',
      'ftpkit_logins_total{result="failed"}',
      'ftpkit_connections_refused_total{reason="banned"}',
      'ftpkit_connections_refused_total{reason="denied"}',
      'ftpkit_connections_refused_total{reason="proxy"}',
      'ftpkit_connections_total{listener="control"}',
      'ftpkit_connections_total{listener="implicit-tls"}',
      'ftpkit_file_operations_total{op="delete"}',
      'ftpkit_file_operations_total{op="rmdir"}',
      'ftpkit_transfers_total{verb="RETR",result="error"}',
      'ftpkit_transfers_total{verb="STOR",result="quota"}',
      'ftpkit_hooks_total{event="upload",result="failed"}',
      'ftpkit_hooks_total{event="pre-upload",result="refused"}',
    ];
    for (const series of zero) expect([series, before.get(series)]).toEqual([series, 0]);
    // What an alert on increase(ftpkit_logins_total{result="failed"}[5m]) compares: two samples of one series.
    const bad = await servers.connect();
    expect((await bad.login("alice", "wrong")).code).toBe(530);
    const after = await scrape(port);
    expect(after.get('ftpkit_logins_total{result="failed"}')! - before.get('ftpkit_logins_total{result="failed"}')!).toBe(1);
  });

  test("the process series every Prometheus client exports are there, with their types", async () => {
    const ts = await servers.start({ options: { ops: METRICS } });
    const port = metricsPort(ts.server);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain("# TYPE process_cpu_seconds_total counter");
    for (const g of ["process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds"]) expect(text).toContain(`# TYPE ${g} gauge`);
    const m = await scrape(port);
    expect(m.get("process_cpu_seconds_total")!).toBeGreaterThan(0);
    expect(m.get("process_resident_memory_bytes")!).toBeGreaterThan(1024 * 1024);
    expect(m.get("process_open_fds")!).toBeGreaterThan(2);
    expect(m.get("process_open_fds")!).toBeLessThan(m.get("process_max_fds")!);
    const start = m.get("process_start_time_seconds")!;
    expect(start).toBeLessThanOrEqual(Date.now() / 1000);
    expect(start).toBeGreaterThan(Date.now() / 1000 - 3600);
  });

  test("the metrics listener is off unless asked for", async () => {
    const ts = await servers.start();
    expect(ts.server.ops.metricsPort).toBeUndefined();
  });
});

describe("/healthz and /readyz", () => {
  test("healthz answers ok; readyz says ready with users and storage, 404 elsewhere", async () => {
    const ts = await servers.start({ options: { ops: METRICS } });
    const base = `http://127.0.0.1:${metricsPort(ts.server)}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("ok\n");
    const ready = await fetch(`${base}/readyz`);
    const body = await ready.text();
    expect(ready.status).toBe(200);
    expect(body).toContain("accepting ok");
    expect(body).toContain("users ok: 1 users");
    expect(body).toContain("storage ok: 1/1 homes reachable");
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  test("readyz probes share a place's check: 30 at once and 20 in a row cost an object-store home a request or two, not one each", async () => {
    let requests = 0;
    // A stand-in object store that lists an empty bucket (the home's prefix: a directory).
    const store = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch() {
        requests++;
        return new Response(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>ftpkit-ready</Name><Prefix>alice/</Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`, { headers: { "content-type": "application/xml" } });
      },
    });
    // Credentials of some kind, or the S3 client sends nothing.
    const saved = { id: process.env.S3_ACCESS_KEY_ID, secret: process.env.S3_SECRET_ACCESS_KEY };
    process.env.S3_ACCESS_KEY_ID ||= "test-key";
    process.env.S3_SECRET_ACCESS_KEY ||= "test-secret";
    const dir = tempDir();
    const usersFile = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw", home: "s3://ftpkit-ready/alice" }]);
    const server = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, s3Endpoint: `http://127.0.0.1:${store.port}`, ops: METRICS });
    try {
      await server.listen();
      const probe = async () => (await fetch(`http://127.0.0.1:${metricsPort(server)}/readyz`)).text();
      const bodies = await Promise.all(Array.from({ length: 30 }, probe));
      for (let i = 0; i < 20; i++) bodies.push(await probe());
      expect(new Set(bodies.map((b) => /storage \w+/.exec(b)?.[0]))).toEqual(new Set(["storage ok"]));
      expect(requests).toBeGreaterThan(0);
      expect(requests).toBeLessThanOrEqual(4);
    } finally {
      await server.close(0);
      store.stop(true);
      rmSync(dir, { recursive: true, force: true });
      for (const [name, v] of [["S3_ACCESS_KEY_ID", saved.id], ["S3_SECRET_ACCESS_KEY", saved.secret]] as const) {
        if (v === undefined) delete process.env[name];
        else process.env[name] = v;
      }
    }
  });

  test("readyz is 503 when the users file is missing or a home is gone; the login error is counted by kind", async () => {
    const dir = tempDir();
    const server = createServer({ usersFile: join(dir, "missing.ini"), host: "127.0.0.1", port: 0, quiet: true, ops: METRICS });
    try {
      await server.listen();
      const r = await fetch(`http://127.0.0.1:${metricsPort(server)}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.text()).toContain("users FAIL: users file not loaded");
    } finally {
      await server.close(0);
      rmSync(dir, { recursive: true, force: true });
    }
    const ts = await servers.start({ options: { ops: METRICS } });
    rmSync(ts.home("alice"), { recursive: true, force: true });
    const r = await fetch(`http://127.0.0.1:${metricsPort(ts.server)}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toContain("storage FAIL: 0/1 homes reachable");
    const w = await servers.connect();
    expect((await w.login("alice", "alice-pw")).code).toBe(530);
    const m = await scrape(metricsPort(ts.server));
    expect(m.get('ftpkit_errors_total{kind="login refused: home directory unavailable"}')).toBe(1);
  });

  test("/readyz stays 200 when one home of four is missing (a users-file typo every node shares), 503 when half are", async () => {
    const users = ["u1", "u2", "u3", "u4"].map((name) => ({ name, password: "pw" }));
    const ts = await servers.start({ users, options: { ops: METRICS } });
    rmSync(ts.home("u1"), { recursive: true, force: true });
    const one = await fetch(`http://127.0.0.1:${metricsPort(ts.server)}/readyz`);
    // Before: 503, every node taken out of the balancer for one user's missing home.
    expect([one.status, await one.text()]).toEqual([200, expect.stringContaining("storage ok: 3/4 homes reachable")]);
    rmSync(ts.home("u2"), { recursive: true, force: true });
    // A place's answer serves the probes of the next second: asked until the new one comes.
    let two = "";
    await until(async () => {
      const r = await fetch(`http://127.0.0.1:${metricsPort(ts.server)}/readyz`);
      two = `${r.status} ${await r.text()}`;
      return r.status === 503;
    }, 10_000, "readyz to see the second home gone");
    expect(two).toContain("storage FAIL: 2/4 homes reachable");
  });

  test("/readyz stays 200 while a users file broken on disk leaves the last good users serving, and says so until it is fixed", async () => {
    const ts = await servers.start({ options: { ops: METRICS } });
    const readyz = async () => {
      const r = await fetch(`http://127.0.0.1:${metricsPort(ts.server)}/readyz`);
      return `${r.status} ${await r.text()}`;
    };
    expect(await readyz()).toContain("users ok: 1 users\n");
    const good = await Bun.file(ts.usersFile).text();
    writeFileSync(ts.usersFile, "[alice\npassword = \n");
    await ts.server.reload();
    const broken = await readyz();
    expect(broken).toStartWith("200 ");
    expect(broken).toContain("users ok: 1 users of the last good users file: the file on disk is broken or gone");
    expect((await (await servers.login()).cmd("NOOP")).code).toBe(200); // alice still logs in
    writeFileSync(ts.usersFile, good);
    await ts.server.reload();
    expect(await readyz()).toContain("users ok: 1 users\n");
  });

  test("readyz of a server without a users file (serve --root) checks its root: 503 once it is gone", async () => {
    const root = tempDir();
    const server = createServer({ auth: new MemoryLogins([{ name: "me", password: "pw", home: root, perms: ["read"] }]), host: "127.0.0.1", port: 0, quiet: true, ops: METRICS });
    try {
      await server.listen();
      const ready = () => fetch(`http://127.0.0.1:${metricsPort(server)}/readyz`).then(async (r) => ({ status: r.status, body: await r.text() }));
      const first = await ready();
      expect(first.status).toBe(200);
      expect(first.body).toContain("storage ok: 1/1 homes reachable"); // before: "0/0", nothing checked
      rmSync(root, { recursive: true, force: true });
      // A place's answer serves the probes of the next second.
      let last = first;
      await until(async () => (last = await ready()).status === 503, 5_000, "readyz 503");
      expect(last.body).toContain("storage FAIL: 0/1 homes reachable");
    } finally {
      await server.close(0);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
