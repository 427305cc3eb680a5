// SITE CHMOD (as vsftpd and ProFTPD have it; `lftp mirror -R` and `ftpkit put -r` send it for
// executables) and the modes listings show: MLSD/MLST's UNIX.mode fact, LIST's columns.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseListLine } from "../../protocol/listing.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({
    setup: (root) => mkdirSync(join(root, "home", "ro"), { recursive: true }),
    users: [{ name: "alice", password: "alice-pw", mounts: [{ vpath: "/ro", dir: "home/ro", perms: ["read"], quota: 0 }] }],
  });
});

afterAll(async () => {
  await srv.stop();
});

async function alice(): Promise<Wire> {
  const w = await Wire.connect(srv.port);
  await w.login("alice", "alice-pw");
  return w;
}

describe("SITE CHMOD", () => {
  test("sets a file's permission bits, which MLST's UNIX.mode and LIST's columns then show", async () => {
    const w = await alice();
    const f = join(srv.home("alice"), "run.sh");
    writeFileSync(f, "#!/bin/sh\n");
    expect(await w.cmd("SITE CHMOD 750 run.sh")).toEqual({ code: 200, lines: ["SITE CHMOD command ok."] });
    expect(statSync(f).mode & 0o7777).toBe(0o750);
    expect((await w.cmd("MLST run.sh")).lines[1]).toContain(";UNIX.mode=0750; /run.sh");
    const list = (await w.transfer("LIST run.sh")).data.toString();
    expect(parseListLine(list.trim())!.mode).toBe(0o750);
    expect(list).toMatch(/^-rwxr-x--- /);
    w.close();
  });

  test("a path that ends or begins with a space is kept whole (lftp mirror -R: \"SITE CHMOD 644 ./trail.txt \"), as vsftpd keeps it", async () => {
    const w = await alice();
    const trail = join(srv.home("alice"), "trail.txt ");
    const lead = join(srv.home("alice"), " lead.txt");
    writeFileSync(trail, "t\n");
    writeFileSync(lead, "l\n");
    // Before: both 550 "No such file or directory" (the path trimmed to "./trail.txt", "lead.txt").
    expect((await w.cmd("SITE CHMOD 600 ./trail.txt ")).code).toBe(200);
    expect(statSync(trail).mode & 0o777).toBe(0o600);
    expect((await w.cmd("SITE CHMOD 640  lead.txt")).code).toBe(200);
    expect(statSync(lead).mode & 0o777).toBe(0o640);
    w.close();
  });

  test("a file made unreadable (000) can be given its bits back", async () => {
    const w = await alice();
    const f = join(srv.home("alice"), "locked.txt");
    writeFileSync(f, "x");
    expect((await w.cmd("SITE CHMOD 000 locked.txt")).code).toBe(200);
    expect(statSync(f).mode & 0o777).toBe(0);
    expect((await w.cmd("SITE CHMOD 644 locked.txt")).code).toBe(200);
    expect(statSync(f).mode & 0o777).toBe(0o644);
    w.close();
  });

  test("refuses what it must not do: setuid and the like, missing files, a link out of the home, a read-only mount, a malformed mode", async () => {
    const w = await alice();
    const f = join(srv.home("alice"), "plain.txt");
    writeFileSync(f, "x");
    const before = statSync(f).mode;
    expect(await w.cmd("SITE CHMOD 4755 plain.txt")).toEqual({ code: 550, lines: ["Only permission bits (000 to 777) can be set"] });
    expect((await w.cmd("SITE CHMOD 755")).code).toBe(501);
    expect((await w.cmd("SITE CHMOD 8 plain.txt")).code).toBe(501);
    expect((await w.cmd("SITE CHMOD rwx plain.txt")).code).toBe(501);
    expect(statSync(f).mode).toBe(before);
    expect((await w.cmd("SITE CHMOD 644 nosuch.txt")).code).toBe(550);
    const passwd = statSync("/etc/passwd").mode;
    expect((await w.cmd("SITE CHMOD 600 passwd-link")).code).toBe(550);
    expect(statSync("/etc/passwd").mode).toBe(passwd);
    writeFileSync(join(srv.root, "home", "ro", "r.txt"), "r");
    expect(await w.cmd("SITE CHMOD 600 /ro/r.txt")).toEqual({ code: 550, lines: ["Permission denied"] });
    expect(statSync(join(srv.root, "home", "ro", "r.txt")).mode & 0o777).not.toBe(0o600);
    w.close();
  });

  test("a directory takes it too (as in vsftpd and ProFTPD), keeping its owner's read and search bits, so the server can still list and measure it", async () => {
    const w = await alice();
    const dir = join(srv.home("alice"), "web-uploads");
    mkdirSync(dir);
    expect((await w.cmd("SITE CHMOD 733 web-uploads")).code).toBe(200);
    expect(statSync(dir).mode & 0o7777).toBe(0o733);
    expect((await w.cmd("MLST web-uploads")).lines[1]).toContain(";UNIX.mode=0733;");
    expect((await w.cmd("SITE CHMOD 000 web-uploads")).code).toBe(200);
    expect(statSync(dir).mode & 0o777).toBe(0o500);
    expect((await w.cmd("SITE CHMOD 755 web-uploads")).code).toBe(200);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    w.close();
  });

  test("the home itself is refused (a mount point, like RMD and RNFR of one), and its mode stays", async () => {
    const w = await alice();
    const home = srv.home("alice");
    const mode = statSync(home).mode & 0o777;
    for (const path of ["/", "."]) expect(await w.cmd(`SITE CHMOD 777 ${path}`)).toEqual({ code: 550, lines: ["Cannot change the permissions of a mount point"] });
    expect(statSync(home).mode & 0o777).toBe(mode);
    w.close();
  });

  // A link to the home found in it (`self -> .`, README names such links): judged by its path only,
  // SITE CHMOD 777 self made the home world-writable.
  test("the home reached through a link to it is refused too, and its mode stays", async () => {
    const home = srv.home("alice");
    mkdirSync(join(home, "sub"), { recursive: true });
    symlinkSync(".", join(home, "self"));
    const mode = statSync(home).mode & 0o777;
    const w = await alice();
    for (const path of ["self", "sub/../self", "self/"]) expect(await w.cmd(`SITE CHMOD 777 ${path}`)).toEqual({ code: 550, lines: ["Cannot change the permissions of a mount point"] });
    expect(statSync(home).mode & 0o777).toBe(mode);
    w.close();
  });

  test("SITE HELP names it", async () => {
    const w = await alice();
    expect((await w.cmd("SITE HELP")).lines.join("\n")).toContain("CHMOD <mode> <path>");
    w.close();
  });
});
