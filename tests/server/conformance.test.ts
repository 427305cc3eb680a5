// Protocol conformance found by outside clients and compared with vsftpd/ProFTPD (issue 10), on the wire.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseListLine } from "../../protocol/listing.ts";
import { useServers } from "../helpers/server.ts";

const servers = useServers();
const home = (p: string) => join(servers.server.home("alice"), p);
const lines = (data: Buffer) => data.toString("utf8").split("\r\n").filter(Boolean);

describe("NLST answers paths as given, and wildcards expand inside the jail", () => {
  const tree = () => {
    mkdirSync(servers.server.home("alice") + "/bins", { recursive: true });
    for (const n of ["f1.bin", "f2.bin", "g1.bin", ".f3.bin", "a[1].txt", "*.txt", "a?.txt", "ab.txt"]) writeFileSync(home(`bins/${n}`), n);
    // Directories whose names hold wildcards: listed as themselves (their contents), as vsftpd lists them.
    for (const d of ["x?y", "xzy", "st*r"]) mkdirSync(home(`bins/${d}`));
    writeFileSync(home("bins/x?y/inside.txt"), "i");
    writeFileSync(home("bins/st*r/s.txt"), "s");
  };

  test("a file argument comes back exactly as given; a directory argument prefixes each name", async () => {
    await servers.start();
    tree();
    const w = await servers.login();
    const cases: [string, string[]][] = [
      ["NLST /bins/f1.bin", ["/bins/f1.bin"]],
      ["NLST bins/f1.bin", ["bins/f1.bin"]],
      ["NLST docs", ["docs/nested", "docs/report.txt"]],
      ["NLST /docs/", ["/docs/nested", "/docs/report.txt"]],
      ["NLST /bins/f*.bin", ["/bins/f1.bin", "/bins/f2.bin"]],
      ["NLST bins/?1.bin", ["bins/f1.bin", "bins/g1.bin"]],
      ["NLST bins/.f*", ["bins/.f3.bin"]],
      ["NLST bins/a[1].txt", ["bins/a[1].txt"]], // an existing name with only [ is literal
      // One holding * or ? is expanded, as vsftpd and ProFTPD do: `mget *.txt` got only the file named "*.txt".
      ["NLST bins/*.txt", ["bins/*.txt", "bins/a?.txt", "bins/a[1].txt", "bins/ab.txt"]],
      ["NLST bins/a?.txt", ["bins/a?.txt", "bins/ab.txt"]],
      ["NLST bins/x?y", ["bins/x?y/inside.txt"]],
      ["NLST bins/st*r", ["bins/st*r/s.txt"]],
      ["NLST bins/[fg]2.bin", ["bins/f2.bin"]],
    ];
    for (const [line, expected] of cases) {
      const r = await w.transfer(line);
      expect({ line, code: r.final?.code, names: lines(r.data).sort() }).toEqual({ line, code: 226, names: expected });
    }
    expect(lines((await w.transfer("NLST")).data)).toContain("hello.txt"); // no argument: bare names
  });

  test("LIST and STAT expand a wildcard to the matching entries only", async () => {
    await servers.start();
    tree();
    const w = await servers.login();
    const r = await w.transfer("LIST -l /bins/f*.bin");
    expect(r.final?.code).toBe(226);
    expect(lines(r.data).map((l) => parseListLine(l)!.name)).toEqual(["f1.bin", "f2.bin"]);
    const st = await w.cmd("STAT /bins/g*");
    expect(st.code).toBe(213);
    expect(st.lines.filter((l) => /\d\d:\d\d /.test(l)).map((l) => parseListLine(l.trim())!.name)).toEqual(["g1.bin"]);
  });

  test("a wildcard that matches nothing, or a wildcard in a directory segment, is 550 before any data", async () => {
    await servers.start();
    tree();
    const w = await servers.login();
    expect((await w.transfer("NLST /bins/zz*")).first.code).toBe(550);
    expect((await w.transfer("NLST /b*/f1.bin")).first.code).toBe(550);
    expect((await w.transfer("LIST /nope/*")).first.code).toBe(550);
  });

  test("wildcards never reach outside the home: .. is folded and links outside are not listed", async () => {
    await servers.start();
    const w = await servers.login();
    for (const line of ["NLST /../../etc/pass*", "NLST ../*", "NLST escape-link/*", "NLST *"]) {
      const r = await w.transfer(line);
      const body = r.data.toString("utf8");
      expect(body).not.toContain("passwd\r\n");
      expect(body).not.toContain("hostname");
      expect(body).not.toContain("escape-link");
    }
  });

  test("every match of a wildcard is listed, 20,000 too (vsftpd and ProFTPD list them all: mget *.log in a big directory)", async () => {
    await servers.start();
    mkdirSync(home("many"));
    for (let i = 0; i < 20_000; i++) writeFileSync(home(`many/f${i}.log`), "");
    writeFileSync(home("many/other.txt"), "");
    const w = await servers.login();
    const r = await w.transfer("NLST many/*.log");
    expect(r.final?.code).toBe(226);
    const names = r.data.toString("utf8").split("\r\n").filter(Boolean);
    expect(names.length).toBe(20_000);
    expect(new Set(names).size).toBe(20_000);
    expect(names.every((n) => /^many\/f\d+\.log$/.test(n))).toBe(true);
    expect((await w.transfer("LIST many/f1999*")).data.toString("utf8").trim().split("\r\n").length).toBe(11);
    expect((await w.transfer("NLST many/*.none")).first.code).toBe(550);
  }, 60_000);
});

describe("names that are not valid UTF-8", () => {
  test("STOR caf\\xe9.txt and caf\\xe8.txt are refused with 553; nothing is created, nothing merged", async () => {
    await servers.start();
    const w = await servers.login();
    const before = readdirSync(servers.server.home("alice")).sort();
    for (const byte of [0xe9, 0xe8]) {
      w.raw(Buffer.concat([Buffer.from("STOR caf"), Buffer.from([byte]), Buffer.from(".txt\r\n")]));
      const r = await w.read();
      expect(r?.code).toBe(553);
      expect(r?.lines[0]).toContain("UTF-8");
    }
    for (const line of ["DELE", "MKD", "RNFR", "CWD", "NLST", "SIZE"]) {
      w.raw(Buffer.concat([Buffer.from(`${line} x`), Buffer.from([0xc3, 0x28, 0x80]), Buffer.from("\r\n")]));
      expect((await w.read())?.code).toBe(553);
    }
    expect(readdirSync(servers.server.home("alice")).sort()).toEqual(before);
    // Valid UTF-8 (including U+FFFD itself) is still a name like any other.
    expect((await w.transfer("STOR caf\u00e9-\ufffd.txt", Buffer.from("ok"))).final?.code).toBe(226);
    expect(readFileSync(home("caf\u00e9-\ufffd.txt"), "utf8")).toBe("ok");
  });
});

describe("OPTS MLST selects the facts MLSD and MLST send (RFC 3659 §7.9)", () => {
  test("type;size; → only those facts; FEAT marks the selection; an empty selection sends names only", async () => {
    await servers.start();
    const w = await servers.login();
    expect(await w.cmd("OPTS MLST type;size;bogus;")).toEqual({ code: 200, lines: ["MLST OPTS type;size;"] });
    const feat = await w.cmd("FEAT");
    expect(feat.lines).toContain(" MLST type*;size*;sizd;modify;perm;unique;UNIX.mode;");
    const m = await w.cmd("MLST hello.txt");
    expect(m.lines[1]).toBe(" type=file;size=18; /hello.txt");
    const d = lines((await w.transfer("MLSD docs")).data);
    expect(d).toContain("type=file;size=7; report.txt");
    expect(d).toContain("type=dir; nested");
    expect(await w.cmd("OPTS MLST")).toEqual({ code: 200, lines: ["MLST OPTS"] });
    expect((await w.cmd("MLST hello.txt")).lines[1]).toBe("  /hello.txt");
    expect((await w.cmd("OPTS MLST Type;Modify;")).lines[0]).toBe("MLST OPTS type;modify;");
    expect((await w.cmd("MLST hello.txt")).lines[1]).toMatch(/^ type=file;modify=\d{14}; \/hello.txt$/);
  });
});

describe("MLSD's unique fact (RFC 3659 §7.5.2) names a directory, however it is reached", () => {
  test("a directory and its own cdir line carry one unique; another directory another; a link to it is listed as a link; a link back up is not listed", async () => {
    await servers.start();
    const home = servers.server.home("alice");
    mkdirSync(join(home, "tree", "sub"), { recursive: true });
    symlinkSync("sub", join(home, "tree", "alias"));
    symlinkSync("..", join(home, "tree", "sub", "back"));
    const w = await servers.login();
    const unique = (listing: string[], name: string) => listing.find((l) => l.endsWith(` ${name}`))?.match(/unique=([^;]+);/)?.[1];
    const top = lines((await w.transfer("MLSD tree")).data);
    const sub = lines((await w.transfer("MLSD tree/sub")).data);
    expect(unique(top, ".")).toMatch(/^[0-9a-f]+\.[0-9a-f]+g[0-9a-f]+$/);
    expect(unique(sub, ".")).toBe(unique(top, "sub"));
    expect(unique(top, "sub")).not.toBe(unique(top, "."));
    expect(top.find((l) => l.endsWith(" alias"))).toMatch(/^type=OS\.unix=slink:sub;size=3;modify=\d{14};perm=df; alias$/);
    // A cycle back to tree: left out (clients that follow links would go round it).
    expect(sub.some((l) => l.endsWith(" back"))).toBe(false);
    expect((await w.cmd("CWD tree/sub/back")).code).toBe(250);
  });
});

describe("RANG end point is inclusive (draft-bryan-ftp-range, as ProFTPD)", () => {
  test("RANG 10 19 then RETR sends the 10 bytes 10..19; RANG 0 0 one byte; HELP says so", async () => {
    await servers.start();
    const data = Buffer.from("0123456789abcdefghijKLMNOP");
    writeFileSync(home("r.bin"), data);
    const w = await servers.login();
    expect(await w.cmd("RANG 10 19")).toEqual({ code: 350, lines: ["Restarting at 10. End byte range at 19"] });
    expect((await w.transfer("RETR r.bin")).data).toEqual(data.subarray(10, 20));
    await w.cmd("RANG 0 0");
    expect((await w.transfer("RETR r.bin")).data).toEqual(data.subarray(0, 1));
    // A range past the end stops at the end of the file.
    await w.cmd("RANG 20 1000");
    expect((await w.transfer("RETR r.bin")).data).toEqual(data.subarray(20));
    expect((await w.cmd("HELP RANG")).lines[0]).toContain("inclusive");
  });
});

describe("MFMT and MDTM <time> <path> set modification times", () => {
  test("MFMT sets the time (213 Modify=…), MDTM then reads it; FEAT lists MFMT", async () => {
    await servers.start();
    const w = await servers.login();
    expect((await w.cmd("FEAT")).lines).toContain(" MFMT");
    expect(await w.cmd("MFMT 20200102030405 hello.txt")).toEqual({ code: 213, lines: ["Modify=20200102030405; hello.txt"] });
    expect(statSync(home("hello.txt")).mtime.toISOString()).toBe("2020-01-02T03:04:05.000Z");
    expect(await w.cmd("MDTM hello.txt")).toEqual({ code: 213, lines: ["20200102030405"] });
    expect(await w.cmd("MFMT 20210102030405 with space.txt")).toEqual({ code: 213, lines: ["Modify=20210102030405; with space.txt"] });
    // RFC 3659: any number of fraction digits (milliseconds kept); a leap second is the next minute's first.
    expect(await w.cmd("MFMT 20200102030405.123456 hello.txt")).toEqual({ code: 213, lines: ["Modify=20200102030405; hello.txt"] });
    expect(statSync(home("hello.txt")).mtime.toISOString()).toBe("2020-01-02T03:04:05.123Z");
    expect(await w.cmd("MFMT 20161231235960 hello.txt")).toEqual({ code: 213, lines: ["Modify=20170101000000; hello.txt"] });
  });

  test("the two-argument MDTM form sets the time; a file named like a time is still read", async () => {
    await servers.start();
    writeFileSync(home("20000101000000 odd.txt"), "x");
    utimesSync(home("20000101000000 odd.txt"), new Date("2019-05-05T05:05:05Z"), new Date("2019-05-05T05:05:05Z"));
    const w = await servers.login();
    expect((await w.cmd("MDTM 20220304050607 hello.txt")).code).toBe(213);
    expect(statSync(home("hello.txt")).mtime.toISOString()).toBe("2022-03-04T05:06:07.000Z");
    expect(await w.cmd("MDTM 20000101000000 odd.txt")).toEqual({ code: 213, lines: ["20190505050505"] });
  });

  test("bad times are 501, missing files 550; nothing changes", async () => {
    await servers.start();
    const w = await servers.login();
    const before = statSync(home("hello.txt")).mtimeMs;
    for (const line of ["MFMT 2020 hello.txt", "MFMT 20201340000000 hello.txt", "MFMT hello.txt", "MFMT 20200230000000 hello.txt"]) {
      expect({ line, code: (await w.cmd(line)).code }).toEqual({ line, code: 501 });
    }
    expect((await w.cmd("MFMT 20200101000000 nope.txt")).code).toBe(550);
    expect((await w.cmd("MDTM 20200101000000 nope.txt")).code).toBe(550);
    expect(statSync(home("hello.txt")).mtimeMs).toBe(before);
  });

  test("MFMT on a directory sets its time, as ProFTPD does (lftp's mirror and rclone keep directories' times)", async () => {
    await servers.start();
    const w = await servers.login();
    // Before: 550 Not a regular file.
    expect(await w.cmd("MFMT 20200102030405 docs")).toEqual({ code: 213, lines: ["Modify=20200102030405; docs"] });
    expect(statSync(home("docs")).mtime.toISOString()).toBe("2020-01-02T03:04:05.000Z");
    expect((await w.cmd("MLST docs")).lines.join(" ")).toContain("modify=20200102030405;");
    // The home itself too (ProFTPD: 213); before, "holds only mount points".
    expect((await w.cmd("MFMT 20210102030405 /")).code).toBe(213);
    expect(statSync(home("")).mtime.toISOString()).toBe("2021-01-02T03:04:05.000Z");
  });

  test("setting a time needs the modify permission", async () => {
    await servers.start({ users: [{ name: "alice", password: "alice-pw", perms: ["read", "write"] }], setup: () => {} });
    writeFileSync(home("f.txt"), "x");
    const before = statSync(home("f.txt")).mtimeMs;
    const w = await servers.login();
    expect((await w.cmd("MFMT 20200101000000 f.txt")).code).toBe(550);
    expect((await w.cmd("MDTM 20200101000000 f.txt")).code).toBe(550);
    expect((await w.cmd("MDTM f.txt")).code).toBe(213);
    expect(statSync(home("f.txt")).mtimeMs).toBe(before);
  });

  test("modify without read is enough to set a time", async () => {
    await servers.start({ users: [{ name: "alice", password: "alice-pw", perms: ["write", "modify"] }], setup: () => {} });
    writeFileSync(home("f.txt"), "x");
    const w = await servers.login();
    expect((await w.cmd("MFMT 20200101000000 f.txt")).code).toBe(213);
    expect((await w.cmd("MDTM 20210101000000 f.txt")).code).toBe(213);
    expect(statSync(home("f.txt")).mtime.toISOString()).toBe("2021-01-01T00:00:00.000Z");
    expect((await w.cmd("MDTM f.txt")).code).toBe(550); // reading it needs read
  });
});

describe("HASH never answers from a stale cache", () => {
  test("a file rewritten in place keeping size and mtime (cp -p, rsync) gets a new digest", async () => {
    await servers.start();
    const w = await servers.login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    const first = Buffer.from("first content!\n");
    expect((await w.transfer("STOR same.txt", first)).final?.code).toBe(226); // hashed while streaming
    const h1 = (await w.cmd("HASH same.txt")).lines[0]!;
    expect(h1).toContain(createHash("sha256").update(first).digest("hex"));
    const { mtime, atime } = statSync(home("same.txt"));
    const second = Buffer.from("other content!\n");
    writeFileSync(home("same.txt"), second);
    utimesSync(home("same.txt"), atime, mtime);
    expect(statSync(home("same.txt")).size).toBe(first.length);
    expect((await w.cmd("HASH same.txt")).lines[0]).toContain(createHash("sha256").update(second).digest("hex"));
    // The same through a download (also hashed while streaming) and a replace by rename (rsync).
    await w.transfer("RETR same.txt");
    const third = Buffer.from("third content!\n");
    writeFileSync(home("same.tmp"), third);
    utimesSync(home("same.tmp"), atime, mtime);
    renameSync(home("same.tmp"), home("same.txt"));
    expect((await w.cmd("HASH same.txt")).lines[0]).toContain(createHash("sha256").update(third).digest("hex"));
    expect((await w.cmd("XSHA256 same.txt")).lines[0]).toBe(createHash("sha256").update(third).digest("hex"));
  });
});

describe("TYPE A converts line ends; TYPE I (the default) sends bytes unchanged", () => {
  const stored = Buffer.from("line1\nline2\r\nline3\n");

  test("RETR in TYPE A sends CRLF; without TYPE, or in TYPE I, the stored bytes", async () => {
    await servers.start();
    writeFileSync(home("t.txt"), stored);
    const w = await servers.login();
    expect((await w.transfer("RETR t.txt")).data).toEqual(stored); // the initial TYPE is I
    expect((await w.cmd("STAT")).lines.join("\n")).toContain("TYPE: BINARY");
    expect((await w.cmd("TYPE A")).code).toBe(200);
    const a = await w.transfer("RETR t.txt");
    expect(a.first.lines[0]).toContain("ASCII mode");
    expect(a.data.toString()).toBe("line1\r\nline2\r\nline3\r\n");
    expect((await w.cmd("TYPE I")).code).toBe(200);
    expect((await w.transfer("RETR t.txt")).data).toEqual(stored);
  });

  test("STOR and APPE in TYPE A store LF; in TYPE I, CRLF is kept", async () => {
    await servers.start();
    const w = await servers.login();
    await w.cmd("TYPE A");
    expect((await w.transfer("STOR up.txt", Buffer.from("a\r\nb\r\nc\rd\r\n"))).final?.code).toBe(226);
    expect(readFileSync(home("up.txt"), "utf8")).toBe("a\nb\nc\rd\n");
    expect((await w.transfer("APPE up.txt", Buffer.from("e\r\n"))).final?.code).toBe(226);
    expect(readFileSync(home("up.txt"), "utf8")).toBe("a\nb\nc\rd\ne\n");
    await w.cmd("TYPE I");
    expect((await w.transfer("STOR bin.txt", Buffer.from("a\r\nb\r\n"))).final?.code).toBe(226);
    expect(readFileSync(home("bin.txt"), "utf8")).toBe("a\r\nb\r\n");
  });

  test("in TYPE A: SIZE is refused (550), REST is refused (501, as ProFTPD and pyftpdlib), a REST from TYPE I or a RANG + RETR/STOR are refused (550), HASH digests the stored bytes", async () => {
    await servers.start();
    writeFileSync(home("t.txt"), stored);
    const w = await servers.login();
    await w.cmd("TYPE A");
    const size = await w.cmd("SIZE t.txt");
    expect(size.code).toBe(550);
    expect(size.lines[0]).toContain("ASCII");
    const refused = await w.cmd("REST 3");
    expect(refused.code).toBe(501);
    expect(refused.lines[0]).toContain("ASCII");
    expect((await w.cmd("REST 0")).code).toBe(350);
    // The refused REST left no offset: the RETR sends the whole text.
    const whole = await w.transfer("RETR t.txt");
    expect(whole.final?.code).toBe(226);
    expect(whole.data.toString()).toBe("line1\r\nline2\r\nline3\r\n");
    expect((await w.cmd("RANG 0 4")).code).toBe(350);
    expect((await w.transfer("RETR t.txt")).first.code).toBe(550);
    await w.cmd("TYPE I");
    expect((await w.cmd("REST 3")).code).toBe(350);
    await w.cmd("TYPE A");
    expect((await w.transfer("RETR t.txt")).first.code).toBe(550);
    await w.cmd("TYPE I");
    expect((await w.cmd("REST 3")).code).toBe(350);
    await w.cmd("TYPE A");
    expect((await w.transfer("STOR t.txt", Buffer.from("x"))).first.code).toBe(550);
    expect(readFileSync(home("t.txt"))).toEqual(stored);
    const h = await w.cmd("HASH t.txt");
    expect(h.lines[0]).toContain(createHash("sha256").update(stored).digest("hex"));
    await w.cmd("TYPE I");
    expect(await w.cmd("SIZE t.txt")).toEqual({ code: 213, lines: [String(stored.length)] });
  });

  test("the quota is charged for the bytes stored, not the CRs that arrived", async () => {
    await servers.start({ users: [{ name: "alice", password: "alice-pw", quota: 1_000_000 }], setup: () => {} });
    const w = await servers.login();
    const used = async () => Number(/used (\d+)/.exec((await w.cmd("SITE QUOTA")).lines.join(" "))![1]);
    const before = await used();
    await w.cmd("TYPE A");
    const lines = Buffer.from("x\r\n".repeat(1000));
    expect((await w.transfer("STOR q.txt", lines)).final?.code).toBe(226);
    expect(statSync(home("q.txt")).size).toBe(2000);
    expect((await used()) - before).toBe(2000);
  });
});
