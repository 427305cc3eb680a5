// A local file or directory that cannot be created is one line in our words that names the path and
// the cause, with the exit status it had: not Node's "EACCES: permission denied, open '…'". The
// refusals are real: a read-only tmpfs (mounting needs root, as in CI) and sysfs, which refuses new
// files to root too (a directory root may "write", by access(2), where open(2) fails).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000);

const isRoot = process.getuid?.() === 0;
let server: FtpkitPeer;
let work = "";
/** A read-only tmpfs (root only). */
let ro = "";

beforeAll(async () => {
  server = await startFtpkitServer();
  writeFileSync(join(server.home, "f.txt"), "hello\n");
  work = tempDir("ftpkit-local-failures-");
  if (isRoot) {
    ro = join(work, "read-only");
    mkdirSync(ro);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", ro]).exitCode).toBe(0);
  }
});

afterAll(async () => {
  await server.stop();
  for (let i = 0; ro && i < 20 && Bun.spawnSync(["umount", ro]).exitCode !== 0; i++) await Bun.sleep(100);
  if (ro && Bun.spawnSync(["mountpoint", "-q", ro]).exitCode === 0) Bun.spawnSync(["umount", "-l", ro]);
  removeDir(work);
});

/** `ftpkit ARGS` in the work directory (or `cwd`): its one stderr line and exit status. */
async function failing(args: string[], cwd = work): Promise<{ line: string; code: number }> {
  const r = await runFtpkit(args, { cwd, timeoutMs: 30_000 });
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  return { line: lines[0]!, code: r.code };
}

describe.skipIf(!isRoot)("get into a directory that refuses the file", () => {
  // Before: "[error] EACCES: permission denied, open '/sys/x.ftpkit-part'".
  test("a part file the directory refuses (sysfs): one line naming it, permission denied, exit 3", async () => {
    expect(await failing(["get", server.url("/f.txt"), "/sys/x"])).toEqual({ line: "[error] cannot create /sys/x.ftpkit-part: permission denied", code: 3 });
  });

  test("the same with --segments: one line naming the part file, exit 3", async () => {
    expect(await failing(["get", server.url("/f.txt"), "/sys/x", "--segments", "2"])).toEqual({ line: "[error] cannot create /sys/x.ftpkit-part: permission denied", code: 3 });
  });

  // Before: "cannot write to …: permission denied" (access(2)'s EROFS was taken for a permission).
  test("a read-only file system is said to be one, exit 3", async () => {
    expect(await failing(["get", server.url("/f.txt"), join(ro, "x")])).toEqual({ line: `[error] cannot write to ${ro}: read-only file system`, code: 3 });
  });

  // Before: "cannot create …/tree: EROFS".
  test("get -r: the destination a read-only file system refuses, exit 3", async () => {
    expect(await failing(["get", "-r", server.url("/"), join(ro, "tree")])).toEqual({ line: `[error] cannot create ${join(ro, "tree")}: read-only file system`, code: 3 });
  });
});

describe.skipIf(!isRoot)("serve --demo where the demo cannot be created", () => {
  // Before: "[error] EROFS: read-only file system, mkdir '…/ftpkit-demo'" and "EPERM: operation not permitted, mkdir '/sys/ftpkit-demo'".
  test("a read-only directory: one line naming it and the cause, exit 1, no server", async () => {
    expect(await failing(["serve", "--demo", "--port", "0"], ro)).toEqual({ line: `[error] cannot create the demo in ${join(ro, "ftpkit-demo")}: read-only file system`, code: 1 });
  });

  test("a directory that refuses it (sysfs): permission denied, exit 1", async () => {
    expect(await failing(["serve", "--demo", "--port", "0"], "/sys")).toEqual({ line: "[error] cannot create the demo in /sys/ftpkit-demo: permission denied", code: 1 });
  });
});

describe("cert --out where the directory cannot be made or written", () => {
  // Before: "[error] EROFS: read-only file system, mkdir '…/tls'".
  test.skipIf(!isRoot)("a new directory on a read-only file system: one line naming it, exit 1", async () => {
    expect(await failing(["cert", "--out", join(ro, "tls")])).toEqual({ line: `[error] cannot create ${join(ro, "tls")}: read-only file system`, code: 1 });
  });

  // Before: "[error] EROFS: read-only file system, rm '…/cert.pem.tmp-PID'" (openssl failed, then its leftovers' removal).
  test.skipIf(!isRoot)("an existing directory on a read-only file system: one line naming it, exit 1", async () => {
    expect(await failing(["cert", "--out", ro])).toEqual({ line: `[error] cannot write to ${ro}: read-only file system`, code: 1 });
  });

  // Before: exit 0, "[success] self-signed certificate for localhost", and cert.pem and key.pem empty
  // (openssl exits 0 when it cannot write its files' bytes).
  test.skipIf(!isRoot)("a full disk: one line naming the directory and the cause, exit 1, no empty cert.pem or key.pem", async () => {
    const full = join(work, "full");
    mkdirSync(full);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full]).exitCode).toBe(0);
    try {
      // Fill it: the last write fails once no block is left.
      Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(full, "filler")}`, "bs=4k", "count=64"]);
      expect(await failing(["cert", "--out", join(full, "tls")])).toEqual({ line: `[error] cannot write cert.pem and key.pem in ${join(full, "tls")}: disk full`, code: 1 });
      expect(readdirSync(join(full, "tls"))).toEqual([]);
    } finally {
      for (let i = 0; i < 20 && Bun.spawnSync(["umount", full]).exitCode !== 0; i++) await Bun.sleep(100);
    }
  });

  // Before: "[error] ENOTDIR: not a directory, mkdir '…/a-file/tls'".
  test("a directory under a file: one line naming it, exit 1, nothing written", async () => {
    writeFileSync(join(work, "a-file"), "x");
    expect(await failing(["cert", "--out", join(work, "a-file", "tls")])).toEqual({ line: `[error] cannot create ${join(work, "a-file", "tls")}: a file stands in its path`, code: 1 });
    expect(existsSync(join(work, "a-file.pem"))).toBe(false);
  });
});

describe.skipIf(!isRoot)("ftpkit user on a full disk", () => {
  // Before: "users file …: cannot create the lock …/users.ini.lock (ENOSPC)" or "cannot write it (ENOSPC)".
  test("the users file's save says 'disk full' in words, exit 1, the file unchanged", async () => {
    const full = join(work, "users-full");
    mkdirSync(full);
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full]).exitCode).toBe(0);
    try {
      const users = join(full, "users.ini");
      const home = join(work, "alice");
      mkdirSync(home);
      const add = await runFtpkit(["user", "add", "alice", "--password-stdin", "--home", home, "--users", users], { cwd: work, stdin: new TextEncoder().encode("pw\n"), timeoutMs: 30_000 });
      expect(add.code).toBe(0);
      const before = await Bun.file(users).text();
      Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(full, "filler")}`, "bs=4k", "count=64"]);
      const r = await failing(["user", "quota", "alice", "5GB", "--users", users]);
      expect(r.code).toBe(1);
      expect(r.line).toMatch(/^\[error\] users file .*users\.ini: cannot (create the lock \S+|write it) \(disk full\)$/);
      expect(await Bun.file(users).text()).toBe(before);
    } finally {
      for (let i = 0; i < 20 && Bun.spawnSync(["umount", full]).exitCode !== 0; i++) await Bun.sleep(100);
    }
  });
});
