// A name written with a trailing "/" names a directory (open("a.txt/") is ENOTDIR on Unix; vsftpd
// refuses it): verbs that name a file refuse it with a clear reply and touch nothing, and a link to a
// directory written "cur/" is that directory, never the link. Directory verbs still take "dir/".
import { expect, test } from "bun:test";
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";

const servers = useServers();

/** alice's home with a.txt, d/in.txt and cur -> d. */
async function tree(): Promise<string> {
  await servers.start();
  const home = servers.server.home("alice");
  writeFileSync(join(home, "a.txt"), "hello\n");
  mkdirSync(join(home, "d"));
  writeFileSync(join(home, "d", "in.txt"), "inside\n");
  symlinkSync("d", join(home, "cur"));
  return home;
}

const refusals: Array<[string, number, string]> = [
  ["SIZE a.txt/", 550, "Not a directory"],
  ["MDTM a.txt/", 550, "Not a directory"],
  ["MLST a.txt/", 550, "Not a directory"],
  ["HASH a.txt/", 550, "Not a directory"],
  ["XMD5 a.txt/", 550, "Not a directory"],
  ["MFMT 20200101000000 a.txt/", 550, "Not a directory"],
  ["SITE CHMOD 600 a.txt/", 550, "Not a directory"],
  ["DELE a.txt/", 550, "Not a directory"],
  ["DELE a.txt/.", 550, "Not a directory"],
  ["DELE cur/", 550, "Is a directory (use RMD)"],
  ["DELE d/", 550, "Is a directory (use RMD)"],
  ["RNFR a.txt/", 550, "Not a directory"],
  ["RNFR cur/", 550, "Not a directory"],
];

test("verbs that name a file refuse a name ending in / (ENOTDIR), and nothing is changed", async () => {
  const home = await tree();
  const w = await servers.login();
  expect((await w.cmd("TYPE I")).code).toBe(200);
  for (const [line, code, text] of refusals) expect([line, await w.cmd(line)]).toEqual([line, { code, lines: [text] }]);
  expect((await w.transfer("RETR a.txt/")).first).toEqual({ code: 550, lines: ["Not a directory"] });
  expect((await w.transfer("RETR cur/")).first).toEqual({ code: 550, lines: ["Not a regular file"] });
  for (const verb of ["STOR", "APPE", "STOU"]) {
    for (const name of ["a.txt/", "new/", "d/"]) {
      expect((await w.transfer(`${verb} ${name}`, Buffer.from("new\n"))).first).toEqual({ code: 553, lines: ["File name not allowed: a name ending in / names a directory"] });
    }
  }
  expect((await w.cmd("RNFR a.txt")).code).toBe(350);
  expect(await w.cmd("RNTO z/")).toEqual({ code: 550, lines: ["Not a directory"] });
  // Before: STOR a.txt/ rewrote a.txt, DELE cur/ removed the link, RNTO z/ made a file z.
  expect(readFileSync(join(home, "a.txt"), "utf8")).toBe("hello\n");
  expect(lstatSync(join(home, "cur")).isSymbolicLink()).toBe(true);
  expect(lstatSync(join(home, "a.txt")).mode & 0o777).toBe(0o644);
  for (const name of ["new", "z"]) expect(lstatSync(join(home, name), { throwIfNoEntry: false })).toBeUndefined();
});

test("directory verbs take dir/ (a link to a directory followed), and file verbs still take the plain names", async () => {
  const home = await tree();
  const w = await servers.login();
  expect((await w.cmd("CWD cur/")).code).toBe(250);
  expect((await w.cmd("CWD /")).code).toBe(250);
  expect((await w.transfer("NLST d/")).data.toString()).toBe("d/in.txt\r\n");
  expect((await w.transfer("LIST cur/")).data.toString()).toContain(" in.txt\r\n");
  expect((await w.cmd("MLST cur/")).lines[1]).toMatch(/^ type=dir;.* \/cur$/);
  expect((await w.cmd("MFMT 20200101000000 d/")).code).toBe(213);
  expect((await w.cmd("MKD n/")).code).toBe(257);
  expect((await w.cmd("RMD n/")).code).toBe(250);
  expect((await w.cmd("RNFR d/")).code).toBe(350);
  expect((await w.cmd("RNTO e/")).code).toBe(250);
  expect(readFileSync(join(home, "e", "in.txt"), "utf8")).toBe("inside\n");
  expect((await w.cmd("TYPE I")).code).toBe(200);
  expect(await w.cmd("SIZE a.txt")).toEqual({ code: 213, lines: ["6"] });
  expect((await w.transfer("RETR ./a.txt")).data.toString()).toBe("hello\n");
  expect((await w.cmd("DELE a.txt")).code).toBe(250);
});
