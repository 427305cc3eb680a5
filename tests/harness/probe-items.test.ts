// `ftpkit test`'s items judged on what a server announces or how slowly it answers: the PASV
// reply's address, replies slower than 5 s, a check cut off by its cap, the read-only wording.
import { afterEach, expect, test } from "bun:test";
import { Probe } from "../../client/probe/runner.ts";
import { startTestServer } from "../helpers/server.ts";
import { dataConnections } from "../../client/probe/checks-core.ts";
import { judgePasvAddress } from "../../client/probe/pasv-address.ts";

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
