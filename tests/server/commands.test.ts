// Every command against a real server, with exact reply codes (issue #2).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { parseEpsvReply, parseHostPort } from "../../protocol/address.ts";
import { parseHashReply } from "../../protocol/hash.ts";
import { parseListLine, parseMlsxLine } from "../../protocol/listing.ts";
import { unquotePath } from "../../protocol/path.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

let srv: TestServer;
const wires: Wire[] = [];

async function connect(): Promise<Wire> {
  const w = await Wire.connect(srv.port);
  wires.push(w);
  return w;
}

async function alice(): Promise<Wire> {
  const w = await connect();
  const r = await w.login("alice", "alice-pw");
  expect(r.code).toBe(230);
  return w;
}

function text(r: { lines: string[] }): string {
  return r.lines.join("\n");
}

afterEach(() => {
  for (const w of wires.splice(0)) w.close();
});

describe("login and session commands", () => {
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(() => srv.stop());

  test("USER then PASS with the right password logs in (331, 230)", async () => {
    const w = await connect();
    expect((await w.read())!.code).toBe(220);
    expect((await w.cmd("USER alice")).code).toBe(331);
    expect((await w.cmd("PASS alice-pw")).code).toBe(230);
    expect((await w.cmd("PWD")).code).toBe(257);
  });

  test("a wrong password and an unknown user get the same 530 text", async () => {
    const a = await connect();
    const bad = await a.login("alice", "wrong");
    const b = await connect();
    const unknown = await b.login("mallory", "whatever");
    expect(bad.code).toBe(530);
    expect(unknown.code).toBe(530);
    expect(text(unknown)).toBe(text(bad));
  });

  test("PASS without USER is a bad sequence (503)", async () => {
    const w = await connect();
    await w.read();
    expect((await w.cmd("PASS x")).code).toBe(503);
  });

  test("USER of another account after login is refused", async () => {
    const w = await alice();
    expect((await w.cmd("USER bob")).code).toBe(530);
    expect((await w.cmd("USER Alice")).code).toBe(530);
  });

  test("USER of the logged-in account again is 230 and keeps the session (as ProFTPD; vsftpd 331 then 230)", async () => {
    const w = await alice();
    expect((await w.cmd("CWD docs")).code).toBe(250);
    expect((await w.cmd("USER alice")).code).toBe(230);
    expect((await w.cmd("PASS alice-pw")).code).toBe(503);
    expect((await w.cmd("PWD")).lines[0]).toStartWith('"/docs"');
  });

  test("commands that need a login answer 530 before it", async () => {
    const w = await connect();
    await w.read();
    for (const line of ["PWD", "CWD /", "LIST", "RETR hello.txt", "STOR x", "DELE hello.txt", "MKD x", "SIZE hello.txt", "EPSV", "PASV", "ABOR", "SITE QUOTA", "AVBL"]) {
      expect({ line, code: (await w.cmd(line)).code }).toEqual({ line, code: 530 });
    }
  });

  test("QUIT says 221 and closes the connection", async () => {
    const w = await alice();
    expect((await w.cmd("QUIT")).code).toBe(221);
    expect(await w.read(2000)).toBeNull();
    expect(w.closed).toBe(true);
  });

  test("NOOP 200, SYST 215", async () => {
    const w = await alice();
    expect((await w.cmd("NOOP")).code).toBe(200);
    const syst = await w.cmd("SYST");
    expect(syst.code).toBe(215);
    expect(syst.lines[0]).toContain("UNIX");
  });

  const settings: Array<[string, number]> = [
    ["TYPE A", 200],
    ["TYPE I", 200],
    ["TYPE L 8", 200],
    ["TYPE A N", 200],
    ["TYPE E", 504],
    ["TYPE X", 504],
    ["MODE S", 200],
    ["MODE B", 200],
    ["MODE C", 504],
    ["STRU F", 200],
    ["STRU R", 504],
    ["STRU P", 504],
    ["OPTS UTF8 ON", 200],
    ["OPTS utf8 on", 200],
    ["OPTS HASH SHA-1", 200],
    ["OPTS HASH NOPE", 501],
    ["OPTS MLST type;size;", 200],
    ["OPTS FOO", 501],
    ["ALLO 100", 202],
    // 100 PB, more than any test machine's disk (alice has no quota): said to be available before.
    ["ALLO 100000000000000000", 552],
    ["ALLO abc", 501],
  ];
  for (const [line, code] of settings) {
    test(`${line} → ${code}`, async () => {
      const w = await alice();
      expect((await w.cmd(line)).code).toBe(code);
    });
  }

  test("FEAT lists the extensions (211 multi-line), also before login", async () => {
    const w = await connect();
    await w.read();
    const r = await w.cmd("FEAT");
    expect(r.code).toBe(211);
    const feats = r.lines.slice(1, -1).map((l) => l.trim().split(" ")[0]);
    for (const f of ["UTF8", "EPSV", "EPRT", "MLST", "SIZE", "MDTM", "REST", "HASH", "AVBL", "RANG", "XMD5", "XSHA256", "XCRC"]) {
      expect(feats).toContain(f);
    }
    expect(r.lines.some((l) => l.trim() === "REST STREAM")).toBe(true);
    expect(r.lines.find((l) => l.trim().startsWith("HASH "))).toContain("SHA-256*");
  });

  test("HELP lists the verbs (214) and HELP <verb> describes one; an unknown verb is 502", async () => {
    const w = await connect();
    await w.read();
    const all = await w.cmd("HELP");
    expect(all.code).toBe(214);
    for (const v of ["RETR", "STOR", "MLSD", "EPSV", "XCUP"]) expect(text(all)).toContain(v);
    const one = await w.cmd("HELP retr");
    expect(one.code).toBe(214);
    expect(text(one)).toContain("RETR");
    expect((await w.cmd("HELP FROB")).code).toBe(502);
  });

  test("STAT without a transfer is 211 and says who is logged in", async () => {
    const w = await alice();
    const r = await w.cmd("STAT");
    expect(r.code).toBe(211);
    expect(text(r)).toContain("alice");
  });

  test("STAT <path> lists on the control connection (213)", async () => {
    const w = await alice();
    const r = await w.cmd("STAT /docs");
    expect(r.code).toBe(213);
    expect(text(r)).toContain("report.txt");
    expect((await w.cmd("STAT /nope")).code).toBe(550);
  });

  test("STAT followed only by spaces is STAT alone (211 status), as ProFTPD takes it, not a listing of the current directory", async () => {
    const w = await alice();
    for (const line of ["STAT ", "STAT  ", "STAT \t "]) {
      const r = await w.cmd(line);
      expect({ line, code: r.code }).toEqual({ line, code: 211 });
      expect(text(r)).toContain("Logged in as alice");
      expect(text(r)).not.toContain("hello.txt");
    }
  });

  test("an unknown verb is 500, a malformed line is 500, a missing argument is 501", async () => {
    const w = await alice();
    expect((await w.cmd("FROB")).code).toBe(500);
    // Known RFC 959 verbs that ftpkit does not offer are 502, not "unknown".
    for (const verb of ["ACCT x", "SMNT /", "REIN"]) expect((await w.cmd(verb)).code).toBe(502);
    expect((await w.cmd("X")).code).toBe(500);
    for (const v of ["CWD", "RETR", "STOR", "DELE", "MKD", "RMD", "RNFR", "RNTO", "SIZE", "MDTM", "USER", "TYPE", "REST", "PORT", "EPRT", "SITE", "HASH", "XMD5"]) {
      expect({ v, code: (await w.cmd(v)).code }).toEqual({ v, code: 501 });
    }
  });

  test("an over-long command line gets 500 and the session goes on", async () => {
    const w = await alice();
    w.raw("NOOP " + "x".repeat(5000) + "\r\n");
    expect((await w.read())!.code).toBe(500);
    expect((await w.cmd("NOOP")).code).toBe(200);
  });
});

describe("directories and names", () => {
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(() => srv.stop());

  test("PWD and XPWD answer 257 with the quoted path", async () => {
    const w = await alice();
    const r = await w.cmd("PWD");
    expect(r.code).toBe(257);
    expect(unquotePath(r.lines[0]!)).toBe("/");
    expect((await w.cmd("XPWD")).code).toBe(257);
  });

  test("CWD/XCWD into a directory 250, into a missing one or a file 550; CDUP/XCUP go up", async () => {
    const w = await alice();
    expect((await w.cmd("CWD docs")).code).toBe(250);
    expect(unquotePath((await w.cmd("PWD")).lines[0]!)).toBe("/docs");
    expect((await w.cmd("XCWD nested")).code).toBe(250);
    expect(unquotePath((await w.cmd("PWD")).lines[0]!)).toBe("/docs/nested");
    expect((await w.cmd("CDUP")).code).toBe(250);
    expect(unquotePath((await w.cmd("PWD")).lines[0]!)).toBe("/docs");
    expect((await w.cmd("XCUP")).code).toBe(250);
    expect((await w.cmd("CDUP")).code).toBe(250);
    expect(unquotePath((await w.cmd("PWD")).lines[0]!)).toBe("/");
    expect((await w.cmd("CWD nope")).code).toBe(550);
    expect((await w.cmd("CWD hello.txt")).code).toBe(550);
    expect(unquotePath((await w.cmd("PWD")).lines[0]!)).toBe("/");
  });

  test("MKD/XMKD answer 257 with the quoted new path; RMD/XRMD remove it", async () => {
    const w = await alice();
    const r = await w.cmd("MKD newdir");
    expect(r.code).toBe(257);
    expect(unquotePath(r.lines[0]!)).toBe("/newdir");
    expect(r.lines[0]).toContain("created");
    expect(existsSync(join(srv.home("alice"), "newdir"))).toBe(true);
    expect((await w.cmd("MKD newdir")).code).toBe(550);
    expect((await w.cmd("XMKD /newdir/sub")).code).toBe(257);
    expect((await w.cmd("RMD newdir")).code).toBe(550); // not empty
    expect((await w.cmd("XRMD newdir/sub")).code).toBe(250);
    expect((await w.cmd("RMD newdir")).code).toBe(250);
    expect((await w.cmd("RMD newdir")).code).toBe(550);
    expect((await w.cmd("RMD hello.txt")).code).toBe(550);
    expect(existsSync(join(srv.home("alice"), "newdir"))).toBe(false);
  });

  test("RMD of the current directory removes it (as vsftpd and ProFTPD); CDUP then leads out", async () => {
    const w = await alice();
    expect((await w.cmd("XMKD xm")).code).toBe(257);
    expect((await w.cmd("XCWD /xm")).code).toBe(250);
    // Before: 550 Cannot remove the current directory.
    expect((await w.cmd("XRMD /xm")).code).toBe(250);
    expect(existsSync(join(srv.home("alice"), "xm"))).toBe(false);
    expect((await w.transfer("NLST")).first.code).toBe(550);
    expect((await w.cmd("CDUP")).code).toBe(250);
    expect(unquotePath((await w.cmd("PWD")).lines[0]!)).toBe("/");
  });

  test("SITE CHMOD takes a mode of fewer than three octal digits as chmod(1) does (64 is 064)", async () => {
    const w = await alice();
    writeFileSync(join(srv.home("alice"), "chmod-64.txt"), "x");
    expect((await w.cmd("SITE CHMOD 64 chmod-64.txt")).code).toBe(200);
    expect(statSync(join(srv.home("alice"), "chmod-64.txt")).mode & 0o777).toBe(0o064);
    expect((await w.cmd("DELE chmod-64.txt")).code).toBe(250);
  });

  test("OPTS UTF8 ON is 200; OFF, which ftpkit never does, is refused 501", async () => {
    const w = await alice();
    expect((await w.cmd("OPTS UTF8 ON")).code).toBe(200);
    expect((await w.cmd("OPTS UTF8")).code).toBe(200);
    const off = await w.cmd("OPTS UTF8 OFF");
    expect(off.code).toBe(501);
    expect(off.lines[0]).toContain("cannot be turned off");
  });

  test("MFMT to a time the file system cannot hold is 501 and leaves the old time", async () => {
    const w = await alice();
    const file = join(srv.home("alice"), "mfmt-range.txt");
    writeFileSync(file, "x");
    const before = statSync(file).mtimeMs;
    const r = await w.cmd("MFMT 19000101000000 mfmt-range.txt");
    // Before: 213 Modify=19011213204552 (ext4's earliest time, stored in its place).
    expect(r.code).toBe(501);
    // Put back as the storage sets times: to the millisecond.
    expect(Math.floor(statSync(file).mtimeMs)).toBe(Math.floor(before));
    expect((await w.cmd("MFMT 20200102030405 mfmt-range.txt")).lines[0]).toContain("Modify=20200102030405");
    expect((await w.cmd("DELE mfmt-range.txt")).code).toBe(250);
  });

  test("a directory name with a quote is doubled in 257 and PWD", async () => {
    const w = await alice();
    const name = 'say "hi" there';
    const r = await w.cmd(`MKD ${name}`);
    expect(r.code).toBe(257);
    expect(r.lines[0]).toContain('"/say ""hi"" there"');
    expect(unquotePath(r.lines[0]!)).toBe(`/${name}`);
    expect((await w.cmd(`CWD ${name}`)).code).toBe(250);
    expect(unquotePath((await w.cmd("PWD")).lines[0]!)).toBe(`/${name}`);
  });

  test("DELE removes a file (250); a missing one or a directory is 550", async () => {
    const w = await alice();
    writeFileSync(join(srv.home("alice"), "gone.txt"), "x");
    expect((await w.cmd("DELE gone.txt")).code).toBe(250);
    expect(existsSync(join(srv.home("alice"), "gone.txt"))).toBe(false);
    expect((await w.cmd("DELE gone.txt")).code).toBe(550);
    expect((await w.cmd("DELE docs")).code).toBe(550);
  });

  test("RNFR/RNTO rename (350, 250); RNTO without RNFR is 503; RNFR of a missing name 550", async () => {
    const w = await alice();
    writeFileSync(join(srv.home("alice"), "old name.txt"), "abc");
    expect((await w.cmd("RNFR old name.txt")).code).toBe(350);
    expect((await w.cmd("RNTO docs/new name.txt")).code).toBe(250);
    expect(readFileSync(join(srv.home("alice"), "docs/new name.txt"), "utf8")).toBe("abc");
    expect((await w.cmd("RNTO again.txt")).code).toBe(503);
    expect((await w.cmd("RNFR missing.txt")).code).toBe(550);
    expect((await w.cmd("RNTO x.txt")).code).toBe(503);
  });

  test("RNTO of a directory into itself is 550 saying so (it said only 'Permission denied')", async () => {
    const w = await alice();
    mkdirSync(join(srv.home("alice"), "outer", "inner"), { recursive: true });
    expect((await w.cmd("RNFR outer")).code).toBe(350);
    const r = await w.cmd("RNTO outer/inner/moved");
    expect([r.code, r.lines[0]]).toEqual([550, "Permission denied: cannot move a directory into itself"]);
  });

  test("LIST sends ls -l lines (150, 226) including names with spaces, quotes and UTF-8", async () => {
    const w = await alice();
    const { first, final, data } = await w.transfer("LIST");
    expect(first.code).toBe(150);
    expect(final!.code).toBe(226);
    const lines = data.toString("utf8").split("\r\n").filter(Boolean);
    const names = lines.map((l) => parseListLine(l)!.name);
    for (const n of ["hello.txt", "docs", 'say "hi".txt', "café-ü.txt"]) expect(names).toContain(n);
    expect(names.some((n) => n.includes(" "))).toBe(true);
    const docs = lines.map((l) => parseListLine(l)!).find((e) => e.name === "docs")!;
    expect(docs.type).toBe("dir");
    const hello = lines.map((l) => parseListLine(l)!).find((e) => e.name === "hello.txt")!;
    expect(hello.size).toBe(18);
  });

  test("LIST accepts ls options and a file name", async () => {
    const w = await alice();
    const r = await w.transfer("LIST -la docs");
    expect(r.final!.code).toBe(226);
    expect(r.data.toString()).toContain("report.txt");
    const one = await w.transfer("LIST hello.txt");
    expect(one.final!.code).toBe(226);
    expect(one.data.toString().trim().split("\r\n")).toHaveLength(1);
  });

  test("LIST of a missing path is 550 without a data transfer", async () => {
    const w = await alice();
    const r = await w.transfer("LIST nope");
    expect(r.first.code).toBe(550);
  });

  test("NLST sends bare names", async () => {
    const w = await alice();
    const { final, data } = await w.transfer("NLST");
    expect(final!.code).toBe(226);
    const names = data.toString("utf8").split("\r\n").filter(Boolean);
    expect(names).toContain("hello.txt");
    expect(names).toContain("café-ü.txt");
    expect(names).toContain('say "hi".txt');
  });

  test("MLSD sends facts with a cdir entry; MLSD of a file is refused", async () => {
    const w = await alice();
    const { final, data } = await w.transfer("MLSD docs");
    expect(final!.code).toBe(226);
    const entries = data.toString("utf8").split("\r\n").filter(Boolean).map(parseMlsxLine);
    expect(entries.find((e) => e.typeFact === "cdir")).toBeTruthy();
    const report = entries.find((e) => e.name === "report.txt")!;
    expect(report).toMatchObject({ type: "file", size: 7 });
    expect(entries.find((e) => e.name === "nested")!.type).toBe("dir");
    const f = await w.transfer("MLSD hello.txt");
    expect(f.first.code).toBeGreaterThanOrEqual(500);
  });

  test("MLST answers 250 multi-line with the facts of one path", async () => {
    const w = await alice();
    const r = await w.cmd("MLST hello.txt");
    expect(r.code).toBe(250);
    expect(r.lines.length).toBe(3);
    const info = parseMlsxLine(r.lines[1]!.trimStart());
    expect(info).toMatchObject({ name: "/hello.txt", type: "file", size: 18 });
    expect((await w.cmd("MLST nope")).code).toBe(550);
  });

  test("SIZE 213 for a file, 550 for a directory or missing file; MDTM 213 time-val", async () => {
    const w = await alice();
    expect(await w.cmd("SIZE hello.txt")).toEqual({ code: 213, lines: ["18"] });
    expect((await w.cmd("SIZE docs")).code).toBe(550);
    expect((await w.cmd("SIZE nope")).code).toBe(550);
    const m = await w.cmd("MDTM hello.txt");
    expect(m.code).toBe(213);
    expect(m.lines[0]).toMatch(/^\d{14}$/);
    expect((await w.cmd("MDTM nope")).code).toBe(550);
  });

  test("a UTF-8 name works for SIZE and RETR", async () => {
    const w = await alice();
    expect((await w.cmd("SIZE café-ü.txt")).code).toBe(213);
    const r = await w.transfer("RETR café-ü.txt");
    expect(r.final!.code).toBe(226);
    expect(r.data).toEqual(readFileSync(join(srv.home("alice"), "café-ü.txt")));
  });
});

describe("transfers", () => {
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(() => srv.stop());

  test("RETR sends the file (150, 226); RETR of a missing file 550, of a directory 550", async () => {
    const w = await alice();
    const r = await w.transfer("RETR hello.txt");
    expect(r.first.code).toBe(150);
    expect(r.final!.code).toBe(226);
    expect(r.data).toEqual(readFileSync(join(srv.home("alice"), "hello.txt")));
    expect((await w.transfer("RETR nope")).first.code).toBe(550);
    expect((await w.transfer("RETR docs")).first.code).toBe(550);
  });

  test("RETR without PASV/EPSV/PORT is 425", async () => {
    const w = await alice();
    expect((await w.cmd("RETR hello.txt")).code).toBe(425);
  });

  test("STOR stores the bytes exactly; STOR again overwrites; APPE appends", async () => {
    const w = await alice();
    const body = crypto.getRandomValues(new Uint8Array(300_000));
    const r = await w.transfer("STOR up.bin", body);
    expect(r.first.code).toBe(150);
    expect(r.final!.code).toBe(226);
    expect(readFileSync(join(srv.home("alice"), "up.bin"))).toEqual(Buffer.from(body));
    expect((await w.transfer("STOR up.bin", new TextEncoder().encode("short"))).final!.code).toBe(226);
    expect(readFileSync(join(srv.home("alice"), "up.bin"), "utf8")).toBe("short");
    expect((await w.transfer("APPE up.bin", new TextEncoder().encode("+more"))).final!.code).toBe(226);
    expect(readFileSync(join(srv.home("alice"), "up.bin"), "utf8")).toBe("short+more");
    expect((await w.transfer("APPE fresh.txt", new TextEncoder().encode("new"))).final!.code).toBe(226);
    expect(readFileSync(join(srv.home("alice"), "fresh.txt"), "utf8")).toBe("new");
  });

  test("STOR onto a directory is 550", async () => {
    const w = await alice();
    expect((await w.transfer("STOR docs", new Uint8Array(1))).first.code).toBe(550);
  });

  test("REST then RETR sends the tail (350, 226)", async () => {
    const w = await alice();
    expect((await w.cmd("REST 6")).code).toBe(350);
    const r = await w.transfer("RETR hello.txt");
    expect(r.final!.code).toBe(226);
    expect(r.data).toEqual(readFileSync(join(srv.home("alice"), "hello.txt")).subarray(6));
  });

  test("REST with an offset beyond 15 digits is refused as out of range, not as a negative one", async () => {
    const w = await alice();
    // Before: "REST needs a non-negative byte offset" for 9223372036854775807.
    expect(await w.cmd("REST 9223372036854775807")).toEqual({ code: 501, lines: ["REST offset out of range (at most 15 digits)"] });
    expect((await w.cmd("REST -1")).lines).toEqual(["REST needs a non-negative byte offset"]);
  });

  test("REST is consumed by one transfer", async () => {
    const w = await alice();
    await w.cmd("REST 6");
    await w.transfer("RETR hello.txt");
    const r = await w.transfer("RETR hello.txt");
    expect(r.data.length).toBe(18);
  });

  test("REST then STOR resumes an upload at the offset", async () => {
    const w = await alice();
    writeFileSync(join(srv.home("alice"), "resume.txt"), "0123456789");
    expect((await w.cmd("REST 4")).code).toBe(350);
    expect((await w.transfer("STOR resume.txt", new TextEncoder().encode("abc"))).final!.code).toBe(226);
    expect(readFileSync(join(srv.home("alice"), "resume.txt"), "utf8")).toBe("0123abc");
  });

  test("REST beyond the end of the file is refused for RETR and STOR", async () => {
    const w = await alice();
    await w.cmd("REST 1000");
    expect((await w.transfer("RETR hello.txt")).first.code).toBe(554);
    await w.cmd("REST 1000");
    expect((await w.transfer("STOR hello.txt", new Uint8Array(1))).first.code).toBe(554);
  });

  const badRest = ["-1", "abc", "1.5", "1e3"];
  for (const arg of badRest) {
    test(`REST ${arg} is 501`, async () => {
      const w = await alice();
      expect((await w.cmd(`REST ${arg}`)).code).toBe(501);
    });
  }

  test("PASV answers 227 with this host and a port that accepts the data connection", async () => {
    const w = await alice();
    const r = await w.cmd("PASV");
    expect(r.code).toBe(227);
    const hp = parseHostPort(r.lines[0]!);
    expect(hp.host).toBe("127.0.0.1");
    const chunks: Buffer[] = [];
    let closed!: () => void;
    const done = new Promise<void>((res) => (closed = res));
    const sock = await Bun.connect({
      hostname: hp.host,
      port: hp.port,
      socket: { data: (_s, c) => void chunks.push(Buffer.from(c)), close: () => closed(), error: () => closed() },
    });
    expect((await w.cmd("RETR hello.txt")).code).toBe(150);
    await done;
    expect((await w.read())!.code).toBe(226);
    expect(Buffer.concat(chunks).length).toBe(18);
    sock.end();
  });

  test("EPSV 229, EPSV 1 229, EPSV 2 and EPSV 3 522 over IPv4, EPSV ALL then PASV/PORT 503", async () => {
    const w = await alice();
    const r = await w.cmd("EPSV");
    expect(r.code).toBe(229);
    expect(parseEpsvReply(r.lines[0]!)).toBeGreaterThan(0);
    expect((await w.cmd("EPSV 1")).code).toBe(229);
    // RFC 2428 §3, as vsftpd answers: this connection is IPv4, so only protocol 1 is offered.
    const v6 = await w.cmd("EPSV 2");
    expect(v6.code).toBe(522);
    expect(v6.lines[0]).toBe("Network protocol not supported, use (1)");
    expect((await w.cmd("EPSV 3")).code).toBe(522);
    expect((await w.cmd("EPSV ALL")).code).toBe(200);
    expect((await w.cmd("PASV")).code).toBe(503);
    expect((await w.cmd("PORT 127,0,0,1,100,100")).code).toBe(503);
    expect((await w.cmd("EPSV")).code).toBe(229);
  });

  test("40 EPSVs in a row each get a port of this machine's ephemeral range (no --pasv-ports), and a download works on the last", async () => {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    const w = await alice();
    const ports = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const r = await w.cmd("EPSV");
      expect(r.code).toBe(229);
      const port = parseEpsvReply(r.lines[0]!);
      expect(port).toBeGreaterThanOrEqual(lo!);
      expect(port).toBeLessThanOrEqual(hi!);
      ports.add(port);
    }
    // Each EPSV closes the listener before it: the port is picked anew, not one port kept.
    expect(ports.size).toBeGreaterThan(1);
    const got = await w.transfer("RETR hello.txt");
    expect(got.final?.code).toBe(226);
    expect(got.data.toString()).toBe(readFileSync(join(srv.home("alice"), "hello.txt"), "utf8"));
  });

  // EPRT |2| with the IPv4-mapped spelling is Python's ftplib on a dual-stack socket: it was 522.
  test("PORT and EPRT to our own address (200) carry a download to a client listener, EPRT's IPv4-mapped form too", async () => {
    for (const verb of ["PORT", "EPRT", "EPRT mapped"]) {
      const w = await alice();
      const chunks: Buffer[] = [];
      let closed!: () => void;
      const done = new Promise<void>((res) => (closed = res));
      const listener = Bun.listen({
        hostname: "127.0.0.1",
        port: 0,
        socket: { data: (_s, c) => void chunks.push(Buffer.from(c)), close: () => closed(), error: () => closed() },
      });
      try {
        const p = listener.port;
        const line = verb === "PORT" ? `PORT 127,0,0,1,${p >> 8},${p & 255}` : verb === "EPRT" ? `EPRT |1|127.0.0.1|${p}|` : `EPRT |2|::ffff:127.0.0.1|${p}|`;
        expect((await w.cmd(line)).code).toBe(200);
        expect((await w.cmd("RETR hello.txt")).code).toBe(150);
        await Promise.race([done, Bun.sleep(3000)]);
        expect((await w.read())!.code).toBe(226);
        expect(Buffer.concat(chunks).length).toBe(18);
      } finally {
        listener.stop(true);
      }
    }
  });

  const bounce = [
    "PORT 10,0,0,1,100,100",
    "PORT 127,0,0,1,0,21",
    "PORT 1,2,3",
    // Our own address and a fine port read out of a malformed argument (they were taken: 200).
    "PORT 1127,0,0,1,98,80",
    "PORT garbage127,0,0,1,98,80",
    "PORT 127,0,0,1,98,80 trailing",
    "EPRT |1|10.0.0.1|4000|",
    "EPRT |1|127.0.0.1|80|",
    "EPRT garbage",
  ];
  for (const line of bounce) {
    test(`refuses a foreign or malformed active target: ${line} → 501`, async () => {
      const w = await alice();
      expect((await w.cmd(line)).code).toBe(501);
    });
  }

  // The other family than the connection's too: a data connection goes only to the client's own address (ProFTPD: 522; this was 501).
  for (const line of ["EPRT |3|x|4000|", "EPRT |9|127.0.0.1|4000|", "EPRT !0!127.0.0.1!4000!", "EPRT |2|::1|4000|"]) {
    test(`an unknown or other network protocol gets 522 naming the one to use (RFC 2428 §2): ${line}`, async () => {
      const w = await alice();
      const r = await w.cmd(line);
      expect([r.code, r.lines[0]]).toEqual([522, "Network protocol not supported, use (1)"]);
      expect((await w.cmd("RETR hello.txt")).code).toBe(425);
    });
  }

  test("AVBL answers 213 with a number, for a directory named too; a missing path is 550", async () => {
    const w = await alice();
    const r = await w.cmd("AVBL");
    expect(r.code).toBe(213);
    expect(r.lines[0]).toMatch(/^\d+$/);
    expect((await w.cmd("AVBL docs")).code).toBe(213);
    // Before: 213 and the home's figure.
    expect(await w.cmd("AVBL no-such-dir")).toEqual({ code: 550, lines: ["No such file or directory"] });
  });

  test("SITE QUOTA 211, SITE HELP 214, an unknown SITE command 500", async () => {
    const w = await alice();
    const q = await w.cmd("SITE QUOTA");
    expect(q.code).toBe(211);
    expect(text(q)).toContain("unlimited");
    expect((await w.cmd("SITE HELP")).code).toBe(214);
    expect((await w.cmd("SITE IDLE 60")).code).toBe(500);
  });

  const digests: Array<[string, string]> = [
    ["SHA-256", "sha256"],
    ["MD5", "md5"],
    ["SHA-1", "sha1"],
    ["SHA-512", "sha512"],
  ];
  for (const [alg, node] of digests) {
    test(`HASH after OPTS HASH ${alg} matches a local digest`, async () => {
      const w = await alice();
      expect((await w.cmd(`OPTS HASH ${alg}`)).code).toBe(200);
      const r = await w.cmd("HASH hello.txt");
      expect(r.code).toBe(213);
      const h = parseHashReply(r.lines[0]!);
      const bytes = readFileSync(join(srv.home("alice"), "hello.txt"));
      expect(h).toEqual({ algorithm: alg as never, start: 0, end: bytes.length, hex: createHash(node).update(bytes).digest("hex"), path: "hello.txt" });
    });
  }

  test("HASH of a range set by RANG covers only those bytes, then the range resets", async () => {
    const w = await alice();
    const bytes = readFileSync(join(srv.home("alice"), "hello.txt"));
    expect((await w.cmd("RANG 2 8")).code).toBe(350); // bytes 2..8, END inclusive
    const h = parseHashReply((await w.cmd("HASH hello.txt")).lines[0]!);
    expect(h).toMatchObject({ start: 2, end: 9, hex: createHash("sha256").update(bytes.subarray(2, 9)).digest("hex") });
    const whole = parseHashReply((await w.cmd("HASH hello.txt")).lines[0]!);
    expect(whole).toMatchObject({ start: 0, end: bytes.length });
    expect((await w.cmd("RANG 9 2")).code).toBe(501);
    expect((await w.cmd("RANG x")).code).toBe(501);
    expect((await w.cmd("RANG 1 0")).code).toBe(350);
  });

  test("RANG then RETR sends the range only, both end points included", async () => {
    const w = await alice();
    const bytes = readFileSync(join(srv.home("alice"), "hello.txt"));
    await w.cmd("RANG 3 8");
    const r = await w.transfer("RETR hello.txt");
    expect(r.data).toEqual(bytes.subarray(3, 9)); // END inclusive: 6 bytes
  });

  test("a RANG before STOR, APPE or STOU is 550 before any 150: the file keeps every byte, and the range is gone after", async () => {
    const w = await alice();
    const body = Buffer.alloc(1000, 0x30);
    expect((await w.transfer("STOR ranged.bin", body)).final!.code).toBe(226);
    for (const verb of ["STOR ranged.bin", "APPE ranged.bin", "STOU"]) {
      expect((await w.cmd("RANG 100 199")).code).toBe(350);
      const r = await w.transfer(verb, Buffer.alloc(100, 0x52));
      expect(r.first.code).toBe(550);
      expect(r.first.lines.join(" ")).toContain("RANG");
      expect(readFileSync(join(srv.home("alice"), "ranged.bin"))).toEqual(body);
    }
    // The refusal took the range: the next STOR writes the whole file.
    expect((await w.transfer("STOR ranged.bin", Buffer.alloc(10, 0x41))).final!.code).toBe(226);
    expect(readFileSync(join(srv.home("alice"), "ranged.bin"))).toEqual(Buffer.alloc(10, 0x41));
  });

  test("HASH of a directory or missing file is 550", async () => {
    const w = await alice();
    expect((await w.cmd("HASH docs")).code).toBe(550);
    expect((await w.cmd("HASH nope")).code).toBe(550);
  });

  test("XMD5, XSHA256, XSHA1, XCRC answer 250 with the digest (a range too)", async () => {
    const w = await alice();
    const bytes = readFileSync(join(srv.home("alice"), "hello.txt"));
    expect(await w.cmd("XMD5 hello.txt")).toEqual({ code: 250, lines: [createHash("md5").update(bytes).digest("hex")] });
    expect(await w.cmd("XSHA256 hello.txt")).toEqual({ code: 250, lines: [createHash("sha256").update(bytes).digest("hex")] });
    expect(await w.cmd("XSHA1 hello.txt")).toEqual({ code: 250, lines: [createHash("sha1").update(bytes).digest("hex")] });
    const crc = (Bun.hash.crc32(bytes) >>> 0).toString(16).padStart(8, "0");
    expect(await w.cmd("XCRC hello.txt")).toEqual({ code: 250, lines: [crc] });
    expect(await w.cmd("XMD5 hello.txt 0 5")).toEqual({ code: 250, lines: [createHash("md5").update(bytes.subarray(0, 5)).digest("hex")] });
    expect((await w.cmd("XMD5 nope")).code).toBe(550);
  });

  test("XMD5, XSHA1, XSHA256, XSHA512, XCRC refuse a range whose end is below its start (501); an empty range is the digest of no bytes", async () => {
    const w = await alice();
    for (const verb of ["XMD5", "XSHA1", "XSHA256", "XSHA512", "XCRC"]) {
      expect(await w.cmd(`${verb} hello.txt 9 2`)).toEqual({ code: 501, lines: [`${verb} needs an end (2) not below the start (9)`] });
    }
    expect(await w.cmd("XCRC hello.txt 5 5")).toEqual({ code: 250, lines: ["00000000"] });
    expect(await w.cmd("XMD5 hello.txt 5 5")).toEqual({ code: 250, lines: [createHash("md5").digest("hex")] });
  });

  test("XMD5 of a name with spaces", async () => {
    const w = await alice();
    writeFileSync(join(srv.home("alice"), "two words.txt"), "abc");
    expect(await w.cmd("XMD5 two words.txt")).toEqual({ code: 250, lines: [createHash("md5").update("abc").digest("hex")] });
  });

  test("a STOR after OPTS HASH makes the following HASH agree with the uploaded bytes", async () => {
    const w = await alice();
    await w.cmd("OPTS HASH SHA-256");
    const body = crypto.getRandomValues(new Uint8Array(100_000));
    expect((await w.transfer("STOR hashed.bin", body)).final!.code).toBe(226);
    const h = parseHashReply((await w.cmd("HASH hashed.bin")).lines[0]!);
    expect(h.hex).toBe(createHash("sha256").update(body).digest("hex"));
  });

  test("ABOR without a transfer is 225", async () => {
    const w = await alice();
    expect((await w.cmd("ABOR")).code).toBe(225);
    await w.cmd("EPSV");
    expect((await w.cmd("ABOR")).code).toBe(225);
    expect((await w.cmd("RETR hello.txt")).code).toBe(425); // the endpoint was closed by ABOR
  });
});

describe("while a transfer runs", () => {
  const SIZE = 3 * 1024 * 1024;
  beforeAll(async () => {
    srv = await startTestServer({
      options: { maxRate: 1024 * 1024 },
      setup: (root) => writeFileSync(join(root, "home/alice/big.bin"), Buffer.alloc(SIZE, 7)),
    });
  });
  afterAll(() => srv.stop());

  /** EPSV, the data connection (counting what arrives), [REST rest,] RETR big.bin answered 150. */
  async function startDownload(w: Wire, rest = 0): Promise<{ received: () => number; closed: Promise<void>; end: () => void }> {
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    let n = 0;
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    const sock = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: { data: (_s, c) => void (n += c.length), close: () => closed(), error: () => closed() },
    });
    if (rest > 0) expect((await w.cmd(`REST ${rest}`)).code).toBe(350);
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    return { received: () => n, closed: closedP, end: () => sock.end() };
  }

  test("STAT reports progress (213) and NOOP is answered during the transfer", async () => {
    const w = await alice();
    const dl = await startDownload(w);
    await Bun.sleep(300);
    const s = await w.cmd("STAT");
    expect(s.code).toBe(213);
    expect(text(s)).toContain("RETR /big.bin");
    expect(text(s)).toContain(`of ${SIZE} bytes`);
    // NOOP with nothing queued before it is answered at once (Commons Net's keep-alive waits for it).
    expect((await w.cmd("NOOP"))!.code).toBe(200);
    expect((await w.read(10_000))!.code).toBe(226);
    await dl.closed;
    expect(dl.received()).toBe(SIZE);
  }, 15_000);

  test("ABOR during a download answers 426 then 226 and stops the data", async () => {
    const w = await alice();
    const dl = await startDownload(w);
    await Bun.sleep(300);
    w.raw("ABOR\r\n");
    const first = await w.read();
    const second = await w.read();
    expect([first!.code, second!.code]).toEqual([426, 226]);
    await Promise.race([dl.closed, Bun.sleep(2000)]);
    expect(dl.received()).toBeLessThan(SIZE);
    expect((await w.cmd("NOOP")).code).toBe(200);
    dl.end();
  }, 15_000);

  test("ABOR preceded by TELNET IP/Synch is understood", async () => {
    const w = await alice();
    const dl = await startDownload(w);
    await Bun.sleep(200);
    w.raw(new Uint8Array([0xff, 0xf4, 0xff, 0xf2, ...new TextEncoder().encode("ABOR\r\n")]));
    expect([(await w.read())!.code, (await w.read())!.code]).toEqual([426, 226]);
    dl.end();
  }, 15_000);

  test("ABOR during an upload answers 426 then 226 and keeps only what arrived", async () => {
    const w = await alice();
    const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
    const sock = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    expect((await w.cmd("STOR slow-up.bin")).code).toBe(150);
    const chunk = Buffer.alloc(64 * 1024, 1);
    let stop = false;
    const pump = (async () => {
      while (!stop) {
        if (sock.write(chunk) < 0) break;
        await Bun.sleep(20);
      }
    })();
    await Bun.sleep(400);
    w.raw("ABOR\r\n");
    const codes = [(await w.read())!.code, (await w.read())!.code];
    stop = true;
    await pump;
    sock.end();
    expect(codes).toEqual([426, 226]);
  }, 15_000);

  test("QUIT during a transfer lets it finish, then 221; a command sent after QUIT never runs", async () => {
    const w = await alice();
    const dl = await startDownload(w, SIZE - 512 * 1024);
    w.raw("QUIT\r\nDELE big.bin\r\n");
    expect((await w.read(10_000))!.code).toBe(226);
    expect((await w.read())!.code).toBe(221);
    expect(await w.read()).toBeNull(); // closed, with no reply to the DELE
    await dl.closed;
    expect(dl.received()).toBe(512 * 1024);
    expect(existsSync(join(srv.home("alice"), "big.bin"))).toBe(true);
  }, 15_000);

  test("QUIT and a hang-up during a download (rate-limited, ~2 s left): the rest of the file still arrives", async () => {
    const w = await alice();
    // The whole file: more than the rate limiter's first burst, so most of it is still to send.
    const dl = await startDownload(w);
    w.raw("QUIT\r\n");
    w.close();
    await dl.closed;
    expect(dl.received()).toBe(SIZE);
  }, 15_000);
});
