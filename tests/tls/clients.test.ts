// FTPS against real clients: curl (explicit and implicit), Python ftplib.FTP_TLS with prot_p(), lftp, wget; session reuse; no password in clear.
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { captureLogger, ftplib, run, tempDir, tlsOptions } from "./helpers.ts";
import type { FtpsOptions } from "../../server/tls/ftps.ts";
import { recordingProxy } from "../helpers/proxy.ts";

let srv: TestServer | null = null;
let work: string | null = null;

afterEach(async () => {
  await srv?.stop();
  srv = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = null;
});

async function start(tls: Partial<FtpsOptions> = {}) {
  const logger = captureLogger();
  srv = await startTestServer({ options: { tls: tlsOptions(tls), logger } });
  work = tempDir();
  const payload = randomBytes(3 * 1024 * 1024 + 17);
  writeFileSync(join(work, "up.bin"), payload);
  const transfers = () => logger.events.filter((e) => e.event === "transfer").map((e) => e.fields);
  return { srv, work, payload, logger, transfers, ftps: srv.server.ftps! };
}

describe("curl", () => {
  test("explicit FTPS (--ssl-reqd): STOR and RETR round trip, data connections resume the control session", async () => {
    const { srv, work, payload, transfers, ftps } = await start();
    const url = `ftp://alice:alice-pw@127.0.0.1:${srv.port}`;
    const up = await run(["curl", "-sS", "--ssl-reqd", "-k", "-T", join(work, "up.bin"), `${url}/curl.bin`]);
    expect(up.code).toBe(0);
    expect(readFileSync(join(srv.home("alice"), "curl.bin")).equals(payload)).toBe(true);
    const down = await run(["curl", "-sS", "--ssl-reqd", "-k", `${url}/curl.bin`, "-o", join(work, "down.bin")]);
    expect(down.code).toBe(0);
    expect(readFileSync(join(work, "down.bin")).equals(payload)).toBe(true);
    const t = transfers();
    expect(t.map((f) => [f.verb, f.result, f.tls])).toEqual([["STOR", "ok", "reused"], ["RETR", "ok", "reused"]]);
    expect(ftps.counters.dataReused).toBe(2);
    expect(ftps.counters.dataNew).toBe(0);
  });

  test("implicit FTPS (ftps://) on --implicit-tls-port: round trip, same sessions and limits", async () => {
    const { srv, work, payload, transfers } = await start({ implicitPort: 0 });
    const port = srv.server.implicitTlsPort!;
    expect(port).toBeGreaterThan(0);
    const url = `ftps://alice:alice-pw@127.0.0.1:${port}`;
    const up = await run(["curl", "-sS", "-k", "-T", join(work, "up.bin"), `${url}/imp.bin`]);
    expect(up.code).toBe(0);
    const down = await run(["curl", "-sS", "-k", `${url}/imp.bin`, "-o", join(work, "down.bin")]);
    expect(down.code).toBe(0);
    expect(readFileSync(join(work, "down.bin")).equals(payload)).toBe(true);
    expect(transfers().map((f) => f.tls)).toEqual(["reused", "reused"]);
    // A plain FTP client on the implicit port gets no greeting in clear.
    const plain = await run(["curl", "-sS", "--max-time", "3", `ftp://alice:alice-pw@127.0.0.1:${port}/imp.bin`, "-o", "/dev/null"]);
    expect(plain.code).not.toBe(0);
  });

  test("--tls-session-reuse required still serves curl (it resumes the session)", async () => {
    const { srv, work, payload, transfers } = await start({ sessionReuse: "required" });
    const url = `ftp://alice:alice-pw@127.0.0.1:${srv.port}`;
    expect((await run(["curl", "-sS", "--ssl-reqd", "-k", "-T", join(work, "up.bin"), `${url}/r.bin`])).code).toBe(0);
    expect((await run(["curl", "-sS", "--ssl-reqd", "-k", `${url}/r.bin`, "-o", join(work, "r.bin")])).code).toBe(0);
    expect(readFileSync(join(work, "r.bin")).equals(payload)).toBe(true);
    expect(transfers().map((f) => f.tls)).toEqual(["reused", "reused"]);
  });

  test("no password crosses the control connection in clear once AUTH TLS is done", async () => {
    const { srv, work } = await start();
    // A TCP proxy between curl and the server that records what the client sends.
    const proxy = recordingProxy(srv.port);
    try {
      const secret = "alice-pw";
      const r = await run(["curl", "-sS", "--ssl-reqd", "-k", "-T", join(work, "up.bin"), `ftp://alice:${secret}@127.0.0.1:${proxy.port}/p.bin`]);
      expect(r.code).toBe(0);
      const wire = proxy.sent();
      // curl tries AUTH SSL first (accepted: 234), then PBSZ/PROT P inside TLS.
      expect(/AUTH (SSL|TLS)\r\n/.test(wire.toString("latin1"))).toBe(true);
      expect(wire.includes(secret)).toBe(false);
      expect(wire.includes("USER alice")).toBe(false);
      expect(wire.length).toBeGreaterThan(200); // the encrypted session did go through the proxy
    } finally {
      proxy.stop();
    }
  });
});

describe("Python ftplib.FTP_TLS with prot_p()", () => {
  test("logs in over TLS, STOR and RETR round trip; no session reuse offered (tls=new)", async () => {
    const { srv, work, payload, transfers, ftps } = await start();
    const steps = await ftplib(work, srv.port, "alice", "alice-pw", "P", ["STOR py.bin up.bin", "RETR py.bin down.bin"]);
    expect(steps.map((s) => [s.step, s.ok])).toEqual([["login", true], ["prot", true], ["STOR py.bin up.bin", true], ["RETR py.bin down.bin", true]]);
    expect(readFileSync(join(work, "down.bin")).equals(payload)).toBe(true);
    expect(transfers().map((f) => [f.verb, f.tls])).toEqual([["STOR", "new"], ["RETR", "new"]]);
    expect(ftps.counters.dataNew).toBe(2);
  });

  test("--tls-session-reuse required refuses ftplib's data connections with 522 and a clear text", async () => {
    const { srv, work } = await start({ sessionReuse: "required" });
    const steps = await ftplib(work, srv.port, "alice", "alice-pw", "P", ["STOR py.bin up.bin", "RETR py.bin down.bin", "CMD NOOP"]);
    const stor = steps.find((s) => s.step.startsWith("STOR"))!;
    expect(stor.ok).toBe(false);
    expect(stor.reply).toContain("522 SSL connection failed: session reuse required");
    // The session survives the refusal.
    expect(steps.find((s) => s.step === "CMD NOOP")?.ok).toBe(true);
  });
});

describe("lftp", () => {
  test("ssl-force + ssl-protect-data: put and get round trip over TLS", async () => {
    const { srv, work, payload, transfers } = await start();
    const script = [
      "set ssl:verify-certificate no",
      "set ftp:ssl-force true",
      "set ftp:ssl-protect-data true",
      "set net:max-retries 1",
      "set net:timeout 5",
      "put up.bin -o lf.bin",
      "get lf.bin -o down.bin",
      "bye",
    ].join("; ");
    const r = await run(["lftp", "-u", "alice,alice-pw", "-e", script, `ftp://127.0.0.1:${srv.port}`], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(readFileSync(join(work, "down.bin")).equals(payload)).toBe(true);
    const t = transfers().filter((f) => f.verb === "STOR" || f.verb === "RETR");
    expect(t.map((f) => [f.verb, f.result])).toEqual([["STOR", "ok"], ["RETR", "ok"]]);
    for (const f of t) expect(f.tls === "reused" || f.tls === "new").toBe(true);
  });
});

describe("wget (GnuTLS)", () => {
  // Over TLS 1.3 wget saves its session before the server's ticket arrives, so its data connection
  // offers none; TLS 1.2 resumes. --secure-protocol=TLSv1_2 is only a minimum: the priority string sets it.
  test("--tls-session-reuse required: wget's default TLS 1.3 data connection is refused, over TLS 1.2 it resumes and downloads", async () => {
    const { srv, work, transfers } = await start({ sessionReuse: "required" });
    writeFileSync(join(srv.home("alice"), "w.txt"), "over TLS\n");
    const url = `ftps://alice:alice-pw@127.0.0.1:${srv.port}/w.txt`;
    const wget = (out: string, ...flags: string[]) => run(["wget", "-q", "-t", "1", "--no-check-certificate", ...flags, "-O", join(work, out), url], { timeoutMs: 20_000 });
    expect((await wget("tls13.txt")).code).not.toBe(0);
    expect((await wget("tls12.txt", "--ciphers=NORMAL:-VERS-TLS1.3")).code).toBe(0);
    expect(readFileSync(join(work, "tls12.txt"), "utf8")).toBe("over TLS\n");
    expect(transfers().map((f) => [f.result, f.tls])).toEqual([["aborted", "new"], ["ok", "reused"]]);
  }, 60_000);
});
