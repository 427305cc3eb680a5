// `ftpkit test`'s items judged on what a server announces or how slowly it answers: the PASV
// reply's address, replies slower than 5 s, a check cut off by its cap, the read-only wording.
import { afterEach, expect, test } from "bun:test";
import type { Verdict } from "../../client/probe/runner.ts";
import { waitFor } from "../helpers/peers.ts";
import { Probe } from "../../client/probe/runner.ts";
import { startTestServer } from "../helpers/server.ts";
import { probeServer } from "../../client/probe/index.ts";
import { dataConnections } from "../../client/probe/checks-core.ts";
import { judgePasvAddress } from "../../client/probe/pasv-address.ts";
import { abor, longLine, statDuringTransfer } from "../../client/probe/checks-edge.ts";
import { startScriptedServer, type Script, type ScriptedControl, type ScriptedData } from "../client/scripted-server.ts";

const servers: { stop(): void }[] = [];
const probes: Probe[] = [];
afterEach(() => {
  for (const p of probes.splice(0)) p.closeAll();
  for (const s of servers.splice(0)) s.stop();
});

function item(p: Probe, id: string): string {
  const i = p.items.find((x) => x.id === id);
  return i ? `${i.status}: ${i.reason}` : "(not recorded)";
}

test("a 227 naming another address than the control connection's (--pasv-address on loopback): PASV passes and says so", async () => {
  const server = await startTestServer({ options: { pasvAddress: "10.9.9.9" } });
  servers.push({ stop: () => void server.stop() });
  const p = new Probe({ host: "127.0.0.1", port: server.port, user: "alice", password: "alice-pw", timeoutMs: 3000 });
  probes.push(p);
  await dataConnections(p);
  expect(item(p, "pasv")).toBe(
    "pass: LIST over PASV: Directory send OK (226); but 227 names 10.9.9.9, not 127.0.0.1 where the probe is connected: a client that trusts the 227 address connects there (this probe, like curl, connects to the control address)",
  );
  expect(item(p, "epsv")).toBe("pass: LIST over EPSV: Directory send OK (226)");
}, 20_000);

test("the 227 address: a private one from a server reached at a public address fails (NAT misconfiguration); others pass with a note", () => {
  const verdict = (control: string, announced: string | null) => judgePasvAddress(control, announced)?.status ?? "same";
  expect(verdict("203.0.113.5", "10.9.9.9")).toBe("fail");
  expect(verdict("203.0.113.5", "192.168.1.20")).toBe("fail");
  expect(verdict("::ffff:203.0.113.5", "172.16.0.3")).toBe("fail");
  expect(verdict("203.0.113.5", "0.0.0.0")).toBe("fail");
  expect(verdict("192.168.1.20", "203.0.113.5")).toBe("pass"); // probed from inside the NAT: pasv_address set for outside clients
  expect(verdict("127.0.0.1", "10.9.9.9")).toBe("pass");
  expect(verdict("203.0.113.5", "198.51.100.7")).toBe("pass");
  expect(verdict("::ffff:127.0.0.1", "127.0.0.1")).toBe("same");
  expect(verdict("127.0.0.1", null)).toBe("same");
  expect(judgePasvAddress("203.0.113.5", "10.9.9.9")!.note).toBe(
    "227 names 10.9.9.9, a private address, while the server is reached at 203.0.113.5: a client that trusts the 227 address connects there (this probe, like curl, connects to the control address) and fails (NAT: set the server's passive address to its public one)",
  );
});

/**
 * A server that takes 5.5 s to answer CWD, NOOP, ABOR and STAT (and answers ABOR and STAT during an
 * upload): slower than the 5 s these checks waited, within the probe's 8 s timeout.
 */
function slowServer(): Script {
  const SLOW = 5500;
  let upload: ScriptedData | null = null;
  let aborted = false;
  const slow = (answer: (c: ScriptedControl, arg: string) => void) => async (c: ScriptedControl, arg: string) => {
    await Bun.sleep(SLOW);
    answer(c, arg);
  };
  return {
    on: {
      CWD: slow((c) => c.reply(250, "ok")),
      NOOP: slow((c, arg) => (arg.length > 1000 ? c.reply(500, "Line too long") : c.reply(200, "ok"))),
      STOR: async (c) => {
        c.reply(150, "Go ahead");
        const d = await c.data();
        upload = d;
        void d.closing().then(() => aborted || c.reply(226, "Transfer complete"));
      },
      ABOR: slow((c) => {
        aborted = true;
        upload?.reset();
        c.write("426 Transfer aborted\r\n226 Abort successful\r\n");
      }),
      STAT: slow((c) => c.write("211-Status\r\n Transfer in progress: STOR stat.bin\r\n211 End of status\r\n")),
    },
  };
}

function slowProbe(): Probe {
  const server = startScriptedServer(slowServer());
  servers.push(server);
  const p = new Probe({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 8000 });
  probes.push(p);
  Object.assign(p, { writable: true, scratch: "/", mode: "epsv" });
  return p;
}

test("ABOR answered after 5.5 s, by a server whose CWD and NOOP take as long, within an 8 s timeout: passes", async () => {
  const p = slowProbe();
  await abor(p);
  expect(item(p, "abor")).toBe("pass: 426 then 226; data connection closed by the server; NOOP 200");
}, 60_000);

test("STAT answered after 5.5 s during an upload, by a server whose CWD takes as long, within an 8 s timeout: passes", async () => {
  const p = slowProbe();
  await statDuringTransfer(p);
  expect(item(p, "stat")).toBe('pass: 211 while the upload was open ("Transfer in progress: STOR stat.bin"); upload then ended 226');
}, 60_000);

test("a 64 KiB line refused after 5.5 s, by a server whose NOOP takes as long, within an 8 s timeout: passes, the session going on", async () => {
  const p = slowProbe();
  await longLine(p);
  expect(item(p, "long-line")).toBe("pass: Line too long (500); the session goes on");
}, 60_000);

test("a check cut off by its time cap has its sessions ended and may take no other: the next check starts on a session of its own", async () => {
  const server = startScriptedServer({ on: { NOOP: async (c) => (await Bun.sleep(1500), c.reply(200, "ok")), HELP: (c) => c.reply(214, "help") } });
  servers.push(server);
  const p = new Probe({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 3000 });
  probes.push(p);
  const shared = await p.session();
  // A check whose waits are each bounded but whose whole outlasts its cap (300 ms here), and which
  // goes on after a failed wait: it must not come back on the shared session once cut off.
  let running: Promise<Verdict> = Promise.resolve(["pass", ""]);
  const body = async (): Promise<Verdict> => {
    const side = await p.open();
    await side.command("NOOP").catch(() => null);
    const again = await p.session();
    await again.command("HELP");
    return ["pass", "done"];
  };
  expect(await p.check("idle", () => (running = body()), 300)).toBe("fail");
  expect(item(p, "idle")).toBe("fail: no answer within 0.3 s");
  await waitFor(() => server.openConnections() === 0, 1000, "the capped check's sessions and the shared one to be closed");
  expect(shared.control.isClosed).toBe(true);
  await expect(running).rejects.toThrow("the idle check was cut off by its time cap");
  expect(server.commands).not.toContain("HELP");
  const next = await p.session();
  expect((await next.command("HELP")).code).toBe(214);
  expect(server.commands.filter((l) => l === "HELP")).toEqual(["HELP"]);
}, 20_000);

test("an account with write but not modify permission (uploads, no MKD: a drop box) is not called read-only: STOR is N/A for want of a scratch directory", async () => {
  const server = await startTestServer({ users: [{ name: "drop", password: "pw", perms: ["read", "write"] }] });
  servers.push({ stop: () => void server.stop() });
  const report = await probeServer({ host: "127.0.0.1", port: server.port, user: "drop", password: "pw", timeoutMs: 3000 });
  const stor = report.items.find((i) => i.id === "stor")!;
  expect(`${stor.status}: ${stor.reason}`).toBe("n/a: no scratch directory (MKD refused: Permission denied (550)), and the probe writes only inside one: nothing uploaded");
  expect(report.items.some((i) => /read-only/.test(i.reason))).toBe(false);
}, 30_000);
