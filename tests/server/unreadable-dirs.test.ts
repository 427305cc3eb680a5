// CWD into a directory the server's own account may not enter (root's, mode 0700, in a home the
// server runs as nobody for) answers 550, as vsftpd's and ProFTPD's chdir(2) do. It answered 250,
// then every LIST, STOR or RETR there got 550, and lftp's `cd` looked to have worked.
import { afterEach, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";

// Root passes every permission check: the server runs as nobody then (setpriv), as a service user would.
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
let srv: ServeProcess | null = null;
let dir = "";

afterEach(async () => {
  await srv?.kill();
  srv = null;
  if (dir) removeDir(dir);
});

test.skipIf(!isRoot)("CWD into a directory the server cannot enter is 550 and the session stays where it was; one it can enter is 250", async () => {
  dir = tempDir("ftpkit-unreadable-dirs-");
  chownSync(dir, NOBODY, NOBODY);
  mkdirSync(join(dir, "locked"));
  chmodSync(join(dir, "locked"), 0o700); // root's
  mkdirSync(join(dir, "open"));
  chownSync(join(dir, "open"), NOBODY, NOBODY);
  srv = await spawnServe(["--root", dir, "--user", "u:pw"], { cwd: dir, uid: NOBODY, timeoutMs: 30_000 });
  const w = await Wire.connect(srv.port);
  await w.login("u", "pw");
  expect((await w.cmd("CWD locked")).code).toBe(550);
  expect((await w.cmd("PWD")).lines[0]).toBe('"/" is the current directory');
  expect((await w.cmd("CWD open")).code).toBe(250);
  expect((await w.cmd("PWD")).lines[0]).toBe('"/open" is the current directory');
  w.close();
}, 60_000);
