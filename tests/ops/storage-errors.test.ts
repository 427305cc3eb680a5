// A failure on the server's side (here: a tree the service user may not write, as after a move
// from vsftpd, which wrote as each local user) is named in the log; the client's own mistakes are not.
import { expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";
import { tempDir } from "../tls/helpers.ts";

const NOBODY = 65534;
const t = cleanedAfterEach();
/** These cases run the server as nobody under a tree of root's: only root can set that up. */
const rootOnly = test.skipIf(process.getuid?.() !== 0);

/** `serve --root t.dir` (with `--write` when `write`) as nobody, and a session logged in as u, in binary mode. */
async function loginAsNobody(opts: { write: boolean }): Promise<Wire> {
  const args = ["--root", t.dir, "--user", "u:pw", ...(opts.write ? ["--write"] : [])];
  t.srv = await spawnServe(args, { cwd: t.dir, uid: NOBODY, timeoutMs: 30_000 });
  const w = await Wire.connect(t.srv.port);
  t.wires.push(w);
  expect((await w.login("u", "pw")).code).toBe(230);
  await w.cmd("TYPE I");
  return w;
}

rootOnly("uploads, MKD and DELE refused by the filesystem: 550 for the client, the errno in the log", async () => {
  t.dir = tempDir();
  chmodSync(t.dir, 0o755); // root's, not writable by the server's user
  writeFileSync(join(t.dir, "keep.txt"), "keep\n");
  const w = await loginAsNobody({ write: true });
  // Refused before the 150, as vsftpd's 553 (it creates the file first): no client sends its data for nothing.
  const up = await w.transfer("STOR new.txt", Buffer.from("hello\n"));
  expect(up.first).toEqual({ code: 550, lines: ["Permission denied"] });
  expect((await w.transfer("APPE new.txt", Buffer.from("hello\n"))).first).toEqual({ code: 550, lines: ["Permission denied"] });
  expect(await w.cmd("MKD d")).toEqual({ code: 550, lines: ["Permission denied"] });
  expect((await w.cmd("DELE keep.txt")).code).toBe(550);
  expect(await w.cmd("DELE no-such.txt")).toEqual({ code: 550, lines: ["No such file or directory"] });
  expect((await w.cmd("QUIT")).code).toBe(221);
  await waitFor(() => t.srv!.stdout().includes("session end"), 5000, "session end");
  const out = t.srv!.stdout();
  expect(out).toMatch(/ WARN  storage error session=\S+ user=u verb=STOR path=new\.txt error=EACCES\n/);
  expect(out).toMatch(/ WARN  storage error session=\S+ user=u verb=MKD path=d error=EACCES\n/);
  expect(out).toMatch(/ WARN  storage error session=\S+ user=u verb=DELE path=keep\.txt error=EACCES\n/);
  // What the client caused is its reply's business, not a warning.
  expect(out).not.toContain("no-such.txt");
}, 30_000);

rootOnly("RETR of a file the server's account may not read: 550 as the only reply, no 150, and the errno in the log", async () => {
  t.dir = tempDir();
  chmodSync(t.dir, 0o755);
  writeFileSync(join(t.dir, "secret.txt"), "root's only\n");
  chmodSync(join(t.dir, "secret.txt"), 0o600); // root's: not readable by the server's user
  writeFileSync(join(t.dir, "open.txt"), "anyone's\n");
  const w = await loginAsNobody({ write: false });
  // vsftpd and ProFTPD open the file before their 150; a 150 then 550 reads as a transfer cut short.
  const refused = await w.transfer("RETR secret.txt");
  expect(refused.first).toEqual({ code: 550, lines: ["Permission denied"] });
  expect(refused.final).toBeNull();
  const served = await w.transfer("RETR open.txt");
  expect(served.first.code).toBe(150);
  expect(served.final?.code).toBe(226);
  expect(served.data.toString()).toBe("anyone's\n");
  expect((await w.cmd("QUIT")).code).toBe(221);
  await waitFor(() => t.srv!.stdout().includes("session end"), 5000, "session end");
  expect(t.srv!.stdout()).toMatch(/ WARN  storage error session=\S+ user=u verb=RETR path=secret\.txt error=EACCES\n/);
}, 30_000);

rootOnly("STOR over a file the server may write, where it may not replace it: 550 as the first reply, the file unchanged", async () => {
  t.dir = tempDir();
  chmodSync(t.dir, 0o755);
  chownSync(t.dir, NOBODY, NOBODY); // the root, and so its temp directory, the server's
  mkdirSync(join(t.dir, "fixed"), { mode: 0o755 }); // root's: no new name, no rename into it
  writeFileSync(join(t.dir, "fixed", "mine.txt"), "before\n");
  chownSync(join(t.dir, "fixed", "mine.txt"), NOBODY, NOBODY);
  const w = await loginAsNobody({ write: true });
  // An overwrite renames a temp file over its target, which needs the directory's write permission:
  // the refusal must come before the 150, not after the client has sent its file.
  const up = await w.transfer("STOR fixed/mine.txt", Buffer.from("after\n"));
  expect(up.first).toEqual({ code: 550, lines: ["Permission denied"] });
  expect(readFileSync(join(t.dir, "fixed", "mine.txt"), "utf8")).toBe("before\n");
  // APPE and REST+STOR write in place, which the file's own mode allows.
  expect((await w.transfer("APPE fixed/mine.txt", Buffer.from("more\n"))).final?.code).toBe(226);
  expect(readFileSync(join(t.dir, "fixed", "mine.txt"), "utf8")).toBe("before\nmore\n");
}, 30_000);

rootOnly("STOR over a file the server may write, in a root where it may not make its temp directory: 550 as the first reply", async () => {
  t.dir = tempDir();
  chmodSync(t.dir, 0o755); // root's: .ftpkit-tmp cannot be made there
  mkdirSync(join(t.dir, "open"), { mode: 0o755 });
  chownSync(join(t.dir, "open"), NOBODY, NOBODY); // the file's directory would take the rename
  writeFileSync(join(t.dir, "open", "mine.txt"), "before\n");
  chownSync(join(t.dir, "open", "mine.txt"), NOBODY, NOBODY);
  const w = await loginAsNobody({ write: true });
  const up = await w.transfer("STOR open/mine.txt", Buffer.from("after\n"));
  expect(up.first).toEqual({ code: 550, lines: ["Permission denied"] });
  expect(readFileSync(join(t.dir, "open", "mine.txt"), "utf8")).toBe("before\n");
  // A new name there is created in place, without the temp directory.
  const made = await w.transfer("STOR open/new.txt", Buffer.from("new\n"));
  expect([made.first.code, made.final?.code]).toEqual([150, 226]);
}, 30_000);
