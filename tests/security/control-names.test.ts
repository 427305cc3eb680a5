// Names with control characters (terminal escapes planted for other users), names too long for the
// filesystem, and 0xFF (TELNET IAC) inside a name: refused with 553 when created, masked when shown.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";

const servers = useServers();

/** Anything a terminal acts on: what no listing, reply or 257 may carry raw. */
const RAW_CONTROLS = /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const HOSTILE: Array<[string, string]> = [
  ["ESC (a CSI sequence)", "esc\x1b[2Jx"],
  ["BEL", "bell\x07x"],
  ["DEL", "del\x7fx"],
  ["C1 CSI U+009B", "c1\u009b31mx"],
  ["U+2028 line separator", "ls\u2028x"],
  ["U+2029 paragraph separator", "ps\u2029x"],
  ["TAB", "tab\tx"],
  ["U+202E right-to-left override (shows as invoiceexe.pdf)", "invoice\u202efdp.exe"],
  ["U+2066 left-to-right isolate", "iso\u2066x"],
];

describe("creating a name with a control character", () => {
  test.each(HOSTILE)("%s: MKD, STOR, APPE and RNTO get 553 and nothing is created", async (_what, name) => {
    const srv = await servers.start();
    const w = await servers.login();
    const before = readdirSync(srv.home("alice")).sort();
    const mkd = await w.cmd(`MKD ${name}`);
    expect(mkd.code).toBe(553);
    expect(mkd.lines.join(" ")).toContain("File name not allowed");
    expect((await w.cmd(`MKD docs/${name}`)).code).toBe(553);
    expect((await w.transfer(`STOR ${name}`, Buffer.from("x"))).first.code).toBe(553);
    expect((await w.transfer(`APPE ${name}`, Buffer.from("x"))).first.code).toBe(553);
    expect((await w.cmd("RNFR hello.txt")).code).toBe(350);
    expect((await w.cmd(`RNTO ${name}`)).code).toBe(553);
    expect(readdirSync(srv.home("alice")).sort()).toEqual(before);
    expect(readdirSync(join(srv.home("alice"), "docs")).some((n) => RAW_CONTROLS.test(n))).toBe(false);
    // The session goes on, and ordinary names still work.
    expect((await w.cmd("MKD plain-dir")).code).toBe(257);
  });
});

describe("names with control characters already on disk (made outside FTP)", () => {
  const PLANTED = "evil\x1b]0;owned\x07\x1b[2J\u009b.txt";
  const PLANTED_DIR = "dir\x1b[31mred";
  const setup = (root: string) => {
    writeFileSync(join(root, "home/alice", PLANTED), "planted content\n");
    mkdirSync(join(root, "home/alice", PLANTED_DIR));
  };

  test("LIST, NLST, MLSD, STAT and MLST show them with '?' for each control character, never raw", async () => {
    await servers.start({ setup });
    const w = await servers.login();
    for (const verb of ["LIST", "NLST", "MLSD"]) {
      const t = await w.transfer(verb);
      expect(t.final?.code).toBe(226);
      const text = t.data.toString("utf8");
      expect(text).not.toMatch(RAW_CONTROLS);
      expect(text).toContain("evil?]0;owned??[2J?.txt");
      expect(text).toContain("dir?[31mred");
      expect(text).toContain("hello.txt");
    }
    const stat = await w.cmd("STAT .");
    expect(stat.code).toBe(213);
    expect(stat.lines.join("\n")).not.toMatch(RAW_CONTROLS);
    expect(stat.lines.join("\n")).toContain("evil?]0;owned??[2J?.txt");
    const mlst = await w.cmd(`MLST ${PLANTED}`);
    expect(mlst.code).toBe(250);
    expect(mlst.lines.join("\n")).not.toMatch(RAW_CONTROLS);
  });

  test("PWD and MKD inside such a directory mask its name in their 257", async () => {
    await servers.start({ setup });
    const w = await servers.login();
    expect((await w.cmd(`CWD ${PLANTED_DIR}`)).code).toBe(250);
    const pwd = await w.cmd("PWD");
    expect(pwd.code).toBe(257);
    expect(pwd.lines[0]).toStartWith('"/dir?[31mred"');
    // A new directory inside it: its 257 masks the parent too.
    const mkd = await w.cmd("MKD sub");
    expect(mkd.code).toBe(257);
    expect(mkd.lines.join(" ")).not.toMatch(RAW_CONTROLS);
  });

  test("by their exact name they can still be downloaded, renamed to a clean name and deleted", async () => {
    const srv = await servers.start({ setup });
    const w = await servers.login();
    const retr = await w.transfer(`RETR ${PLANTED}`);
    expect(retr.final?.code).toBe(226);
    expect(retr.data.toString()).toBe("planted content\n");
    expect((await w.cmd(`RNFR ${PLANTED}`)).code).toBe(350);
    expect((await w.cmd("RNTO cleaned.txt")).code).toBe(250);
    expect(readFileSync(join(srv.home("alice"), "cleaned.txt"), "utf8")).toBe("planted content\n");
    expect((await w.cmd(`RMD ${PLANTED_DIR}`)).code).toBe(250);
    expect(existsSync(join(srv.home("alice"), PLANTED_DIR))).toBe(false);
  });
});

describe("a name on disk with a right-to-left override (made outside FTP)", () => {
  test("LIST, NLST and MLSD show it masked ('invoice?fdp.exe'), not as the 'invoiceexe.pdf' a terminal would show; RETR by its exact name works", async () => {
    const name = "invoice\u202efdp.exe";
    await servers.start({ setup: (root) => writeFileSync(join(root, "home/alice", name), "MZ") });
    const w = await servers.login();
    for (const verb of ["LIST", "NLST", "MLSD"]) {
      const text = (await w.transfer(verb)).data.toString("utf8");
      expect(text).not.toMatch(RAW_CONTROLS);
      expect(text).toContain("invoice?fdp.exe");
    }
    expect((await w.transfer(`RETR ${name}`)).data.toString()).toBe("MZ");
  });
});

describe("names too long for the filesystem", () => {
  test("MKD, STOR, CWD and RNFR of a 300-byte name get 553 'File name too long', not 550 Permission denied", async () => {
    await servers.start();
    const w = await servers.login();
    const long = "n".repeat(300);
    for (const line of [`MKD ${long}`, `CWD ${long}`, `RNFR ${long}`, `SIZE ${long}`]) {
      const r = await w.cmd(line);
      expect([line.split(" ")[0], r.code, r.lines[0]]).toEqual([line.split(" ")[0], 553, "File name too long"]);
    }
    const stor = await w.transfer(`STOR ${long}`, Buffer.from("x"));
    expect(stor.first.code).toBe(553);
    expect((await w.cmd("RNFR hello.txt")).code).toBe(350);
    expect((await w.cmd(`RNTO ${long}`)).code).toBe(553);
    // A 255-byte name is the filesystem's limit and works.
    expect((await w.cmd(`MKD ${"m".repeat(255)}`)).code).toBe(257);
  });
});

describe("0xFF (TELNET IAC) inside a name", () => {
  test("MKD bad\\xFFname is refused with 553 and creates neither 'badame' nor anything else", async () => {
    const srv = await servers.start();
    const w = await servers.login();
    const before = readdirSync(srv.home("alice")).sort();
    w.raw(Buffer.concat([Buffer.from("MKD bad"), Buffer.from([0xff]), Buffer.from("name\r\n")]));
    expect((await w.read())?.code).toBe(553);
    // IAC IAC is one literal 0xFF: still not UTF-8, still 553.
    w.raw(Buffer.concat([Buffer.from("MKD bad"), Buffer.from([0xff, 0xff]), Buffer.from("name\r\n")]));
    expect((await w.read())?.code).toBe(553);
    expect(readdirSync(srv.home("alice")).sort()).toEqual(before);
    // TELNET commands around a command are still removed (IAC IP, IAC DM before ABOR).
    w.raw(Buffer.concat([Buffer.from([0xff, 0xf4, 0xff, 0xf2]), Buffer.from("NOOP\r\n")]));
    expect((await w.read())?.code).toBe(200);
  });
});

describe("paths too deep for the filesystem", () => {
  // Every entry is reached by its path from the home (or mount) directory, which PATH_MAX (4096
  // with its NUL) bounds; MKD and RNTO act in the opened parent, so they made directories there
  // that CWD, RMD, LIST and RETR then refused with 553, and a client could not clean up.
  test("MKD and RNTO refuse a directory whose path from the home would pass 4095 bytes (553 'File name too long'), so everything made stays reachable", async () => {
    const s = await servers.start();
    const w = await servers.login();
    const name = "d".repeat(250);
    const made: number[] = [];
    let refused: { code: number; lines: string[] } | null = null;
    // Each level adds 251 bytes: 16 levels make 4,015, a 17th would make 4,266.
    for (let depth = 1; depth <= 20 && !refused; depth++) {
      const r = await w.cmd(`MKD ${name}`);
      if (r.code !== 257) refused = r;
      else {
        made.push(depth);
        expect((await w.cmd(`CWD ${name}`)).code).toBe(250);
      }
    }
    expect(made).toHaveLength(16);
    expect([refused?.code, refused?.lines[0]]).toEqual([553, "File name too long"]);
    // A shorter name still fits at the deepest level: 4,015 + 1 + 79 = 4,095 bytes, the most there is.
    expect((await w.cmd(`MKD ${"e".repeat(80)}`)).code).toBe(553);
    expect((await w.cmd(`MKD ${"e".repeat(79)}`)).code).toBe(257);
    expect((await w.cmd(`CWD ${"e".repeat(79)}`)).code).toBe(250);
    expect((await w.cmd("CDUP")).code).toBe(250);
    expect((await w.cmd("PWD")).lines[0]!.length).toBeGreaterThan(4000);
    // RNTO of a directory to a place past the limit: refused, and the source stays.
    expect((await w.cmd("MKD /mover")).code).toBe(257);
    expect((await w.cmd("RNFR /mover")).code).toBe(350);
    const rnto = await w.cmd(`RNTO ${"m".repeat(200)}`);
    expect([rnto.code, rnto.lines[0]]).toEqual([553, "File name too long"]);
    expect(rnto.lines.join(" ")).not.toContain(s.root);
    expect((await w.cmd("MLST /mover")).code).toBe(250);
    // Everything made can be removed again, deepest first.
    expect((await w.cmd(`RMD ${"e".repeat(79)}`)).code).toBe(250);
    expect((await w.cmd("CWD /")).code).toBe(250);
    for (let depth = made.length; depth >= 1; depth--) {
      expect((await w.cmd(`RMD ${Array.from({ length: depth }, () => name).join("/")}`)).code).toBe(250);
    }
  });
});
