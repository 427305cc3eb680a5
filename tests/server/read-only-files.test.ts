// A file made read-only is not replaced by an upload, as in vsftpd (553) and ProFTPD (550): they open
// it for writing; ftpkit's overwrite renames a temp file over it, which the directory alone allowed.
import { afterEach, expect, test } from "bun:test";
import { chmodSync, chownSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";

// Root passes every permission check: the server runs as nobody then (setpriv), as a service user would.
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
let srv: ServeProcess | null = null;
let dir = "";
let local = "";

afterEach(async () => {
  await srv?.kill();
  srv = null;
  for (const d of [dir, local]) if (d) removeDir(d);
});

function file(name: string, text: string, mode: number): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  chmodSync(f, mode);
  if (isRoot) chownSync(f, NOBODY, NOBODY);
  return f;
}

async function curl(...args: string[]): Promise<number> {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "20", ...args], { stdout: "ignore", stderr: "ignore" });
  return p.exited;
}

test("STOR over a file whose write bits are off is 550 before any 150 and leaves it whole; after SITE CHMOD 644 it is replaced", async () => {
  dir = tempDir("ftpkit-ro-");
  if (isRoot) chownSync(dir, NOBODY, NOBODY);
  const ro = file("ro.txt", "keep me\n", 0o444);
  const rw = file("rw.txt", "old\n", 0o644);
  local = tempDir("ftpkit-ro-local-");
  const upload = join(local, "upload.txt");
  writeFileSync(upload, "new bytes\n");
  srv = await spawnServe(["--root", dir, "--user", "u:pw", "--write"], { cwd: dir, uid: NOBODY, timeoutMs: 30_000 });
  const url = `ftp://u:pw@127.0.0.1:${srv.port}`;
  // curl: 25 ("failed FTP upload"), as against vsftpd.
  expect(await curl("-T", upload, `${url}/ro.txt`)).toBe(25);
  expect(readFileSync(ro, "utf8")).toBe("keep me\n");
  expect(await curl("-T", upload, `${url}/rw.txt`)).toBe(0);
  expect(readFileSync(rw, "utf8")).toBe("new bytes\n");

  const w = await Wire.connect(srv.port);
  await w.login("u", "pw");
  expect((await w.transfer("STOR ro.txt", new TextEncoder().encode("x"))).first).toEqual({ code: 550, lines: ["Permission denied"] });
  expect((await w.cmd("SITE CHMOD 644 ro.txt")).code).toBe(200);
  expect((await w.transfer("STOR ro.txt", new TextEncoder().encode("x"))).final!.code).toBe(226);
  expect(readFileSync(ro, "utf8")).toBe("x");
  w.close();
}, 60_000);
