// IPv6 (RFC 2428): EPSV and EPRT over ::1, PASV refused on an IPv6 control connection, curl with [::1].
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import type { Wire } from "../helpers/wire.ts";
import { spawnServe } from "../helpers/serve-proc.ts";
import { useCleanups } from "../helpers/cleanups.ts";

const servers = useServers();
const owned = useCleanups("ftpkit-ipv6-");

async function loginV6(): Promise<Wire> {
  await servers.start({ options: { host: "::1" } });
  return servers.login("alice", "alice-pw", 230, "::1");
}

test("EPSV over ::1 lists and downloads", async () => {
  const w = await loginV6();
  const list = await w.transfer("LIST");
  expect(list.final?.code).toBe(226);
  expect(list.data.toString()).toContain("hello.txt");
  const get = await w.transfer("RETR hello.txt");
  expect(get.data.equals(readFileSync(join(servers.server.home("alice"), "hello.txt")))).toBe(true);
});

test("PASV on an IPv6 control connection is refused with a pointer to EPSV", async () => {
  const w = await loginV6();
  const r = await w.cmd("PASV");
  expect(r.code).toBe(425);
  expect(r.lines[0]).toContain("EPSV");
});

// With --pasv-address naming an IPv4 address, PASV answered 227 with it while its listener was on
// ::1: the client's connect was refused and RETR waited out the data timeout.
test("PASV on an IPv6 control connection is refused with --pasv-address set too", async () => {
  await servers.start({ options: { host: "::1", pasvAddress: "127.0.0.1" } });
  const w = await servers.login("alice", "alice-pw", 230, "::1");
  const r = await w.cmd("PASV");
  expect([r.code, r.lines[0]]).toEqual([425, "PASV needs IPv4; use EPSV"]);
});

test("EPSV 2 is 229 on an IPv6 control connection, EPSV 1 is 522 naming protocol 2", async () => {
  const w = await loginV6();
  expect((await w.cmd("EPSV 2")).code).toBe(229);
  const v4 = await w.cmd("EPSV 1");
  expect(v4.code).toBe(522);
  expect(v4.lines[0]).toBe("Network protocol not supported, use (2)");
});

/** EPRT |2|`spelled`|port| then RETR hello.txt: the file arrives on our listener on ::1, and 226. */
async function retrActiveV6(w: Wire, spelled: string): Promise<void> {
  const chunks: Buffer[] = [];
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));
  const listener = Bun.listen({
    hostname: "::1",
    port: 0,
    socket: { data: (_s, d) => void chunks.push(Buffer.from(d)), close: () => closed() },
  });
  try {
    expect((await w.cmd(`EPRT |2|${spelled}|${listener.port}|`)).code).toBe(200);
    expect((await w.cmd("RETR hello.txt")).code).toBe(150);
    await Promise.race([done, Bun.sleep(5000)]);
    expect((await w.read())?.code).toBe(226);
    expect(Buffer.concat(chunks).equals(readFileSync(join(servers.server.home("alice"), "hello.txt")))).toBe(true);
  } finally {
    listener.stop(true);
  }
}

test("EPRT |2|::1|port| makes an active IPv6 data connection", async () => {
  await retrActiveV6(await loginV6(), "::1");
});

test("EPRT with ::1 written out in full (Java's getHostAddress, which Apache Commons Net sends) makes the active connection too", async () => {
  await servers.start({ options: { host: "::1" } });
  for (const spelled of ["0:0:0:0:0:0:0:1", "0000:0000::0001"]) {
    const w = await servers.login("alice", "alice-pw", 230, "::1");
    try {
      await retrActiveV6(w, spelled);
    } finally {
      w.close();
    }
  }
});

test("EPRT to another IPv6 address, however written, is refused (bounce protection)", async () => {
  const w = await loginV6();
  for (const other of ["::2", "0:0:0:0:0:0:0:2", "::00000"]) expect((await w.cmd(`EPRT |2|${other}|40000|`)).code).toBe(501);
  // An IPv4 address however written (here IPv4-mapped) is the other protocol: 522, as |1|127.0.0.1| is.
  expect((await w.cmd("EPRT |2|::ffff:127.0.0.1|40000|")).lines[0]).toBe("Network protocol not supported, use (2)");
});

test("EPRT to an IPv4 address from an IPv6 client is refused with 522 naming the protocol to use (RFC 2428 §2, as ProFTPD), and nothing is kept", async () => {
  const w = await loginV6();
  const r = await w.cmd("EPRT |1|127.0.0.1|40000|");
  expect([r.code, r.lines[0]]).toEqual([522, "Network protocol not supported, use (2)"]);
  expect((await w.cmd("RETR hello.txt")).code).toBe(425);
});

test("curl downloads over [::1]", async () => {
  const w = await loginV6();
  w.close();
  const proc = Bun.spawn(["curl", "-s", "-g", "--max-time", "10", `ftp://alice:alice-pw@[::1]:${servers.server.port}/hello.txt`], {
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    expect(out).toBe(readFileSync(join(servers.server.home("alice"), "hello.txt"), "utf8"));
  } finally {
    proc.kill();
  }
});

test("ftpkit serve --host ::1 (its own process) is found at the port its line names, ftp://[::1]:PORT, and curl lists it there", async () => {
  const dir = owned.workDir();
  writeFileSync(join(dir, "v6.txt"), "six\n");
  const serve = await spawnServe(["--root", dir, "--anonymous", "--host", "::1"], { cwd: dir, timeoutMs: 10_000 });
  owned.later(async () => void (await serve.kill()));
  expect(serve.stdout() + serve.stderr()).toContain(`listening on ftp://[::1]:${serve.port} `);
  const proc = Bun.spawn(["curl", "-sS", "-g", "--max-time", "10", "-l", `ftp://[::1]:${serve.port}/`], { stdout: "pipe", stderr: "pipe" });
  owned.later(() => void proc.kill(9));
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect([code, out]).toEqual([0, "v6.txt\n"]);
}, 30_000);
