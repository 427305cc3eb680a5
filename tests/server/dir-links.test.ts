// A symbolic link to a directory inside a home is listed as a link (as vsftpd and ProFTPD list it),
// read through by path, and removed by DELE: a recursive delete removes the link, and `sync --delete`
// leaves it; neither reaches what it names elsewhere in the home.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
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

test("ftpkit sync --delete leaves a link to a directory alone (skipped, said), and the files of the directory it names", async () => {
  const home = await siteWithLink();
  mkdirSync(join(work, "site"));
  writeFileSync(join(work, "site", "index.html"), "idx\n");
  const r = await runFtpkit(["sync", "--delete", join(work, "site"), `ftp://alice:alice-pw@127.0.0.1:${servers.server.port}/site/`], { cwd: work });
  // Before: "shared: cannot delete: RMD /site/shared: Not a directory (550)", exit 8, keep/ emptied.
  expect(r.stderr).toContain("shared: not deleted (a symbolic link to a directory or to nothing (the server does not size it as a file): not followed)");
  expect(r.code).toBe(0);
  expect(lstatSync(join(home, "site", "index.html")).isFile()).toBe(true);
  expect(lstatSync(join(home, "site", "shared")).isSymbolicLink()).toBe(true);
  expect(readFileSync(join(home, "keep", "important.txt"), "utf8")).toBe("precious\n");
});
