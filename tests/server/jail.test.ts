// The jail: no client path, symlink or encoding trick reaches outside the user's home (issue #2).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { unquotePath } from "../../protocol/path.ts";
import { parseListLine, parseMlsxLine } from "../../protocol/listing.ts";
import type { FtpReply } from "../../protocol/reply.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

let srv: TestServer;
const wires: Wire[] = [];
/** Every reply and every byte of listing seen, to check that no real path ever leaks. */
const seen: string[] = [];

async function alice(): Promise<Wire> {
  const w = await Wire.connect(srv.port);
  wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  return w;
}

async function cmd(w: Wire, line: string): Promise<FtpReply> {
  const r = await w.cmd(line);
  seen.push(r.lines.join("\n"));
  return r;
}

async function transfer(w: Wire, line: string, upload?: Uint8Array) {
  const r = await w.transfer(line, upload);
  seen.push(r.first.lines.join("\n"), r.final?.lines.join("\n") ?? "", r.data.toString("utf8"));
  return r;
}

beforeAll(async () => {
  srv = await startTestServer({
    users: undefined,
    setup(root) {
      mkdirSync(join(root, "home/bob"), { recursive: true });
      // Planted inside alice's home: one link to bob's home, one to a place inside her own.
      symlinkSync(join(root, "home/bob"), join(root, "home/alice/bob-link"));
      symlinkSync(join(root, "home/bob/bob.txt"), join(root, "home/alice/bob-file-link"));
      symlinkSync("docs", join(root, "home/alice/docs-link"));
      symlinkSync("../bob", join(root, "home/alice/docs/relative-up"));
      symlinkSync("/nonexistent/target", join(root, "home/alice/dangling"));
      // Loops: two links naming each other, and one naming itself.
      symlinkSync("loop-b", join(root, "home/alice/loop-a"));
      symlinkSync("loop-a", join(root, "home/alice/loop-b"));
      symlinkSync("loop-self", join(root, "home/alice/loop-self"));
    },
  });
});
afterAll(() => srv.stop());
afterEach(() => {
  for (const w of wires.splice(0)) w.close();
});

/** Names that point outside alice's home, each way a client may spell them. */
const OUTSIDE = [
  "../../etc/passwd",
  "/../etc/passwd",
  "//etc/passwd",
  "../bob/bob.txt",
  "/../../../../../../etc/passwd",
  "escape-link/passwd",
  "/escape-link/hostname",
  "passwd-link",
  "bob-link/bob.txt",
  "bob-file-link",
  "docs/relative-up/bob.txt",
  "docs-link/relative-up/bob.txt",
  "dangling",
];

describe("reading through escapes fails", () => {
  for (const name of OUTSIDE) {
    test(`RETR ${name} is refused and sends nothing`, async () => {
      const w = await alice();
      const r = await transfer(w, `RETR ${name}`);
      expect(r.first.code).toBe(550);
      expect(r.data.length).toBe(0);
    });

    test(`SIZE, MDTM, MLST, HASH, XMD5, STAT of ${name} are refused`, async () => {
      const w = await alice();
      for (const verb of ["SIZE", "MDTM", "MLST", "HASH", "XMD5"]) {
        expect({ verb, code: (await cmd(w, `${verb} ${name}`)).code }).toEqual({ verb, code: 550 });
      }
      const st = await cmd(w, `STAT ${name}`);
      expect(st.code).toBe(550);
    });
  }
});

describe("directory escapes stay inside", () => {
  const DIRS: Array<[string, "inside" | "refused"]> = [
    ["..", "inside"],
    ["../..", "inside"],
    ["/../etc", "refused"],
    ["//etc", "refused"],
    ["../../../etc", "refused"],
    ["escape-link", "refused"],
    ["escape-link/", "refused"],
    ["/escape-link/..", "inside"], // lexical: "/escape-link/.." is "/"
    ["bob-link", "refused"],
    ["docs/relative-up", "refused"],
    ["docs-link", "inside"],
  ];
  for (const [dir, expected] of DIRS) {
    test(`CWD ${dir} ${expected === "inside" ? "stays in the home" : "is refused"}`, async () => {
      const w = await alice();
      const r = await cmd(w, `CWD ${dir}`);
      expect(r.code).toBe(expected === "inside" ? 250 : 550);
      const pwd = unquotePath((await cmd(w, "PWD")).lines[0]!)!;
      expect(pwd.startsWith("/")).toBe(true);
      const list = await transfer(w, "LIST");
      expect(list.final!.code).toBe(226);
      const names = list.data.toString("utf8").split("\r\n").filter(Boolean).map((l) => parseListLine(l)!.name);
      expect(names).not.toContain("passwd");
      expect(names).not.toContain("bob.txt");
    });

    test(`LIST, NLST and MLSD of ${dir} never show what is outside`, async () => {
      const w = await alice();
      for (const verb of ["LIST", "NLST", "MLSD"]) {
        const r = await transfer(w, `${verb} ${dir}`);
        if (expected === "refused") expect({ verb, code: r.first.code }).toEqual({ verb, code: 550 });
        const body = r.data.toString("utf8");
        expect(body).not.toContain("passwd");
        expect(body).not.toContain("hostname");
        expect(body).not.toContain("bob.txt");
      }
    });
  }

  test("the home listing hides links that point outside and shows the one that stays inside", async () => {
    const w = await alice();
    const r = await transfer(w, "MLSD");
    const names = r.data.toString("utf8").split("\r\n").filter(Boolean).map((l) => parseMlsxLine(l).name);
    for (const hidden of ["escape-link", "passwd-link", "bob-link", "bob-file-link", "dangling"]) expect(names).not.toContain(hidden);
    expect(names).toContain("docs-link");
    expect(names).toContain("hello.txt");
  });

  test("a link that stays inside works like its target", async () => {
    const w = await alice();
    expect((await cmd(w, "SIZE docs-link/report.txt")).code).toBe(213);
    const r = await transfer(w, "RETR docs-link/report.txt");
    expect(r.data).toEqual(readFileSync(join(srv.home("alice"), "docs/report.txt")));
  });
});

describe("writing through escapes fails and touches nothing outside", () => {
  const WRITES: Array<[string, string]> = [
    ["STOR", "escape-link/ftpkit-planted"],
    ["STOR", "bob-link/planted.txt"],
    ["STOR", "docs/relative-up/planted.txt"],
    ["STOR", "passwd-link"],
    ["STOR", "bob-file-link"],
    ["APPE", "passwd-link"],
    ["APPE", "bob-file-link"],
    ["APPE", "bob-link/planted.txt"],
  ];
  for (const [verb, name] of WRITES) {
    test(`${verb} ${name} is refused`, async () => {
      const w = await alice();
      const before = readFileSync(join(srv.home("bob"), "bob.txt"));
      const r = await transfer(w, `${verb} ${name}`, new TextEncoder().encode("pwned\n"));
      expect(r.first.code).toBe(550);
      expect(existsSync(join(srv.home("bob"), "planted.txt"))).toBe(false);
      expect(existsSync("/etc/ftpkit-planted")).toBe(false);
      expect(readFileSync(join(srv.home("bob"), "bob.txt"))).toEqual(before);
    });
  }

  test("REST+STOR onto a link to outside is refused", async () => {
    const w = await alice();
    await cmd(w, "REST 0");
    expect((await transfer(w, "STOR bob-file-link", new Uint8Array(3))).first.code).toBe(550);
  });

  const OPS = [
    "MKD escape-link/x",
    "MKD bob-link/x",
    "MKD docs/relative-up/x",
    "RMD escape-link",
    "RMD bob-link",
    "DELE escape-link/passwd",
    "DELE bob-link/bob.txt",
    "RNFR escape-link",
    "RNFR passwd-link",
    "RNFR bob-link/bob.txt",
    "RNFR ../bob/bob.txt",
  ];
  for (const line of OPS) {
    test(`${line} is refused`, async () => {
      const w = await alice();
      expect((await cmd(w, line)).code).toBe(550);
      expect(existsSync(join(srv.home("bob"), "bob.txt"))).toBe(true);
      expect(existsSync(join(srv.home("bob"), "x"))).toBe(false);
      expect(existsSync("/etc/passwd")).toBe(true);
    });
  }

  test("RNTO into a link to outside is refused and the file stays", async () => {
    const w = await alice();
    expect((await cmd(w, "RNFR hello.txt")).code).toBe(350);
    expect((await cmd(w, "RNTO bob-link/stolen.txt")).code).toBe(550);
    expect((await cmd(w, "RNFR hello.txt")).code).toBe(350);
    expect((await cmd(w, "RNTO escape-link/stolen.txt")).code).toBe(550);
    expect((await cmd(w, "RNFR hello.txt")).code).toBe(350);
    // Lexically "/bob/stolen.txt" inside alice's home, whose "/bob" does not exist.
    expect((await cmd(w, "RNTO ../bob/stolen.txt")).code).toBe(550);
    expect(existsSync(join(srv.home("bob"), "stolen.txt"))).toBe(false);
    expect(existsSync(join(srv.home("alice"), "hello.txt"))).toBe(true);
  });
});

describe("links that lead out or to nothing", () => {
  test("DELE removes the link itself, never its target (as vsftpd and ProFTPD): hidden as they are, they otherwise kept their directory from ever being removed", async () => {
    const w = await alice();
    const home = srv.home("alice");
    const passwd = readFileSync("/etc/passwd");
    const bob = readFileSync(join(srv.home("bob"), "bob.txt"));
    for (const name of ["passwd-link", "bob-file-link", "dangling"]) {
      expect({ name, code: (await cmd(w, `DELE ${name}`)).code }).toEqual({ name, code: 250 });
      expect(existsSync(join(home, name)) || lstatExists(join(home, name))).toBe(false);
    }
    expect(readFileSync("/etc/passwd")).toEqual(passwd);
    expect(readFileSync(join(srv.home("bob"), "bob.txt"))).toEqual(bob);
  });
});

describe("link loops", () => {
  test("are answered 'Too many levels of symbolic links' (ELOOP), as ProFTPD says, not 'Permission denied'", async () => {
    const w = await alice();
    await cmd(w, "TYPE I");
    const loop = { code: 550, lines: ["Too many levels of symbolic links"] };
    for (const name of ["loop-a", "loop-self", "loop-b/file.txt"]) {
      for (const verb of ["SIZE", "MDTM", "CWD", "MLST", "HASH", "XMD5"]) expect({ line: `${verb} ${name}`, reply: await cmd(w, `${verb} ${name}`) }).toEqual({ line: `${verb} ${name}`, reply: loop });
      expect({ name, reply: (await transfer(w, `RETR ${name}`)).first }).toEqual({ name, reply: loop });
      expect({ name, reply: (await transfer(w, `LIST ${name}`)).first }).toEqual({ name, reply: loop });
    }
    expect((await transfer(w, "STOR loop-a/new.txt", Buffer.from("x"))).first).toEqual(loop);
    expect(await cmd(w, "MKD loop-self/sub")).toEqual(loop);
  });
});

describe("odd names", () => {
  test("a NUL byte in a name is refused before it reaches the filesystem", async () => {
    const w = await alice();
    for (const line of ["RETR hello.txt\0.jpg", "CWD docs\0", "MKD a\0b", "DELE hello.txt\0"]) {
      const r = await cmd(w, line);
      expect(r.code).toBeGreaterThanOrEqual(500);
    }
    expect(existsSync(join(srv.home("alice"), "hello.txt"))).toBe(true);
    expect(existsSync(join(srv.home("alice"), "a"))).toBe(false);
  });

  test("%2e%2e is a literal name inside the home, not a parent", async () => {
    const w = await alice();
    expect((await cmd(w, "MKD %2e%2e")).code).toBe(257);
    expect(existsSync(join(srv.home("alice"), "%2e%2e"))).toBe(true);
    expect((await cmd(w, "CWD %2e%2e")).code).toBe(250);
    expect(unquotePath((await cmd(w, "PWD")).lines[0]!)).toBe("/%2e%2e");
    expect((await transfer(w, "STOR /%2e%2e", new Uint8Array(1))).first.code).toBe(550); // a directory
    expect((await transfer(w, "RETR %2e%2e/%2e%2e/etc/passwd")).first.code).toBe(550);
  });

  test("backslashes are literal characters, not separators", async () => {
    const w = await alice();
    expect((await transfer(w, "RETR ..\\..\\etc\\passwd")).first.code).toBe(550);
    expect((await transfer(w, "STOR ..\\x.txt", new TextEncoder().encode("b"))).final!.code).toBe(226);
    expect(existsSync(join(srv.home("alice"), "..\\x.txt"))).toBe(true);
    expect(existsSync(join(srv.home("alice"), "../x.txt"))).toBe(false);
  });
});

function lstatExists(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

test("no reply or listing ever contains the real path of the temp directory", () => {
  const roots = [srv.root, realpathSync(srv.root)];
  expect(seen.length).toBeGreaterThan(100);
  for (const s of seen) for (const root of roots) expect(s).not.toContain(root);
  for (const s of seen) expect(s).not.toContain("root:x:0");
});
