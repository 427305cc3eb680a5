// SITE UMASK [mask] as vsftpd has it (its replies, measured on vsftpd 3: "200 Your current UMASK is
// 022", "200 UMASK set to 027"): the bits a session's new files and directories leave out. The
// server process's umask stays in it: a session narrows what the admin allows, never widens it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { PROCESS_UMASK } from "../../server/session.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer();
});

afterAll(async () => {
  await srv.stop();
});

async function alice(): Promise<Wire> {
  const w = await Wire.connect(srv.port);
  await w.login("alice", "alice-pw");
  return w;
}

/** vsftpd's spelling of a mask: 0, 07, 022, 0777. */
const octal = (mask: number) => (mask === 0 ? "0" : `0${mask.toString(8)}`);
const modeOf = (name: string) => statSync(join(srv.home("alice"), name)).mode & 0o777;
const data = new TextEncoder().encode("bytes\n");

describe("SITE UMASK", () => {
  test("without a mask: 200 with the session's umask, the server process's at first", async () => {
    const w = await alice();
    expect(await w.cmd("SITE UMASK")).toEqual({ code: 200, lines: [`Your current UMASK is ${octal(PROCESS_UMASK)}`] });
    w.close();
  });

  test("SITE UMASK 027: files that STOR, APPE and STOU create are 0640, MKD's directories 0750; an overwrite keeps the replaced file's bits", async () => {
    const w = await alice();
    const mask = 0o027 | PROCESS_UMASK;
    expect(await w.cmd("SITE UMASK 027")).toEqual({ code: 200, lines: [`UMASK set to ${octal(mask)}`] });
    expect(await w.cmd("SITE UMASK")).toEqual({ code: 200, lines: [`Your current UMASK is ${octal(mask)}`] });
    expect((await w.transfer("STOR um-stor.txt", data)).final?.code).toBe(226);
    expect((await w.transfer("APPE um-appe.txt", data)).final?.code).toBe(226);
    expect((await w.transfer("STOU um-stou.txt", data)).final?.code).toBe(226);
    expect((await w.cmd("MKD um-dir")).code).toBe(257);
    for (const name of ["um-stor.txt", "um-appe.txt", "um-stou.txt"]) expect({ name, mode: modeOf(name) }).toEqual({ name, mode: 0o666 & ~mask });
    expect(modeOf("um-dir")).toBe(0o777 & ~mask);
    writeFileSync(join(srv.home("alice"), "um-old.txt"), "old");
    chmodSync(join(srv.home("alice"), "um-old.txt"), 0o604);
    expect((await w.transfer("STOR um-old.txt", data)).final?.code).toBe(226);
    expect(modeOf("um-old.txt")).toBe(0o604);
    w.close();
  });

  test("a session cannot widen the server's umask: SITE UMASK 0 keeps the process's bits, and says so", async () => {
    const w = await alice();
    expect(await w.cmd("SITE UMASK 0")).toEqual({ code: 200, lines: [`UMASK set to ${octal(PROCESS_UMASK)}`] });
    expect((await w.transfer("STOR um-wide.txt", data)).final?.code).toBe(226);
    expect(modeOf("um-wide.txt")).toBe(0o666 & ~PROCESS_UMASK);
    w.close();
  });

  test("a directory keeps its owner's read and search bits, as SITE CHMOD leaves them: the server must list it", async () => {
    const w = await alice();
    expect((await w.cmd("SITE UMASK 777")).code).toBe(200);
    expect((await w.cmd("MKD um-closed")).code).toBe(257);
    expect(modeOf("um-closed")).toBe(0o500);
    w.close();
  });

  test("it is the session's own: another session of the same user still has the process's umask", async () => {
    const a = await alice();
    expect((await a.cmd("SITE UMASK 077")).code).toBe(200);
    const b = await alice();
    expect(await b.cmd("SITE UMASK")).toEqual({ code: 200, lines: [`Your current UMASK is ${octal(PROCESS_UMASK)}`] });
    expect((await b.transfer("STOR um-other.txt", data)).final?.code).toBe(226);
    expect(modeOf("um-other.txt")).toBe(0o666 & ~PROCESS_UMASK);
    a.close();
    b.close();
  });

  test("a mask that is not 1 to 4 octal digits is refused with 501 and changes nothing", async () => {
    const w = await alice();
    expect((await w.cmd("SITE UMASK 027")).code).toBe(200);
    for (const bad of ["abc", "8", "027 x", "12345", "-1"]) {
      expect({ bad, reply: await w.cmd(`SITE UMASK ${bad}`) }).toEqual({ bad, reply: { code: 501, lines: ["Usage: SITE UMASK [mask], e.g. SITE UMASK 027"] } });
    }
    expect((await w.cmd("SITE UMASK")).lines[0]).toBe(`Your current UMASK is ${octal(0o027 | PROCESS_UMASK)}`);
    w.close();
  });

  test("SITE HELP names it", async () => {
    const w = await alice();
    expect((await w.cmd("SITE HELP")).lines.join("\n")).toContain("UMASK [mask]");
    w.close();
  });
});
