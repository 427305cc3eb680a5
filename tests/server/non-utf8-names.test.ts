// Names on a local disk that are not UTF-8 (made by local users, old Latin-1 uploads, restored
// backups): the quota counts their bytes, listings show each once, masked, with its own stat, and
// RMD of a directory holding only such names says why it cannot be emptied.
import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import type { UserSpec } from "../helpers/users.ts";
import { du, finalCode, random } from "../helpers/quota.ts";

const servers = useServers();
const KB = 1000;
const b = (s: string) => Buffer.from(s, "latin1"); // one byte a character: "\xe9" is the byte 0xE9

/** The explorer's directory: two Latin-1 names, a real U+FFFD name, a Latin-1 directory with a file. */
function badDir(home: string, dir = "bad"): void {
  const d = Buffer.concat([Buffer.from(join(home, dir)), b("/")]);
  mkdirSync(d, { recursive: true });
  writeFileSync(Buffer.concat([d, b("latin\xe9.txt")]), "l");
  writeFileSync(Buffer.concat([d, b("caf\xe9.txt")]), "latin-cafe\n");
  writeFileSync(Buffer.concat([d, b("caf\xef\xbf\xbd.txt")]), "real-fffd\n"); // "caf\uFFFD.txt" in UTF-8
  mkdirSync(Buffer.concat([d, b("sub\xff")]));
  writeFileSync(Buffer.concat([d, b("sub\xff/inner.txt")]), "i");
}

describe("names that are not UTF-8 in a local home", () => {
  test("count in the quota: SITE QUOTA and AVBL see their bytes, and an upload past the limit gets 552", async () => {
    const alice: UserSpec = { name: "alice", password: "alice-pw", home: "home/alice", quota: 1000 * KB };
    const s = await servers.start({
      users: [alice],
      setup: (root) => {
        const home = Buffer.from(join(root, "home/alice/"));
        mkdirSync(Buffer.concat([home, b("legacy\xe9")]));
        writeFileSync(Buffer.concat([home, b("legacy\xe9/big.bin")]), random(600 * KB));
        writeFileSync(Buffer.concat([home, b("r\xe9sum\xe9.bin")]), random(90 * KB));
      },
    });
    const onDisk = du(s.home("alice"));
    expect(onDisk).toBeGreaterThanOrEqual(690 * KB);
    const w = await servers.login();
    // Before: "used 1234 of 1000000" (the fixture's own files only), AVBL 998766.
    const q = await w.cmd("SITE QUOTA");
    expect(q.lines.join("\n")).toContain(`used ${onDisk} of ${1000 * KB} bytes`);
    const avbl = await w.cmd("AVBL");
    expect([avbl.code, Number(avbl.lines[0])]).toEqual([213, 1000 * KB - onDisk]);
    // 400 KB does not fit in what is left (before: accepted, 1.09 MB on disk under a 1 MB quota).
    expect(finalCode(await w.transfer("STOR more.bin", random(400 * KB)))).toBe(552);
    expect(du(s.home("alice"))).toBeLessThanOrEqual(1000 * KB);
  });

  test("LIST, MLSD and NLST show each entry once, masked, with its own size; the subdirectory too", async () => {
    const s = await servers.start({ setup: (root) => badDir(join(root, "home/alice")) });
    const w = await servers.login();
    expect((await w.cmd("TYPE A")).code).toBe(200);

    const mlsd = await w.transfer("MLSD bad");
    expect(mlsd.final?.code).toBe(226);
    const facts = new Map<string, string>();
    const names: string[] = [];
    for (const line of mlsd.data.toString("utf8").split("\r\n").filter(Boolean)) {
      const sp = line.indexOf(" ");
      names.push(line.slice(sp + 1));
      facts.set(line.slice(sp + 1), line.slice(0, sp).toLowerCase());
    }
    // Before: "caf\uFFFD.txt" twice (size 10 both times), latin?.txt and sub? missing.
    expect(names.filter((n) => n !== "." && n !== "..").sort()).toEqual(["caf?.txt", "caf\uFFFD.txt", "latin?.txt", "sub?"]);
    expect(facts.get("caf?.txt")).toContain("size=11;");
    expect(facts.get("caf\uFFFD.txt")).toContain("size=10;");
    expect(facts.get("latin?.txt")).toContain("size=1;");
    expect(facts.get("sub?")).toContain("type=dir;");

    const list = await w.transfer("LIST bad");
    expect(list.final?.code).toBe(226);
    const lines = list.data.toString("utf8").split("\r\n").filter(Boolean);
    const sizeOf = (name: string) => lines.filter((l) => l.endsWith(` ${name}`)).map((l) => l.split(/ +/)[4]);
    expect(lines.length).toBe(4);
    expect([sizeOf("caf?.txt"), sizeOf("caf\uFFFD.txt"), sizeOf("latin?.txt")]).toEqual([["11"], ["10"], ["1"]]);
    expect(lines.find((l) => l.endsWith(" sub?"))?.startsWith("d")).toBe(true);

    const nlst = await w.transfer("NLST bad");
    expect(nlst.final?.code).toBe(226);
    expect(nlst.data.toString("utf8").split("\r\n").filter(Boolean).sort()).toEqual(["bad/caf?.txt", "bad/caf\uFFFD.txt", "bad/latin?.txt", "bad/sub?"]);

    // The masked name names no file: 550 for that one (never the U+FFFD file's bytes); the real one is served.
    expect((await w.transfer("RETR bad/caf?.txt")).first.code).toBe(550);
    expect((await w.cmd("TYPE I")).code).toBe(200);
    const real = await w.transfer("RETR bad/caf\uFFFD.txt");
    expect([real.final?.code, real.data.toString()]).toEqual([226, "real-fffd\n"]);
  });

  test("links whose names are not UTF-8 are listed masked: one to a file with its target's size, one to a directory as a link", async () => {
    await servers.start({
      setup: (root) => {
        const d = Buffer.from(join(root, "home/alice/links/"));
        mkdirSync(Buffer.concat([d, b("t\xe9")]), { recursive: true });
        writeFileSync(Buffer.concat([d, b("t\xe9/f.txt")]), "seven\n");
        symlinkSync(b("t\xe9/f.txt"), Buffer.concat([d, b("lf\xe9")]));
        symlinkSync(b("t\xe9"), Buffer.concat([d, b("ld\xe9")]));
      },
    });
    const w = await servers.login();
    const mlsd = await w.transfer("MLSD links");
    const lines = mlsd.data.toString("utf8").split("\r\n").filter(Boolean);
    const factsOf = (name: string) => lines.filter((l) => l.endsWith(` ${name}`)).map((l) => l.slice(0, l.indexOf(" ")).toLowerCase());
    expect(factsOf("lf?")).toHaveLength(1);
    expect(factsOf("lf?")[0]).toContain("size=6;");
    expect(factsOf("lf?")[0]).toContain("type=file;");
    expect(factsOf("ld?")).toHaveLength(1);
    expect(factsOf("ld?")[0]).toContain("slink:t?");
    expect(factsOf("t?")).toHaveLength(1);
  });

  test("RMD of a directory holding only such names says why, naming no real path", async () => {
    const s = await servers.start({
      setup: (root) => {
        const d = Buffer.from(join(root, "home/alice/old/"));
        mkdirSync(d);
        writeFileSync(Buffer.concat([d, b("r\xe9sum\xe9.doc")]), "x");
      },
    });
    const w = await servers.login();
    const r = await w.cmd("RMD old");
    // Before: "only entries FTP does not show (… names with line breaks)", though LIST shows it.
    expect(r.code).toBe(550);
    expect(r.lines.join(" ")).toContain("not UTF-8");
    expect(r.lines.join(" ")).not.toContain(s.root);
    // A directory that also holds an ordinary file gets the plain reply: that file can be removed.
    writeFileSync(join(s.home("alice"), "old", "plain.txt"), "p");
    expect((await w.cmd("RMD old")).lines.join(" ")).not.toContain("UTF-8");
  });
});
