// Concurrent `ftpkit user` commands (issue 9, item 6): read-modify-write of the users file is
// serialised by a lock file, so no change is lost; a dead holder's lock is taken over, a live
// holder's makes the command fail after a bounded wait with a clear message.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { loadUsers, UsersFileError } from "../../server/auth/ini-store.ts";
import { LOCK_WAIT_MS, withUsersFileLock } from "../../server/auth/users-lock.ts";
import { FTPKIT } from "../helpers/peers.ts";

let dir = "";
const procs: Array<ReturnType<typeof Bun.spawn>> = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ftpkit-lock-"));
});
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill(9);
  rmSync(dir, { recursive: true, force: true });
});

/** `ftpkit user ARGS` with the password on stdin; resolves with the exit code and stderr. */
function user(args: string[], stdin = "pw\n"): Promise<{ code: number; stderr: string }> {
  return run(["bun", FTPKIT, "user", ...args, "--users", join(dir, "users.ini")], stdin);
}

/** A command (an `ftpkit user` run, maybe under a wrapper) in the test's directory; resolves with the exit code and stderr. */
async function run(argv: string[], stdin = ""): Promise<{ code: number; stderr: string }> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), NO_COLOR: "1" };
  delete env.FTPKIT_USERS;
  const proc = Bun.spawn(argv, { cwd: dir, stdin: new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe", env });
  procs.push(proc);
  const timer = setTimeout(() => proc.kill(9), 60_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stderr };
}

describe("concurrent ftpkit user commands", () => {
  test("20 parallel `user add` leave all 20 users in the file", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `u${i}`);
    const runs = await Promise.all(names.map((n) => user(["add", n, "--password-stdin"], `pw-${n}\n`)));
    // A failure shows its stderr, so a one-off in CI says why.
    expect(runs.map((r) => (r.code === 0 ? 0 : r.stderr))).toEqual(names.map(() => 0));
    const users = await loadUsers(join(dir, "users.ini"));
    expect([...users.keys()].sort()).toEqual([...names].sort());
  }, 90_000);

  test("10 parallel `passwd` and 10 parallel `quota` on different users are all applied", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `p${i}`);
    for (const n of names) expect((await user(["add", n, "--password-stdin"], "old\n")).code).toBe(0);
    const runs = await Promise.all([
      ...names.map((n) => user(["passwd", n, "--password-stdin"], `new-${n}\n`)),
      ...names.map((n, i) => user(["quota", n, `${i + 1}MB`])),
    ]);
    expect(runs.map((r) => (r.code === 0 ? 0 : r.stderr))).toEqual(runs.map(() => 0));
    const users = await loadUsers(join(dir, "users.ini"));
    for (const [i, n] of names.entries()) {
      const u = users.get(n)!;
      expect(await Bun.password.verify(`new-${n}`, u.hash!)).toBe(true);
      expect(u.quota).toBe((i + 1) * 1_000_000);
    }
  }, 120_000);

  test("a lock left by a process that no longer runs is taken over", async () => {
    // PID 2^22 + 1 is above the kernel's pid_max: no process can hold it.
    writeFileSync(join(dir, "users.ini.lock"), `${4_194_305} ${hostname()}\n`);
    expect((await user(["add", "late", "--password-stdin"])).code).toBe(0);
    expect((await loadUsers(join(dir, "users.ini"))).has("late")).toBe(true);
  }, 30_000);

  test("a lock older than the live process that now has its PID (a reboot, a reused PID) is taken over at once", async () => {
    const sleeper = Bun.spawn(["sleep", "60"], { stdout: "ignore", stderr: "ignore" });
    procs.push(sleeper);
    const lock = join(dir, "users.ini.lock");
    writeFileSync(lock, `${sleeper.pid} ${hostname()}\n`);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(lock, hourAgo, hourAgo);
    const t0 = performance.now();
    const { code, stderr } = await user(["add", "late", "--password-stdin"]);
    expect({ code, locked: stderr.includes("locked") }).toEqual({ code: 0, locked: false });
    expect(performance.now() - t0).toBeLessThan(LOCK_WAIT_MS);
    expect((await loadUsers(join(dir, "users.ini"))).has("late")).toBe(true);
  }, 30_000);

  test("a lock that cannot be written (a full disk) is removed: one clear error, and the next command does not wait for it", async () => {
    expect((await user(["add", "alice", "--password-stdin"])).code).toBe(0);
    const before = await Bun.file(join(dir, "users.ini")).text();
    // A file size limit of 0 (SIGXFSZ ignored): every write to a file fails with EFBIG, as on a full disk.
    const { stderr, code } = await run(["bash", "-c", `trap '' XFSZ; ulimit -f 0; exec bun "$0" user quota alice 5GB --users "$1"`, FTPKIT, join(dir, "users.ini")]);
    expect(code).toBe(1);
    expect(stderr).toContain("cannot create the lock");
    expect(await Bun.file(join(dir, "users.ini")).text()).toBe(before);
    expect(await Bun.file(join(dir, "users.ini.lock")).exists()).toBe(false);
    // No lock is left, so the next command does not wait out the 5 s of grace a writer that died mid-write gets.
    expect((await user(["quota", "alice", "5GB"])).code).toBe(0);
  }, 30_000);

  test.skipIf(process.getuid?.() !== 0)("an admin who may write the file but not create files in its folder is told that the folder is what is missing", async () => {
    expect((await user(["add", "alice", "--password-stdin"])).code).toBe(0);
    const file = join(dir, "users.ini");
    const before = await Bun.file(file).text();
    // The folder root's 0755, the file the admin's own (nobody here): writable, but not replaceable.
    chmodSync(dir, 0o755);
    chownSync(file, 65534, 65534);
    const { stderr, code } = await run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, FTPKIT, "user", "quota", "alice", "5GB", "--users", file]);
    expect(code).toBe(1);
    expect(stderr.trim()).toEndWith(`cannot create the lock ${file}.lock (permission denied): ftpkit user needs to create files in ${dir}, not only to write users.ini`);
    expect(await Bun.file(file).text()).toBe(before);
  }, 30_000);

  test("a lock of another host's process is waited for, and the error names that host", async () => {
    writeFileSync(join(dir, "users.ini.lock"), `${4_194_305} other-host.example\n`);
    const err = await withUsersFileLock(join(dir, "users.ini"), async () => "ran", 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsersFileError);
    expect((err as Error).message).toContain("locked by process 4194305 on host other-host.example, which this machine cannot check,");
  });

  test("a live holder still at work is waited for past the wait for a silent one, and the waiter then runs", async () => {
    const file = join(dir, "users.ini");
    const order: string[] = [];
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    // The holder works for five times the waiter's patience (a big users file's edit); it touches its lock meanwhile.
    const first = withUsersFileLock(file, async () => {
      holding();
      await Bun.sleep(1000);
      order.push("first");
    }, 200);
    await held;
    const second = await withUsersFileLock(file, async () => order.push("second"), 200).then(() => "ran", (e: unknown) => (e as Error).message);
    await first;
    expect(second).toBe("ran");
    expect(order).toEqual(["first", "second"]);
  });

  test("6 parallel `user add` to a 20,000-user file all succeed, and nothing is lost", async () => {
    const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$J3mP7m7BXpSvHEbDPAJm3N4aJKu4pnNGtNgfzbIOyVc";
    let text = "";
    for (let i = 0; i < 20_000; i++) text += `[user${i}]\npassword = "${hash}"\nhome = /srv/ftp/user${i}\n\n`;
    writeFileSync(join(dir, "users.ini"), text);
    const names = Array.from({ length: 6 }, (_, i) => `new${i}`);
    const runs = await Promise.all(names.map((n) => user(["add", n, "--home", join(dir, "homes", n), "--password-stdin"], `pw-${n}\n`)));
    expect(runs.map((r) => (r.code === 0 ? 0 : r.stderr))).toEqual(names.map(() => 0));
    const users = await loadUsers(join(dir, "users.ini"));
    expect(users.size).toBe(20_006);
    for (const n of names) expect(users.has(n)).toBe(true);
    expect(users.get("user19999")!.hash).toBe(hash);
  }, 120_000);

  test("a lock held by a live process: a clear error after the bounded wait, nothing written", async () => {
    writeFileSync(join(dir, "users.ini.lock"), `${process.pid} ${hostname()}\n`);
    const err = await withUsersFileLock(join(dir, "users.ini"), async () => "ran", 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsersFileError);
    expect((err as Error).message).toContain(`locked by process ${process.pid}`);
    expect((err as Error).message).toContain("users.ini.lock");
  });
});
