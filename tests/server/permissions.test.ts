// Permissions per user and per mount (longest prefix wins), and the anonymous drop box (issue #2).
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseListLine, parseMlsxLine } from "../../protocol/listing.ts";
import { useServers } from "../helpers/server.ts";
import type { UserSpec } from "../helpers/users.ts";

const servers = useServers();
const serve = (users: UserSpec[], setup?: (root: string) => void) => servers.start({ users, setup });
const login = (user: string, password: string, expected = 230) => servers.login(user, password, expected);

const bytes = (s: string) => new TextEncoder().encode(s);

function names(data: Buffer, kind: "LIST" | "MLSD"): string[] {
  const lines = data.toString("utf8").split("\r\n").filter(Boolean);
  return kind === "LIST" ? lines.map((l) => parseListLine(l)!.name) : lines.map((l) => parseMlsxLine(l).name);
}

describe("a read-only user", () => {
  const users: UserSpec[] = [{ name: "reader", password: "pw", home: "home/alice", perms: ["read"] }];

  test("can list and download", async () => {
    await serve(users);
    const w = await login("reader", "pw");
    expect((await w.transfer("LIST")).final!.code).toBe(226);
    expect((await w.transfer("RETR hello.txt")).final!.code).toBe(226);
    expect((await w.cmd("SIZE hello.txt")).code).toBe(213);
    expect((await w.cmd("CWD docs")).code).toBe(250);
  });

  const refused: Array<[string, boolean]> = [
    ["STOR new.txt", true],
    ["STOR hello.txt", true],
    ["APPE hello.txt", true],
    ["DELE hello.txt", false],
    ["MKD newdir", false],
    ["RMD docs/nested", false],
    ["RNFR hello.txt", false],
  ];
  for (const [line, upload] of refused) {
    test(`${line} is 550 and changes nothing`, async () => {
      const s = await serve(users);
      const w = await login("reader", "pw");
      const before = readFileSync(join(s.home("alice"), "hello.txt"));
      const code = upload ? (await w.transfer(line, bytes("x"))).first.code : (await w.cmd(line)).code;
      expect(code).toBe(550);
      expect(readFileSync(join(s.home("alice"), "hello.txt"))).toEqual(before);
      expect(existsSync(join(s.home("alice"), "new.txt"))).toBe(false);
      expect(existsSync(join(s.home("alice"), "newdir"))).toBe(false);
      expect(existsSync(join(s.home("alice"), "docs/nested"))).toBe(true);
    });
  }

  test("REST+STOR is 550", async () => {
    await serve(users);
    const w = await login("reader", "pw");
    expect((await w.cmd("REST 2")).code).toBe(350);
    expect((await w.transfer("STOR hello.txt", bytes("x"))).first.code).toBe(550);
  });

  test("MLSD perm facts say read-only", async () => {
    await serve(users);
    const w = await login("reader", "pw");
    const lines = (await w.transfer("MLSD")).data.toString().split("\r\n").filter(Boolean).map(parseMlsxLine);
    expect(lines.find((e) => e.name === "hello.txt")!.perm).toBe("r");
    expect(lines.find((e) => e.name === "docs")!.perm).toBe("el");
  });
});

describe("a write-only-new user (read, write)", () => {
  const users: UserSpec[] = [{ name: "uploader", password: "pw", home: "home/alice", perms: ["read", "write"] }];

  test("can upload a new name", async () => {
    const s = await serve(users);
    const w = await login("uploader", "pw");
    expect((await w.transfer("STOR brand-new.txt", bytes("hello"))).final!.code).toBe(226);
    expect(readFileSync(join(s.home("alice"), "brand-new.txt"), "utf8")).toBe("hello");
    // …and then not overwrite it
    expect((await w.transfer("STOR brand-new.txt", bytes("again"))).first.code).toBe(550);
    expect(readFileSync(join(s.home("alice"), "brand-new.txt"), "utf8")).toBe("hello");
  });

  const refused: Array<[string, string, boolean]> = [
    ["overwrite", "STOR hello.txt", true],
    ["append", "APPE hello.txt", true],
    ["append to a new name", "APPE another-new.txt", true],
    ["delete", "DELE hello.txt", false],
    ["rename", "RNFR hello.txt", false],
    ["mkdir", "MKD newdir", false],
    ["rmdir", "RMD docs/nested", false],
  ];
  for (const [what, line, upload] of refused) {
    test(`${what} (${line}) is 550`, async () => {
      const s = await serve(users);
      const w = await login("uploader", "pw");
      const before = readFileSync(join(s.home("alice"), "hello.txt"));
      const code = upload ? (await w.transfer(line, bytes("x"))).first.code : (await w.cmd(line)).code;
      expect(code).toBe(550);
      expect(readFileSync(join(s.home("alice"), "hello.txt"))).toEqual(before);
      expect(existsSync(join(s.home("alice"), "another-new.txt"))).toBe(false);
    });
  }

  test("REST+STOR onto an existing file is 550", async () => {
    const s = await serve(users);
    const w = await login("uploader", "pw");
    expect((await w.cmd("REST 4")).code).toBe(350);
    expect((await w.transfer("STOR hello.txt", bytes("x"))).first.code).toBe(550);
    expect(readFileSync(join(s.home("alice"), "hello.txt")).length).toBe(18);
  });
});

describe("a modify user (read, modify) without write", () => {
  const users: UserSpec[] = [{ name: "editor", password: "pw", home: "home/alice", perms: ["read", "modify"] }];

  test("can overwrite, append, resume, rename, delete and make directories", async () => {
    const s = await serve(users);
    const w = await login("editor", "pw");
    expect((await w.transfer("STOR hello.txt", bytes("new"))).final!.code).toBe(226);
    expect((await w.transfer("APPE hello.txt", bytes("+"))).final!.code).toBe(226);
    expect(readFileSync(join(s.home("alice"), "hello.txt"), "utf8")).toBe("new+");
    expect((await w.cmd("REST 3")).code).toBe(350);
    expect((await w.transfer("STOR hello.txt", bytes("!"))).final!.code).toBe(226);
    expect(readFileSync(join(s.home("alice"), "hello.txt"), "utf8")).toBe("new!");
    expect((await w.cmd("RNFR hello.txt")).code).toBe(350);
    expect((await w.cmd("RNTO renamed.txt")).code).toBe(250);
    expect((await w.cmd("DELE renamed.txt")).code).toBe(250);
    expect((await w.cmd("MKD made")).code).toBe(257);
    expect((await w.cmd("RMD made")).code).toBe(250);
  });

  test("cannot create a new file, not even with APPE", async () => {
    const s = await serve(users);
    const w = await login("editor", "pw");
    expect((await w.transfer("STOR new.txt", bytes("x"))).first.code).toBe(550);
    expect((await w.transfer("APPE new.txt", bytes("x"))).first.code).toBe(550);
    expect(existsSync(join(s.home("alice"), "new.txt"))).toBe(false);
  });
});

describe("mounts with their own permissions", () => {
  const users: UserSpec[] = [
    {
      name: "mixed",
      password: "pw",
      home: "home/alice",
      perms: ["read"],
      mounts: [
        { vpath: "/incoming", dir: "home/incoming", perms: ["read", "write", "modify"], quota: 0 },
        { vpath: "/pub", dir: "home/pub", perms: ["read"], quota: 0 },
        { vpath: "/pub/extra", dir: "home/extra", perms: ["read", "write", "modify"], quota: 0 },
        { vpath: "/virtual/deep/box", dir: "home/box", perms: ["read"], quota: 0 },
      ],
    },
  ];
  const setup = (root: string) => {
    for (const d of ["incoming", "extra", "box"]) mkdirSync(join(root, "home", d), { recursive: true });
    writeFileSync(join(root, "home/box/inbox.txt"), "box");
  };

  const cases: Array<[string, number]> = [
    ["STOR /x.txt", 550],
    ["STOR /docs/x.txt", 550],
    ["STOR /incoming/x.txt", 226],
    ["STOR /incoming/../x.txt", 550],
    ["STOR /pub/x.txt", 550],
    ["STOR /pub/extra/x.txt", 226],
    ["STOR /pub/extra/../x.txt", 550],
    ["STOR /virtual/deep/box/x.txt", 550],
  ];
  for (const [line, code] of cases) {
    test(`longest prefix wins: ${line} → ${code}`, async () => {
      const s = await serve(users, setup);
      const w = await login("mixed", "pw");
      const r = await w.transfer(line, bytes("data"));
      expect(r.final?.code ?? r.first.code).toBe(code);
      if (code === 226) {
        const where = line.startsWith("STOR /incoming") ? "incoming" : "extra";
        expect(readFileSync(join(s.root, "home", where, "x.txt"), "utf8")).toBe("data");
      }
      // a write that lands in the wrong place would show up in one of these
      expect(existsSync(join(s.home("alice"), "x.txt"))).toBe(false);
      expect(existsSync(join(s.root, "home/pub/x.txt"))).toBe(false);
    });
  }

  test("the read-only parent mount cannot delete or rename the nested writable mount point", async () => {
    await serve(users, setup);
    const w = await login("mixed", "pw");
    expect((await w.cmd("RMD /pub/extra")).code).toBe(550);
    expect((await w.cmd("RNFR /pub/extra")).code).toBe(550);
    expect((await w.cmd("RMD /incoming")).code).toBe(550);
    expect((await w.cmd("DELE /incoming")).code).toBe(550);
    expect((await w.cmd("MKD /incoming")).code).toBe(550);
  });

  test("a mount whose directory is missing is 550 'Directory not available', not an empty directory; the virtual directories above a mount still list", async () => {
    const gone: UserSpec[] = [{ ...users[0]!, mounts: [...users[0]!.mounts!, { vpath: "/gone", dir: "home/gone", perms: ["read", "write"], quota: 0 }] }];
    const s = await serve(gone, setup);
    const w = await login("mixed", "pw");
    for (const line of ["CWD /gone", "MLST /gone", "STAT /gone"]) {
      const r = await w.cmd(line);
      expect(`${line}: ${r.code} ${r.lines.join("|")}`).toBe(`${line}: 550 Directory not available`);
    }
    for (const line of ["LIST /gone", "MLSD /gone", "NLST /gone", "STOR /gone/x.txt"]) {
      const r = await w.transfer(line, bytes("data"));
      expect(`${line}: ${r.first.code} ${r.first.lines.join("|")}`).toBe(`${line}: 550 Directory not available`);
    }
    expect(existsSync(join(s.root, "home/gone"))).toBe(false);
    // Still listed where it is mounted (as a dangling link would be), and the ancestors of a deeper mount stand empty.
    expect(names((await w.transfer("MLSD /")).data, "MLSD")).toContain("gone");
    expect((await w.cmd("CWD /virtual/deep")).code).toBe(250);
    expect(names((await w.transfer("MLSD /virtual/deep")).data, "MLSD").filter((n) => n !== ".")).toEqual(["box"]);
  });

  test("a mount whose directory is missing but holds a deeper mount stands as a directory listing that mount; beside it, one that holds none is still 550", async () => {
    const above: UserSpec[] = [{ ...users[0]!, mounts: [...users[0]!.mounts!, { vpath: "/gone", dir: "home/gone", perms: ["read"], quota: 0 }, { vpath: "/gone/inner", dir: "home/extra", perms: ["read"], quota: 0 }, { vpath: "/lost", dir: "home/lost", perms: ["read"], quota: 0 }] }];
    await serve(above, setup);
    const w = await login("mixed", "pw");
    expect((await w.cmd("CWD /gone")).code).toBe(250);
    expect(names((await w.transfer("MLSD")).data, "MLSD").filter((n) => n !== ".")).toEqual(["inner"]);
    expect((await w.transfer("NLST")).data.toString("utf8")).toBe("inner\r\n");
    expect((await w.cmd("CWD inner")).code).toBe(250);
    expect((await w.cmd("PWD")).lines.join("")).toContain('"/gone/inner"');
    const lost = await w.cmd("CWD /lost");
    expect(`${lost.code} ${lost.lines.join("")}`).toBe("550 Directory not available");
  });

  test("a rename across mounts is refused", async () => {
    const s = await serve(users, setup);
    writeFileSync(join(s.root, "home/incoming/up.txt"), "x");
    const w = await login("mixed", "pw");
    expect((await w.cmd("RNFR /incoming/up.txt")).code).toBe(350);
    expect((await w.cmd("RNTO /pub/extra/up.txt")).code).toBe(550);
    expect(existsSync(join(s.root, "home/incoming/up.txt"))).toBe(true);
  });

  test("mount points appear in their parent's LIST and MLSD, with their own perm facts", async () => {
    await serve(users, setup);
    const w = await login("mixed", "pw");
    for (const kind of ["LIST", "MLSD"] as const) {
      const root = names((await w.transfer(kind)).data, kind);
      expect(root).toContain("incoming");
      expect(root).toContain("pub");
      expect(root).toContain("virtual");
      expect(root).toContain("hello.txt");
      const pub = names((await w.transfer(`${kind} /pub`)).data, kind);
      expect(pub).toContain("extra");
      expect(pub).toContain("readme.txt");
      expect(names((await w.transfer(`${kind} /virtual`)).data, kind)).toContain("deep");
      expect(names((await w.transfer(`${kind} /virtual/deep/box`)).data, kind)).toContain("inbox.txt");
    }
    const facts = (await w.transfer("MLSD /")).data.toString().split("\r\n").filter(Boolean).map(parseMlsxLine);
    // A mount point cannot be renamed or removed: no f, no d.
    expect(facts.find((e) => e.name === "incoming")).toMatchObject({ type: "dir", perm: "elcmp" });
    expect(facts.find((e) => e.name === "pub")).toMatchObject({ type: "dir", perm: "el" });
  });

  test("MLSD and MLST perm facts say what RMD and RNFR will do: d and f for a directory, neither for / (RFC 3659 §7.5.5)", async () => {
    await servers.start();
    const w = await servers.login();
    const facts = (await w.transfer("MLSD /")).data.toString().split("\r\n").filter(Boolean).map(parseMlsxLine);
    expect(facts.find((e) => e.name === "docs")).toMatchObject({ type: "dir", perm: "elcdfmp" });
    expect(parseMlsxLine((await w.cmd("MLST /")).lines[1]!.trim())).toMatchObject({ perm: "elcmp" });
    expect(parseMlsxLine((await w.cmd("MLST /docs")).lines[1]!.trim())).toMatchObject({ perm: "elcdfmp" });
    expect((await w.cmd("RNFR /")).code).toBe(550);
  });

  test("CWD into mount points and the virtual directories above them", async () => {
    await serve(users, setup);
    const w = await login("mixed", "pw");
    for (const dir of ["/pub/extra", "/virtual", "/virtual/deep", "/virtual/deep/box", "/incoming"]) {
      expect({ dir, code: (await w.cmd(`CWD ${dir}`)).code }).toEqual({ dir, code: 250 });
    }
    expect((await w.cmd("CWD /virtual/nope")).code).toBe(550);
  });

  test("a mount with only write (no read) accepts uploads but no listing or download", async () => {
    const s = await serve(
      [{ name: "blind", password: "pw", home: "home/anon", perms: ["read"], mounts: [{ vpath: "/in", dir: "home/in", perms: ["write"], quota: 0 }] }],
      (root) => mkdirSync(join(root, "home/in")),
    );
    const w = await login("blind", "pw");
    expect((await w.transfer("STOR /in/a.txt", bytes("a"))).final!.code).toBe(226);
    expect(readFileSync(join(s.root, "home/in/a.txt"), "utf8")).toBe("a");
    expect((await w.transfer("LIST /in")).first.code).toBe(550);
    expect((await w.transfer("RETR /in/a.txt")).first.code).toBe(550);
    expect((await w.cmd("SIZE /in/a.txt")).code).toBe(550);
    // CWD cannot tell an upload from a name nobody used.
    const failed = { code: 550, lines: ["Failed to change directory"] };
    expect(await w.cmd("CWD /in/a.txt")).toEqual(failed);
    expect(await w.cmd("CWD /in/nothing-here")).toEqual(failed);
  });
});

describe("the anonymous drop box", () => {
  const users: UserSpec[] = [
    { name: "alice", password: "alice-pw", home: "home/alice" },
    {
      name: "anonymous",
      home: "home/anon",
      perms: ["read"],
      mounts: [{ vpath: "/drop", dir: "home/drop", perms: ["read", "write"], quota: 0 }],
    },
  ];

  const logins: Array<[string, string]> = [
    ["anonymous", "guest@example.com"],
    ["ftp", "x"],
    ["ANONYMOUS", ""],
    ["Ftp", "anything at all"],
  ];
  for (const [user, password] of logins) {
    test(`USER ${user} with password ${JSON.stringify(password)} logs in`, async () => {
      await serve(users);
      const w = await servers.connect();
      await w.read();
      expect((await w.cmd(`USER ${user}`)).code).toBe(331);
      expect((await w.cmd(password ? `PASS ${password}` : "PASS")).code).toBe(230);
      expect((await w.transfer("RETR welcome.txt")).final!.code).toBe(226);
    });
  }

  test("uploads a new file to /drop, but cannot overwrite, append, rename or delete it", async () => {
    const s = await serve(users);
    const w = await login("anonymous", "guest@");
    expect((await w.transfer("STOR /drop/new.txt", bytes("first"))).final!.code).toBe(226);
    expect((await w.transfer("STOR /drop/new.txt", bytes("second"))).first.code).toBe(550);
    expect((await w.transfer("APPE /drop/new.txt", bytes("more"))).first.code).toBe(550);
    expect((await w.cmd("REST 1")).code).toBe(350);
    expect((await w.transfer("STOR /drop/new.txt", bytes("x"))).first.code).toBe(550);
    expect((await w.cmd("DELE /drop/new.txt")).code).toBe(550);
    expect((await w.cmd("RNFR /drop/new.txt")).code).toBe(550);
    expect((await w.cmd("MKD /drop/sub")).code).toBe(550);
    expect(readFileSync(join(s.root, "home/drop/new.txt"), "utf8")).toBe("first");
  });

  test("uploads outside /drop are refused", async () => {
    const s = await serve(users);
    const w = await login("ftp", "x");
    for (const name of ["/outside.txt", "outside.txt", "/drop/../outside.txt"]) {
      expect({ name, code: (await w.transfer(`STOR ${name}`, bytes("x"))).first.code }).toEqual({ name, code: 550 });
    }
    expect((await w.cmd("DELE /welcome.txt")).code).toBe(550);
    expect(existsSync(join(s.root, "home/anon/outside.txt"))).toBe(false);
    expect(existsSync(join(s.root, "home/anon/welcome.txt"))).toBe(true);
  });

  test("a concurrent second upload of the same new name loses: 450 before its 150 while the name is reserved, else 550 (a drop box overwrites nothing)", async () => {
    const s = await serve(users);
    const a = await login("anonymous", "a@");
    const b = await login("anonymous", "b@");
    const [ra, rb] = await Promise.all([a.transfer("STOR /drop/race.txt", bytes("from-a")), b.transfer("STOR /drop/race.txt", bytes("from-b"))]);
    const outcomes = [ra, rb].map((r) => (r.final ? `${r.first.code} ${r.final.code}` : `${r.first.code}`)).sort();
    expect(outcomes[0]).toBe("150 226");
    expect(["450", "550"]).toContain(outcomes[1]!);
    expect(["from-a", "from-b"]).toContain(readFileSync(join(s.root, "home/drop/race.txt"), "utf8"));
  });

  test("a named user logs in normally next to anonymous", async () => {
    await serve(users);
    await login("alice", "alice-pw");
    await login("alice", "wrong", 530);
  });

  const noAnon: Array<[string, string]> = [
    ["anonymous", "guest@example.com"],
    ["ftp", "x"],
    ["anonymous", ""],
  ];
  for (const [user, password] of noAnon) {
    test(`no anonymous access when no such user exists: USER ${user} → 530`, async () => {
      await serve([{ name: "alice", password: "alice-pw", home: "home/alice" }]);
      await login(user, password, 530);
    });
  }

  test("a named user without a password cannot log in at all", async () => {
    await serve([{ name: "alice", password: "alice-pw", home: "home/alice" }, { name: "nopw", home: "home/anon" }]);
    await login("nopw", "", 530);
    await login("nopw", "anything", 530);
  });
});
