// A symbolic link to a directory inside a home is listed as a link (as vsftpd and ProFTPD list it),
// read through by path, and removed by DELE: a recursive delete or `sync --delete` removes the link,
// never what it names elsewhere in the home.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, tempDir } from "../helpers/peers.ts";
import { useServers } from "../helpers/server.ts";

const servers = useServers();
let work: string;
beforeEach(() => {
  work = tempDir("ftpkit-dir-links-");
});
afterEach(() => removeDir(work));

/** alice's home: site/ (index.html, shared -> ../keep), keep/important.txt. */
async function siteWithLink(): Promise<string> {
  await servers.start();
  const home = servers.server.home("alice");
  mkdirSync(join(home, "site"));
  mkdirSync(join(home, "keep"));
  writeFileSync(join(home, "keep", "important.txt"), "precious\n");
  writeFileSync(join(home, "site", "index.html"), "idx\n");
  symlinkSync("../keep", join(home, "site", "shared"));
  return home;
}

const lines = (data: Uint8Array) => new TextDecoder().decode(data).split("\r\n").filter(Boolean);

test("LIST and MLSD show the link as a link with its target; paths through it still read; DELE removes the link only", async () => {
  const home = await siteWithLink();
  const w = await servers.login();
  const list = lines((await w.transfer("LIST site")).data);
  expect(list.find((l) => l.endsWith("shared -> ../keep"))).toMatch(/^lrwxrwxrwx +1 ftp +ftp +7 \w{3} [ \d]\d [\d:]{4,5} shared -> \.\.\/keep$/);
  const mlsd = lines((await w.transfer("MLSD site")).data);
  expect(mlsd.find((l) => l.endsWith(" shared"))).toMatch(/^type=OS\.unix=slink:\.\.\/keep;size=7;modify=\d{14};perm=df;/);
  // Reached by name, the link is followed (a deploy's current -> releases/N keeps serving).
  expect((await w.transfer("RETR site/shared/important.txt")).data.toString()).toBe("precious\n");
  expect((await w.cmd("CWD site/shared")).code).toBe(250);
  expect((await w.cmd("CWD /")).code).toBe(250);
  // Before: 550 Is a directory (use RMD), and RMD said "Not a directory": nothing removed the link.
  expect((await w.cmd("DELE site/shared")).code).toBe(250);
  expect(existsSync(join(home, "site", "shared"))).toBe(false);
  expect(readFileSync(join(home, "keep", "important.txt"), "utf8")).toBe("precious\n");
});

test("ftpkit sync --delete removes a link the source does not have (the link itself, also inside a directory it removes), never the files of the directory it names", async () => {
  const home = await siteWithLink();
  mkdirSync(join(home, "site", "old"));
  symlinkSync("../../keep", join(home, "site", "old", "shared-too"));
  mkdirSync(join(work, "site"));
  writeFileSync(join(work, "site", "index.html"), "idx\n");
  const r = await runFtpkit(["sync", "--delete", join(work, "site"), `ftp://alice:alice-pw@127.0.0.1:${servers.server.port}/site/`], { cwd: work });
  // Before: "shared: not deleted (a symbolic link …)", and old/'s RMD failed on its link: exit 8.
  expect(r.stderr).toMatch(/0 copied .* 3 deleted, 0 failed/);
  expect(r.code).toBe(0);
  expect(lstatSync(join(home, "site", "index.html")).isFile()).toBe(true);
  expect(existsSync(join(home, "site", "shared"))).toBe(false);
  expect(existsSync(join(home, "site", "old"))).toBe(false);
  expect(readFileSync(join(home, "keep", "important.txt"), "utf8")).toBe("precious\n");
});

test("ftpkit sync --delete into a local directory removes a local link to a directory the server does not have, never what it names", async () => {
  await siteWithLink();
  const local = join(work, "mirror");
  mkdirSync(join(work, "elsewhere"));
  writeFileSync(join(work, "elsewhere", "mine.txt"), "mine\n");
  mkdirSync(local);
  symlinkSync("../elsewhere", join(local, "extra"));
  const r = await runFtpkit(["sync", "--delete", `ftp://alice:alice-pw@127.0.0.1:${servers.server.port}/keep/`, local], { cwd: work });
  expect(r.code).toBe(0);
  expect(lstatSync(join(local, "extra"), { throwIfNoEntry: false })).toBeUndefined();
  expect(readFileSync(join(work, "elsewhere", "mine.txt"), "utf8")).toBe("mine\n");
  expect(readFileSync(join(local, "important.txt"), "utf8")).toBe("precious\n");
});

test("a link whose target a fact value cannot hold (a space) is listed in MLSD without it, its name intact; LIST shows it", async () => {
  const home = await siteWithLink();
  mkdirSync(join(home, "site", "v 2"));
  symlinkSync("v 2", join(home, "site", "link with space"));
  const w = await servers.login();
  const mlsd = lines((await w.transfer("MLSD site")).data);
  // Before: "type=OS.unix=slink:v 2;…; link with space", read by ftplib as a name starting "2;size=…".
  expect(mlsd.find((l) => l.endsWith(" link with space"))).toMatch(/^type=OS\.unix=slink;size=3;modify=\d{14};perm=df; link with space$/);
  expect(lines((await w.transfer("LIST site")).data).some((l) => l.endsWith(" link with space -> v 2"))).toBe(true);
});

test("STOR over a link to a file replaces the link with a file of a new file's mode, not the link's 0777", async () => {
  const home = await siteWithLink();
  writeFileSync(join(home, "keep", "secret.txt"), "s\n");
  chmodSync(join(home, "keep", "secret.txt"), 0o600);
  symlinkSync("../keep/secret.txt", join(home, "site", "secret-link"));
  const w = await servers.login();
  expect((await w.transfer("STOR site/secret-link", Buffer.from("new\n"))).final?.code).toBe(226);
  expect(lstatSync(join(home, "site", "secret-link")).isFile()).toBe(true);
  // Before: -rwxrwxrwx.
  expect(statSync(join(home, "site", "secret-link")).mode & 0o777).toBe(statSync(join(home, "site", "index.html")).mode & 0o777);
  expect(readFileSync(join(home, "keep", "secret.txt"), "utf8")).toBe("s\n");
});

test("a link with an absolute target inside the home is listed without its target, and with no size (which would tell the real path's length)", async () => {
  const home = await siteWithLink();
  symlinkSync(join(home, "keep"), join(home, "site", "abs"));
  const w = await servers.login();
  const list = lines((await w.transfer("LIST site")).data);
  expect(list.find((l) => / abs$/.test(l))).toMatch(/^lrwxrwxrwx +1 ftp +ftp +0 .* abs$/);
  const mlsd = lines((await w.transfer("MLSD site")).data);
  expect(mlsd.find((l) => l.endsWith(" abs"))).toMatch(/^type=OS\.unix=slink;size=0;/);
  for (const l of [...list, ...mlsd]) expect(l).not.toContain(home);
});

test("ftpkit ls shows a link's target as ls -l does, and --json names it", async () => {
  await siteWithLink();
  const url = `ftp://alice:alice-pw@127.0.0.1:${servers.server.port}/site/`;
  const text = await runFtpkit(["ls", url], { cwd: work });
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/^lrwxrwxrwx +7 .* shared -> \.\.\/keep$/m);
  const json = await runFtpkit(["ls", "--json", url], { cwd: work });
  expect((JSON.parse(json.stdout) as Array<Record<string, unknown>>).find((e) => e.name === "shared")).toMatchObject({ type: "link", target: "../keep" });
});

test("a relative target holding ';' is shown in LIST (lftp's mirror makes the link), left out of MLSD's fact", async () => {
  const home = await siteWithLink();
  mkdirSync(join(home, "site", "we ird;x"));
  symlinkSync("we ird;x", join(home, "site", "wl"));
  const w = await servers.login();
  // Before: no target in LIST either.
  expect(lines((await w.transfer("LIST site")).data).some((l) => l.endsWith(" wl -> we ird;x"))).toBe(true);
  expect(lines((await w.transfer("MLSD site")).data).find((l) => l.endsWith(" wl"))).toMatch(/^type=OS\.unix=slink;/);
});

test("MLST of a link to a directory shows the link as its parent's MLSD does (a link back up too); 'link/' names the directory; ftpkit ls still lists through it", async () => {
  const home = await siteWithLink();
  symlinkSync("..", join(home, "keep", "up"));
  const w = await servers.login();
  const inParent = lines((await w.transfer("MLSD site")).data).find((l) => l.endsWith(" shared"))!;
  const mlst = await w.cmd("MLST site/shared");
  expect(mlst.code).toBe(250);
  // Before: "type=dir;…": a client that looks the name up before a recursive delete went through it.
  expect(mlst.lines[1]).toBe(` ${inParent.replace(/ shared$/, " /site/shared")}`);
  expect(mlst.lines[1]).toMatch(/^ type=OS\.unix=slink:\.\.\/keep;size=7;modify=\d{14};perm=df; \/site\/shared$/);
  expect((await w.cmd("MLST keep/up")).lines[1]).toMatch(/^ type=OS\.unix=slink:\.\.;size=2;/);
  expect((await w.cmd("MLST site/shared/")).lines[1]).toMatch(/^ type=dir;sizd=0;.* \/site\/shared$/);
  expect((await w.cmd("MLST keep")).lines[1]).toMatch(/^ type=dir;/);
  const ls = await runFtpkit(["ls", `ftp://alice:alice-pw@127.0.0.1:${servers.server.port}/site/shared`], { cwd: work });
  expect(ls.code).toBe(0);
  expect(ls.stdout).toMatch(/ important\.txt$/m);
});
