// `ftpkit test`'s verdicts on behaviours real servers show, each reproduced by a scripted server
// (tests/client/scripted-server.ts) and judged by the probe's own check, as the report would show it.
import { afterEach, expect, test } from "bun:test";
import { Probe } from "../../client/probe/runner.ts";
import { startServer } from "../../cli/api.ts";
import { formatProbeItem, probeServer } from "../../client/probe/index.ts";
import { formatProbeSummary } from "../../client/probe/report.ts";
import { dataConnections, directories, transfers } from "../../client/probe/checks-core.ts";
import { abor, idle, longLine, pasvTheft, statDuringTransfer, tls } from "../../client/probe/checks-edge.ts";
import { formatEpsvReply } from "../../protocol/address.ts";
import type { Socket, TCPSocketListener } from "bun";
import { sendsListing, startScriptedServer, type Script, type ScriptedControl, type ScriptedServer } from "../client/scripted-server.ts";
import { removeDir, tempDir, waitFor } from "../helpers/peers.ts";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const servers: { stop(): void }[] = [];
const probes: Probe[] = [];
afterEach(() => {
  for (const p of probes.splice(0)) p.closeAll();
  for (const s of servers.splice(0)) s.stop();
});

function probeOf(script: Script, onServer?: (s: ScriptedServer) => void, timeoutMs = 3000): Probe {
  const server = startScriptedServer(script);
  servers.push(server);
  onServer?.(server);
  const p = new Probe({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs });
  probes.push(p);
  return p;
}

function item(p: Probe, id: string): string {
  const i = p.items.find((x) => x.id === id);
  return i ? `${i.status}: ${i.reason}` : "(not recorded)";
}

test("a 64 KiB command line answered 421 and the connection closed (Pure-FTPd) passes", async () => {
  const p = probeOf({
    on: {
      NOOP: (c, arg) => {
        if (arg.length < 1000) return c.reply(200, "ok");
        c.reply(421, "Line too long");
        c.drop();
      },
    },
  });
  await longLine(p);
  expect(item(p, "long-line")).toBe("pass: Line too long (421); connection closed");
}, 20_000);

test("an idle timeout stated in the greeting as minutes of inactivity (Pure-FTPd) passes", async () => {
  const p = probeOf({
    greet: (c) => c.write("220-Welcome to Pure-FTPd\r\n220-You are user number 1 of 50 allowed.\r\n220 You will be disconnected after 15 minutes of inactivity.\r\n"),
  });
  p.adoptMain(await p.open());
  const c = await p.session();
  p.greeting = c.greeting?.lines.join("\n") ?? "";
  await idle(p);
  expect(item(p, "idle")).toBe('pass: greeting: "You will be disconnected after 15 minutes of inactivity."');
}, 20_000);

/**
 * A server that reads the control connection only between reads of upload data, as ProFTPD does:
 * a command sent during an upload is answered when the next data arrives (ABOR: 426 then 226).
 */
function startReadsBetweenData(aborReplies = "426 Transfer aborted. Data connection closed.\r\n226 Abort successful\r\n"): { port: number; stop(): void } {
  let passive: TCPSocketListener<undefined> | null = null;
  let data: Socket<undefined> | null = null;
  let uploading = false;
  const waiting: string[] = [];
  const answer = (ctl: Socket<{ buf: string }>, line: string) => {
    const verb = line.split(" ")[0]!.toUpperCase();
    if (uploading && verb === "ABOR") {
      uploading = false;
      data?.end();
      return void ctl.write(aborReplies);
    }
    if (uploading && verb === "STAT") return void ctl.write("211-Status\r\n STOR /x (65536)\r\n211 End of status\r\n");
    const replies: Record<string, string> = { USER: "331 pw", PASS: "230 ok", TYPE: "200 ok", CWD: "250 ok", NOOP: "200 ok", PWD: '257 "/"' };
    if (verb === "EPSV") {
      passive?.stop(true);
      passive = Bun.listen<undefined>({
        hostname: "127.0.0.1",
        port: 0,
        socket: {
          open: (d) => void (data = d),
          data: () => {
            for (const l of waiting.splice(0)) answer(ctl, l);
          },
          close: () => {
            if (uploading) ctl.write("226 Transfer complete\r\n");
            uploading = false;
          },
        },
      });
      return void ctl.write(`229 ${formatEpsvReply(passive.port)}\r\n`);
    }
    if (verb === "STOR") {
      uploading = true;
      return void ctl.write("150 Opening BINARY mode data connection\r\n");
    }
    ctl.write(`${replies[verb] ?? "502 not here"}\r\n`);
  };
  const server = Bun.listen<{ buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { buf: "" };
        s.write("220 reads between data\r\n");
      },
      data(s, chunk) {
        s.data.buf += chunk.toString("latin1");
        let nl: number;
        while ((nl = s.data.buf.indexOf("\n")) >= 0) {
          const l = s.data.buf.slice(0, nl).replace(/\r$/, "");
          s.data.buf = s.data.buf.slice(nl + 1);
          if (uploading) waiting.push(l);
          else answer(s, l);
        }
      },
    },
  });
  return {
    port: server.port,
    stop() {
      passive?.stop(true);
      server.stop(true);
    },
  };
}

test("ABOR and STAT during an upload pass on a server that reads commands between reads of the data (ProFTPD)", async () => {
  const server = startReadsBetweenData();
  servers.push(server);
  const p = new Probe({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 3000 });
  probes.push(p);
  p.writable = true;
  p.scratch = "/";
  p.mode = "epsv";
  await abor(p);
  expect(item(p, "abor")).toStartWith("pass: 426 then 226;");
  await statDuringTransfer(p);
  expect(item(p, "stat")).toStartWith("pass: 211 while the upload was open");
}, 30_000);

test("a session that cannot get back into the scratch directory is closed, not left holding the probe open", async () => {
  let server!: ScriptedServer;
  const p = probeOf({ on: { CWD: (c) => c.reply(550, "No such directory") } }, (s) => (server = s));
  p.scratch = "/ftpkit-probe-gone";
  p.writable = true;
  await expect(p.session()).rejects.toThrow("CWD /ftpkit-probe-gone: No such directory (550)");
  await waitFor(() => server.openConnections() === 0, 5000, "the server to see the session closed");
}, 20_000);

test("a scratch directory whose MKD went unanswered: EPSV, judged in the login directory, passes", async () => {
  const p = probeOf({
    on: {
      MKD: () => new Promise(() => {}),
      CWD: (c) => c.reply(550, "No such directory"),
      LIST: async (c) => {
        c.reply(150, "Here comes the listing");
        const d = await c.data();
        await d.send(Buffer.from("-rw-r--r-- 1 u g 5 Jan  1 00:00 a.txt\r\n"));
        d.end();
        c.reply(226, "Directory send OK");
      },
    },
  });
  p.adoptMain(await p.open());
  await directories(p, await p.session()).catch((err: Error) => {
    p.readOnlyReason = `scratch directory not usable: ${err.message}`;
    p.writable = false;
  });
  expect(p.scratch).toMatch(/^\/ftpkit-probe-/); // kept, so that the clean-up still tries to remove it
  await dataConnections(p);
  expect(item(p, "epsv")).toBe("pass: LIST over EPSV: Directory send OK (226)");
  expect(item(p, "passive")).toBe("pass: EPSV data connections work");
}, 20_000);

test("a server that stops answering right after login (SYST, then TYPE I unanswered) still gets a full report", async () => {
  const server = startScriptedServer({ on: { SYST: () => new Promise(() => {}) } });
  servers.push(server);
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 1000 });
  expect(report.items.length).toBe(28);
  expect(report.items.slice(0, 3).map((i) => `${i.id} ${i.status}`)).toEqual(["greeting pass", "feat pass", "login pass"]);
}, 60_000);

test("AUTH TLS never answered: the TLS item fails without claiming 'AUTH TLS 234; PBSZ 0, PROT P 200'", async () => {
  const p = probeOf({ on: { AUTH: () => new Promise(() => {}) } }, undefined, 500);
  p.mode = "epsv";
  await tls(p);
  expect(item(p, "tls")).toStartWith("fail: no listing over TLS: timed out waiting for the server's reply to AUTH");
}, 30_000);

test("a read-only account whose smallest listed file it may not read (550): RETR passes on the next one", async () => {
  const send = async (c: ScriptedControl, body: string) => {
    c.reply(150, "Here it comes");
    const d = await c.data();
    await d.send(Buffer.from(body));
    d.end();
    c.reply(226, "Transfer complete");
  };
  const p = probeOf({
    on: {
      LIST: (c) => send(c, "-rw-------    1 0  0   2 Dec 05 14:53 a-secret\r\n-rw-r--r--    1 1  1   14 Dec 05 14:53 readme.txt\r\n"),
      RETR: (c, name) => (name === "a-secret" ? c.reply(550, "Failed to open file.") : send(c, "public readme\n")),
    },
  });
  p.mode = "epsv";
  p.readOnlyReason = "read-only account";
  await transfers(p);
  expect(item(p, "retr")).toBe("pass: readme.txt: 14 bytes, as listed (refused before it: RETR a-secret: Failed to open file. (550))");
}, 20_000);

test("over IPv6, a server refusing PASV (it can only name an IPv4 address) gets N/A for PASV, not FAIL", async () => {
  const server = await startServer({ host: "::1", users: [{ name: "me", password: "pw" }] });
  servers.push({ stop: () => void server.close() });
  const p = new Probe({ host: "::1", port: server.port, user: "me", password: "pw", timeoutMs: 3000 });
  probes.push(p);
  await dataConnections(p);
  expect(item(p, "pasv")).toStartWith("n/a: the control connection is IPv6 (PASV is IPv4 only; EPSV is its IPv6 form): ");
  expect(item(p, "epsv")).toStartWith("pass: ");
}, 20_000);

test("over IPv6 loopback, passive theft is N/A for want of a second IPv6 loopback address, not for not being on loopback", async () => {
  const server = await startServer({ host: "::1", users: [{ name: "me", password: "pw" }] });
  servers.push({ stop: () => void server.close() });
  const p = new Probe({ host: "::1", port: server.port, user: "me", password: "pw", timeoutMs: 3000 });
  probes.push(p);
  await pasvTheft(p);
  expect(item(p, "pasv-theft")).toBe("n/a: only checkable over IPv4 loopback (IPv6 has one loopback address, ::1; the probe needs a second)");
}, 20_000);

test("ABOR answered 226 before the upload's 426 (ProFTPD over TLS): FAIL naming the order, and NOOP's own 200 found", async () => {
  const server = startReadsBetweenData("226 Abort successful\r\n426 Transfer aborted. Data connection closed\r\n");
  servers.push(server);
  const p = new Probe({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 3000 });
  probes.push(p);
  Object.assign(p, { writable: true, scratch: "/", mode: "epsv" });
  await abor(p);
  expect(item(p, "abor")).toBe("fail: 226 then 426 (the upload's 426 came after ABOR's 226; RFC 959 sends it first); data connection closed by the server; NOOP 200");
}, 30_000);

test("STOR refused though MKD works (over quota): LIST and RETR judged in the login directory, upload items N/A, scratch removed", async () => {
  const root = tempDir("ftpkit-probe-quota-");
  writeFileSync(join(root, "existing.txt"), "already here\n");
  const server = await startServer({ root, users: [{ name: "me", password: "pw", quota: 100 }], write: true });
  servers.push({ stop: () => void server.close().then(() => removeDir(root)) });
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 3000 });
  const of = (id: string) => report.items.find((i) => i.id === id)!;
  expect(`${of("stor").status}: ${of("stor").reason}`).toEndWith("(552)");
  expect(of("list").status).toBe("pass");
  expect(`${of("retr").status}: ${of("retr").reason}`).toBe("pass: existing.txt: 13 bytes, as listed");
  for (const id of ["appe", "rename", "type-a", "abor", "stat"]) expect(`${id} ${of(id).status}: ${of(id).reason}`).toBe(`${id} n/a: nothing uploaded (STOR failed)`);
  expect(of("utf8").status).toBe("pass");
  expect(report.requiredFailed).toBe(1);
  expect(report.scratch.removed).toBe(true);
  expect(readdirSync(root)).toEqual(["existing.txt"]);
}, 60_000);

test("a quota that takes STOR's 64 KiB but not the upload held open for ABOR and STAT (552 mid-transfer): neither is FAIL, and nothing required fails", async () => {
  const server = await startServer({ users: [{ name: "me", password: "pw", quota: "150KB" }], write: true });
  servers.push({ stop: () => void server.close() });
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 3000 });
  const of = (id: string) => report.items.find((i) => i.id === id)!;
  expect(of("stor").status).toBe("pass");
  const refused = "the upload it needs was refused for space: Quota exceeded: upload aborted (552) (it sends at least 64 KiB; the account needs more room to check this)";
  expect(`abor ${of("abor").status}: ${of("abor").reason}`).toBe(`abor n/a: ${refused}`);
  // The server reads what a refused upload still sends (so curl reports the 552): a STAT sent
  // meanwhile is answered beside it, a pass; one that came after the cut, N/A as ABOR. Never a FAIL.
  const stat = `${of("stat").status}: ${of("stat").reason}`;
  expect(stat === `n/a: ${refused}` || /^pass: 213 while the upload was open .*upload then ended 552$/.test(stat)).toBe(true);
  expect(of("long-line").status).toBe("pass");
  expect(report.requiredFailed).toBe(0);
  expect(report.scratch.removed).toBe(true);
}, 60_000);

test("a server that hangs up on PWD: no MKD was sent, so the report names no scratch directory left behind", async () => {
  const server = startScriptedServer({ on: { PWD: (c) => c.drop() } });
  servers.push(server);
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 1000 });
  expect(report.items.find((i) => i.id === "pwd")?.status).toBe("fail");
  expect(server.commands.filter((l) => l.startsWith("MKD"))).toEqual([]);
  expect(report.scratch).toEqual({ path: null, removed: false });
}, 60_000);

test("a reply holding ESC sequences is shown escaped in the text report, so it cannot overwrite a verdict", async () => {
  const p = probeOf({ on: { PWD: (c) => c.reply(550, "\x1b[2K\x1b[1G  PASS  PWD \x00") } });
  const c = await p.open();
  p.adoptMain(c);
  await directories(p, c).catch(() => {});
  const shown = formatProbeItem(p.items.find((i) => i.id === "pwd")!);
  expect(shown).toStartWith("  FAIL  PWD *");
  expect(shown).toEndWith("\\x1b[2K\\x1b[1G PASS PWD \\x00 (550)");
  expect(/[\x00-\x1f]/.test(shown)).toBe(false);
}, 20_000);

test("a read-only account whose only file is 1 byte: REST is N/A (REST 0 proves nothing), not PASS", async () => {
  const root = tempDir("ftpkit-probe-tiny-");
  writeFileSync(join(root, "tiny"), "x");
  const server = await startServer({ root, users: [{ name: "ro", password: "pw" }] });
  servers.push({ stop: () => void server.close().then(() => removeDir(root)) });
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "ro", password: "pw", timeoutMs: 3000 });
  const of = (id: string) => report.items.find((i) => i.id === id)!;
  expect(`${of("retr").status}: ${of("retr").reason}`).toBe("pass: tiny: 1 bytes, as listed");
  expect(`${of("rest").status}: ${of("rest").reason}`).toStartWith("n/a: tiny has 1 byte, too small to resume from an offset; upload not tried (no scratch directory (MKD refused: ");
}, 30_000);

test("a URL directory that cannot be entered fails PWD, a required item, instead of N/A for the writing items", async () => {
  const server = await startServer({ users: [{ name: "me", password: "pw" }], write: true });
  servers.push({ stop: () => void server.close() });
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", dir: "/nope", timeoutMs: 3000 });
  const pwd = report.items.find((i) => i.id === "pwd")!;
  expect(`${pwd.status}: ${pwd.reason}`).toBe('fail: 257 "/", but the directory to work in, /nope, cannot be entered: No such file or directory (550)');
  expect(report.requiredFailed).toBeGreaterThan(0);
  expect(report.items.find((i) => i.id === "stor")!.reason).toBe("scratch directory not usable: cannot work in /nope");
  expect(report.scratch.path).toBeNull();
}, 30_000);

test("FEAT unanswered before login: FEAT fails, and the login is judged on a new session (not 'the server closed the control connection')", async () => {
  let first = true;
  const feat = (c: ScriptedControl) => {
    if (!first) return c.write("211-Features:\r\n EPSV\r\n211 End\r\n");
    first = false;
    return new Promise<void>(() => {});
  };
  const server = startScriptedServer({ on: { FEAT: feat } });
  servers.push(server);
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 500 });
  const of = (id: string) => report.items.find((i) => i.id === id)!;
  expect(`${of("feat").status}: ${of("feat").reason}`).toStartWith("fail: timed out waiting for the server's reply to FEAT");
  expect(`${of("login").status}: ${of("login").reason}`).toBe("pass: logged in as me");
}, 60_000);

test("SYST unanswered after login: PWD is judged on a new session, not failed with 'the server closed the control connection'", async () => {
  const server = startScriptedServer({ on: { SYST: () => new Promise(() => {}) } });
  servers.push(server);
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 500 });
  const pwd = report.items.find((i) => i.id === "pwd")!;
  expect(`${pwd.status}: ${pwd.reason}`).toStartWith("pass: 257 ");
}, 60_000);

test("a URL directory whose LIST is refused (an upload-only drop box): EPSV and PASV are judged on the login directory's listing", async () => {
  const listing = sendsListing(["-rw-r--r--    1 0  0   5 Dec 05 14:53 welcome.txt"]);
  const p = probeOf({ on: { LIST: (c, arg) => (arg === "/" ? listing(c, arg) : c.reply(550, "Permission denied")) } });
  p.adoptMain(await p.open());
  Object.assign(p, { loginDir: "/", home: "/incoming" });
  await dataConnections(p);
  expect(item(p, "epsv")).toBe("pass: LIST over EPSV: Directory send OK (226) (of the login directory /; here LIST: Permission denied (550))");
  expect(item(p, "passive")).toStartWith("pass: ");
}, 20_000);

test("the scratch directory's path, as the server named it, is shown escaped in the summary's last line", () => {
  const report = { target: "127.0.0.1:21", user: "me", tls: "none" as const, server: "", items: [], requiredFailed: 0, durationMs: 1 };
  for (const removed of [true, false]) {
    const last = formatProbeSummary({ ...report, scratch: { path: "/ftpkit-probe-1\x1b[2K\x1b[1Gok", removed } }).split("\n").at(-1)!;
    expect(last).toStartWith("scratch directory /ftpkit-probe-1\\x1b[2K\\x1b[1Gok ");
    expect(/[\x00-\x1f]/.test(last)).toBe(false);
  }
});
