import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import { mkdir, mkdtemp, readFile, realpath, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { chmodSync, renameSync } from "node:fs";
import { join } from "node:path";
import { Authenticator } from "../../server/auth/authenticator.ts";
import { createServer } from "../../server/index.ts";
import { createLogger } from "../../server/log.ts";
import { MemoryLogins } from "../../server/auth/memory-store.ts";
import { formatSizeExact } from "../../protocol/size.ts";
import {
  hashPassword,
  loadUsers,
  parseUsers,
  readUsersFile,
  UsersFileError,
  validateUserName,
} from "../../server/auth/ini-store.ts";
import { usersFileTarget } from "../../server/auth/users-lock.ts";
import { saveUsers } from "../../server/auth/ini-save.ts";
import { ParseError } from "../../protocol/errors.ts";
import { makeUsersFile } from "../helpers/users.ts";

const CORRUPT = join(import.meta.dir, "../../fixtures/users/corrupt.ini");

let dir: string;
let auths: Authenticator[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ftpkit-auth-"));
});
afterEach(async () => {
  for (const a of auths) a.close();
  auths = [];
  await rm(dir, { recursive: true, force: true });
});

function makeAuth(usersFile: string, opts: { failDelayMs?: number; failPenaltyMs?: number; logs?: string[] } = {}) {
  const auth = new Authenticator({
    usersFile,
    failDelayMs: opts.failDelayMs ?? 0,
    failPenaltyMs: opts.failPenaltyMs ?? 0,
    log: (m) => opts.logs?.push(m),
  });
  auths.push(auth);
  return auth;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

/** Bump the file so a same-second rewrite is still seen as a change (saveUsers renames, so ino changes anyway). */
async function rewrite(file: string, text: string) {
  await writeFile(file, text);
}

describe("Authenticator", () => {
  test("addresses whose failed logins have left the window are forgotten at the next login, not kept until the table is full", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "s3cret" }]);
    const auth = new Authenticator({ usersFile: file, failDelayMs: 0, failPenaltyMs: 0, failWindowMs: 1_500, log: () => {} });
    auths.push(auth);
    await auth.start();
    for (let i = 0; i < 5; i++) expect(await auth.login("alice", "wrong", `10.0.0.${i}`)).toBeNull();
    expect(auth.failingAddresses).toBe(5);
    expect(await auth.login("alice", "s3cret", "10.0.1.1")).not.toBeNull(); // within the window: all kept
    expect(auth.failingAddresses).toBe(5);
    await Bun.sleep(1_600); // the window itself is what is tested: it must pass
    expect(await auth.login("alice", "s3cret", "10.0.1.1")).not.toBeNull();
    expect(auth.failingAddresses).toBe(0);
  });
  test("a wall clock stepped an hour forward neither forgets an address's failed logins nor lets it sweep them", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "s3cret" }]);
    const auth = new Authenticator({ usersFile: file, failDelayMs: 0, failPenaltyMs: 0, failWindowMs: 60_000, log: () => {} });
    auths.push(auth);
    await auth.start();
    const realNow = Date.now;
    try {
      for (let i = 0; i < 3; i++) expect(await auth.login("alice", "wrong", "10.0.0.1")).toBeNull();
      expect(auth.failuresFrom("10.0.0.1")).toBe(3);
      Date.now = () => realNow() + 3_600_000; // NTP correcting a clock set wrong at boot, a resumed VM
      expect(await auth.login("alice", "s3cret", "10.0.1.1")).not.toBeNull(); // a login sweeps the table
      expect(auth.failuresFrom("10.0.0.1")).toBe(3);
      expect(await auth.login("alice", "wrong", "10.0.0.1")).toBeNull();
      expect(auth.failuresFrom("10.0.0.1")).toBe(4);
    } finally {
      Date.now = realNow;
    }
  });
  test("accepts the right password and rejects a wrong one or an unknown user", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "s3cret", quota: 1000 }]);
    const auth = makeAuth(file);
    await auth.start();
    const ok = await auth.login("alice", "s3cret", "127.0.0.1");
    expect(ok?.name).toBe("alice");
    expect(ok?.home).toBe(join(dir, "home/alice"));
    expect(ok?.quota).toBe(1000);
    expect(await auth.login("alice", "wrong", "127.0.0.1")).toBeNull();
    expect(await auth.login("alice", "", "127.0.0.1")).toBeNull();
    expect(await auth.login("mallory", "s3cret", "127.0.0.1")).toBeNull();
    expect(await auth.login("../etc", "x", "127.0.0.1")).toBeNull();
    expect(auth.lookup("alice")?.name).toBe("alice");
    expect(auth.lookup("mallory")).toBeUndefined();
  });

  test("anonymous accepts any password and `ftp` is its alias", async () => {
    const file = await makeUsersFile(dir, [{ name: "anonymous", perms: ["read"] }, { name: "alice", password: "pw" }]);
    const auth = makeAuth(file);
    await auth.start();
    for (const name of ["anonymous", "ftp", "FTP", "Anonymous"]) {
      const u = await auth.login(name, "guest@example.com", "10.0.0.1");
      expect(u?.name).toBe("anonymous");
      expect(u?.perms).toEqual(["read"]);
    }
    expect((await auth.login("anonymous", "", "10.0.0.1"))?.name).toBe("anonymous");
  });

  test("there is no anonymous login unless a user named anonymous exists", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const auth = makeAuth(file);
    await auth.start();
    expect(await auth.login("anonymous", "x", "10.0.0.1")).toBeNull();
    expect(await auth.login("ftp", "x", "10.0.0.1")).toBeNull();
  });

  test("a non-anonymous user without a password cannot log in", async () => {
    const file = await makeUsersFile(dir, [{ name: "nopw" }]);
    const auth = makeAuth(file);
    await auth.start();
    expect(await auth.login("nopw", "", "127.0.0.1")).toBeNull();
    expect(await auth.login("nopw", "anything", "127.0.0.1")).toBeNull();
  });

  test("a hash format Bun cannot verify is a failed login, not a crash", async () => {
    const file = join(dir, "users.ini");
    await writeFile(file, "[old]\npassword = $6$salt$abcdefghijklmnop\n");
    const auth = makeAuth(file);
    await auth.start();
    expect(await auth.login("old", "x", "127.0.0.1")).toBeNull();
  });

  test("a hash no password can match (another server's crypt format, an argon2 string cut short) is said at load, by its scheme only; the others log in", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const good = await readFile(file, "utf8");
    const bcrypt = await Bun.password.hash("carol-pw", { algorithm: "bcrypt", cost: 4 });
    const cut = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ";
    for (const name of ["old", "erin", "carol"]) await mkdir(join(dir, "home", name));
    await writeFile(file, `${good}\n[old]\npassword = "$6$salt$abcdefghijklmnop"\n\n[erin]\npassword = "${cut}"\n\n[carol]\npassword = "${bcrypt}"\n`);
    const logs: string[] = [];
    const auth = makeAuth(file, { logs });
    await auth.start();
    expect(logs).toEqual([
      `users file ${file}: old's password hash ($6$…) is not argon2 or bcrypt, or is cut short: no password can match it, so old cannot log in until \`ftpkit user passwd old\``,
      `users file ${file}: erin's password hash ($argon2id$…) is not argon2 or bcrypt, or is cut short: no password can match it, so erin cannot log in until \`ftpkit user passwd erin\``,
    ]);
    expect(await auth.login("alice", "pw", "127.0.0.1")).not.toBeNull();
    expect(await auth.login("carol", "carol-pw", "127.0.0.1")).not.toBeNull();
  });

  test("a login right after the users file is replaced reads the new file, though inotify has not told of it yet", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "old-pw" }]);
    const auth = makeAuth(file);
    await auth.start();
    expect(await auth.login("alice", "old-pw", "127.0.0.1")).not.toBeNull();
    await mkdir(join(dir, "next"));
    const next = await makeUsersFile(join(dir, "next"), [{ name: "alice", password: "new-pw", home: join(dir, "home/alice") }]);
    // Swapped in as `ftpkit user passwd` does (a rename), with no turn of the event loop before the login.
    renameSync(next, file);
    expect(await auth.login("alice", "new-pw", "127.0.0.1")).not.toBeNull();
  });

  test("a cached login is fast and still rejects a wrong password", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "s3cret" }]);
    const auth = makeAuth(file);
    await auth.start();
    const [first, slow] = await timed(() => auth.login("alice", "s3cret", "127.0.0.1"));
    expect(first).not.toBeNull();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [u, t] = await timed(() => auth.login("alice", "s3cret", "127.0.0.1"));
      expect(u).not.toBeNull();
      times.push(t);
    }
    expect(Math.min(...times)).toBeLessThan(slow);
    expect(Math.min(...times)).toBeLessThan(10);
    expect(await auth.login("alice", "s3cret ", "127.0.0.1")).toBeNull();
    expect(await auth.login("alice", "S3cret", "127.0.0.1")).toBeNull();
  });

  test("a password changed in the file invalidates the cached login", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "old" }]);
    const auth = makeAuth(file);
    await auth.start();
    expect(await auth.login("alice", "old", "127.0.0.1")).not.toBeNull();
    const users = await loadUsers(file);
    users.get("alice")!.hash = await hashPassword("new");
    await saveUsers(file, users);
    expect(await auth.login("alice", "old", "127.0.0.1")).toBeNull();
    expect(await auth.login("alice", "new", "127.0.0.1")).not.toBeNull();
  });

  test("a user added to the file can log in without a restart", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const auth = makeAuth(file);
    await auth.start();
    expect(await auth.login("bob", "bobpw", "127.0.0.1")).toBeNull();
    await makeUsersFile(dir, [{ name: "alice", password: "pw" }, { name: "bob", password: "bobpw" }]);
    expect((await auth.login("bob", "bobpw", "127.0.0.1"))?.name).toBe("bob");
    expect(auth.lookup("bob")).toBeDefined();
  });

  test("through a symlinked users file, a user added where it points can log in at once", async () => {
    await mkdir(join(dir, "real"));
    await mkdir(join(dir, "conf"));
    await makeUsersFile(join(dir, "real"), [{ name: "alice", password: "pw" }]);
    const link = join(dir, "conf/users.ini");
    await symlink("../real/users.ini", link);
    const auth = makeAuth(link);
    await auth.start();
    expect(await auth.login("alice", "pw", "127.0.0.1")).not.toBeNull();
    // `ftpkit user add` writes the link's target: nothing changes in the link's own directory.
    const users = await loadUsers(link);
    users.set("bob", { name: "bob", hash: await hashPassword("bobpw"), home: join(dir, "conf/home/bob"), quota: 0, perms: ["read"], mounts: [], requireTls: false });
    await saveUsers(link, users);
    expect((await auth.login("bob", "bobpw", "127.0.0.1"))?.name).toBe("bob");
  });

  test("a home or mount holding the users file (a hand edit) is warned about at each load; the users still log in", async () => {
    const file = await makeUsersFile(dir, [
      { name: "alice", password: "pw" },
      { name: "bob", password: "pw", home: "." },
      { name: "carol", password: "pw", mounts: [{ vpath: "/etc", dir: join(dir, ".."), perms: ["read"], quota: 0 }] },
    ]);
    const logs: string[] = [];
    const auth = makeAuth(file, { logs });
    await auth.start();
    expect(logs).toHaveLength(2);
    expect(logs[0]).toContain(`bob is served ${dir}, which holds the users file`);
    expect(logs[1]).toContain(`carol is served ${join(dir, "..")}, which holds the users file`);
    expect(await auth.login("bob", "pw", "127.0.0.1")).not.toBeNull();
  });

  test("a users file every local account can read is warned about at each load (its hashes are given away); 0600 and 0640 are not", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    for (const [mode, warned] of [[0o644, true], [0o640, false], [0o600, false]] as const) {
      chmodSync(file, mode);
      const logs: string[] = [];
      await makeAuth(file, { logs }).start();
      expect(logs).toEqual(warned ? [`users file ${file} can be read by every local user (mode 0644), password hashes and all: \`chmod 600\` it`] : []);
    }
  });

  test("a home named through a symlink, or holding the server's TLS key or xferlog, is warned about too", async () => {
    await symlink(dir, join(dir, "..", `${dir.split("/").pop()}-link`));
    const linked = join(dir, "..", `${dir.split("/").pop()}-link`);
    await mkdir(join(dir, "srv/tls"), { recursive: true });
    await writeFile(join(dir, "srv/tls/key.pem"), "key");
    const file = await makeUsersFile(dir, [
      { name: "alice", password: "pw" },
      { name: "bob", password: "pw", home: linked },
      { name: "carol", password: "pw", home: join(dir, "srv") },
    ]);
    const logs: string[] = [];
    const auth = new Authenticator({
      usersFile: file,
      failDelayMs: 0,
      log: (m) => logs.push(m),
      ownFiles: [
        { path: join(dir, "srv/tls/key.pem"), what: `the TLS private key ${join(dir, "srv/tls/key.pem")}`, risk: "download it and pose as this server" },
        { path: join(dir, "srv/xfer.log"), what: `the xferlog ${join(dir, "srv/xfer.log")}`, risk: "read every account's transfers" },
      ],
    });
    auths.push(auth);
    try {
      await auth.start();
      expect(logs.some((l) => l.includes(`bob is served ${linked}, which holds the users file`))).toBe(true);
      expect(logs.some((l) => l.includes(`carol is served ${join(dir, "srv")}, which holds the TLS private key ${join(dir, "srv/tls/key.pem")}: carol can download it and pose as this server`))).toBe(true);
      // The xferlog need not exist yet: its directory is served.
      expect(logs.some((l) => l.includes(`carol is served ${join(dir, "srv")}, which holds the xferlog ${join(dir, "srv/xfer.log")}`))).toBe(true);
      expect(logs.filter((l) => l.includes("alice is served"))).toEqual([]);
      expect(await auth.login("carol", "pw", "127.0.0.1")).not.toBeNull();
    } finally {
      await rm(linked, { force: true });
    }
  });

  test("a server's --tls-key and --xferlog are among the files checked: a home holding them is warned about at start", async () => {
    await mkdir(join(dir, "srv"), { recursive: true });
    await writeFile(join(dir, "srv/key.pem"), await readFile(join(import.meta.dir, "../../fixtures/tls/key.pem")));
    const file = await makeUsersFile(dir, [{ name: "carol", password: "pw", home: join(dir, "srv") }]);
    let text = "";
    const server = createServer({
      usersFile: file,
      host: "127.0.0.1",
      port: 0,
      tls: { certFile: join(import.meta.dir, "../../fixtures/tls/cert.pem"), keyFile: join(dir, "srv/key.pem") },
      ops: { xferlog: join(dir, "srv/logs.txt") },
      logger: createLogger("text", false, { write: (t: string) => (text += t) }),
    });
    await server.listen();
    try {
      expect(text).toContain(`carol is served ${join(dir, "srv")}, which holds the TLS private key ${join(dir, "srv/key.pem")}`);
      expect(text).toContain(`carol is served ${join(dir, "srv")}, which holds the xferlog ${join(dir, "srv/logs.txt")}`);
    } finally {
      await server.close(0);
    }
  });

  test("a mount or home whose directory is missing is warned about at start and at each reload, naming user and mount point; the user still logs in", async () => {
    const file = await makeUsersFile(dir, [
      { name: "alice", password: "pw", mounts: [{ vpath: "/pub", dir: join(dir, "no-such-dir"), perms: ["read"], quota: 0 }, { vpath: "/ok", dir: join(dir, "home/alice"), perms: ["read"], quota: 0 }] },
      { name: "bob", password: "pw" },
    ]);
    await rm(join(dir, "home/bob"), { recursive: true });
    const logs: string[] = [];
    const auth = makeAuth(file, { logs });
    await auth.start();
    await auth.placesChecked;
    expect(logs.toSorted()).toEqual([
      `users file ${file}: alice's mount /pub: directory ${join(dir, "no-such-dir")} does not exist; /pub fails for alice until it is there`,
      `users file ${file}: bob's home ${join(dir, "home/bob")} does not exist: bob cannot log in until it is there`,
    ]);
    expect(await auth.login("alice", "pw", "127.0.0.1")).not.toBeNull();
    await auth.reload();
    await auth.placesChecked;
    expect(logs.slice(2).toSorted()).toEqual(logs.slice(0, 2).toSorted());
    await mkdir(join(dir, "no-such-dir"));
    await mkdir(join(dir, "home/bob"));
    await auth.reload();
    await auth.placesChecked;
    expect(logs).toHaveLength(4);
  });

  test("a corrupt file on reload keeps the previous users and logs one error; the fixed file is said in one line", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const logs: string[] = [];
    const auth = makeAuth(file, { logs });
    await auth.start();
    expect(logs).toEqual([]);
    await rewrite(file, await readFile(CORRUPT, "utf8"));
    expect(await auth.login("alice", "pw", "127.0.0.1")).not.toBeNull();
    expect(await auth.login("alice", "pw", "127.0.0.1")).not.toBeNull();
    expect(await auth.login("alice", "bad", "127.0.0.1")).toBeNull();
    // Rewritten in place: read once it has been still for a moment (IN_PLACE_SETTLE_MS), by itself.
    for (const deadline = Date.now() + 5000; logs.length === 0 && Date.now() < deadline; ) await Bun.sleep(20);
    expect(await auth.login("alice", "pw", "127.0.0.1")).not.toBeNull();
    expect(logs.length).toBe(1);
    expect(logs[0]).toContain(file);
    expect(logs[0]).toMatch(/line 6/);
    // Fixed again: picked up.
    await makeUsersFile(dir, [{ name: "carol", password: "c" }]);
    expect(await auth.login("carol", "c", "127.0.0.1")).not.toBeNull();
    expect(await auth.login("alice", "pw", "127.0.0.1")).toBeNull();
    expect(logs.slice(1)).toEqual([`users file ${file} read again, in place of the last good one's users: 1 user`]);
  });

  test("start refuses a corrupt users file", async () => {
    const file = join(dir, "users.ini");
    await writeFile(file, await readFile(CORRUPT));
    const auth = makeAuth(file);
    const err = await auth.start().catch((e) => e);
    expect(err).toBeInstanceOf(UsersFileError);
    expect(err.name).toBe("UsersFileError");
    expect(err.message).toContain(file);
  });

  test("a missing users file at start means no users, with a warning, until it appears", async () => {
    const file = join(dir, "users.ini");
    const logs: string[] = [];
    const auth = makeAuth(file, { logs });
    await auth.start();
    expect(logs.join("\n")).toMatch(/not found/);
    expect(await auth.login("alice", "pw", "127.0.0.1")).toBeNull();
    await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    // The folder's inotify event (or the once-a-second stat when none comes) brings it in: a login
    // right after the write can precede the event's delivery (seen once in CI), so logins are tried
    // until one succeeds, for at most 3 s.
    let record = null;
    for (const deadline = performance.now() + 3000; !record && performance.now() < deadline; ) record = await auth.login("alice", "pw", "127.0.0.1");
    expect(record).not.toBeNull();
    expect(logs.filter((l) => !/not found/.test(l))).toEqual([`users file ${file} found: 1 user`]);
  });

  test("failures take at least failDelayMs, for unknown and known users alike", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const auth = makeAuth(file, { failDelayMs: 300 });
    await auth.start();
    const [, known] = await timed(() => auth.login("alice", "nope", "10.0.0.1"));
    const [, unknown] = await timed(() => auth.login("nobody", "nope", "10.0.0.2"));
    expect(known).toBeGreaterThanOrEqual(280);
    expect(unknown).toBeGreaterThanOrEqual(280);
    expect(Math.abs(known - unknown)).toBeLessThan(200);
    // Success is not delayed.
    const [, ok] = await timed(() => auth.login("alice", "pw", "10.0.0.1"));
    expect(ok).toBeLessThan(280);
  });

  test("repeated failures from one IP wait longer; another IP does not", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const auth = makeAuth(file, { failDelayMs: 50, failPenaltyMs: 150 });
    await auth.start();
    const t: number[] = [];
    for (let i = 0; i < 3; i++) t.push((await timed(() => auth.login("alice", "x", "::ffff:10.9.9.9")))[1]);
    expect(t[2]!).toBeGreaterThan(t[0]! + 200);
    expect(t[2]!).toBeGreaterThanOrEqual(320);
    // The IPv4-mapped form counts as the same address.
    const [, mapped] = await timed(() => auth.login("alice", "x", "10.9.9.9"));
    expect(mapped).toBeGreaterThanOrEqual(450);
    const [, other] = await timed(() => auth.login("alice", "x", "10.1.1.1"));
    expect(other).toBeLessThan(200);
  });
});

describe("MemoryLogins (serve --user, startServer({ users }))", () => {
  test("a repeat login skips argon2id, and a wrong password after it is still refused", async () => {
    const logins = new MemoryLogins([{ name: "alice", password: "s3cret", home: "/tmp", perms: ["read"] }], 1);
    await logins.start();
    const verify = spyOn(Bun.password, "verify");
    try {
      for (let i = 0; i < 3; i++) expect((await logins.login("alice", "s3cret"))?.name).toBe("alice");
      expect(verify).toHaveBeenCalledTimes(1);
      expect(await logins.login("alice", "s3cret ")).toBeNull();
      expect(await logins.login("alice", "S3cret")).toBeNull();
      expect(await logins.login("bob", "s3cret")).toBeNull();
    } finally {
      verify.mockRestore();
    }
  });
});

describe("users file (ini-store)", () => {
  test("round-trips every field, dotted names included, with a readable layout", async () => {
    await Bun.write(join(dir, "pub/.keep"), "");
    const far = await mkdtemp(join(tmpdir(), "ftpkit-far-"));
    const file = await makeUsersFile(dir, [
      { name: "j.doe", password: "pw", quota: 10 * 1024 ** 2, perms: ["read", "write"], requireTls: true,
        mounts: [{ vpath: "/pub", dir: join(dir, "pub"), perms: ["read"], quota: 5e9 }] },
      { name: "anonymous", perms: ["read"] },
      { name: "far", password: "x", home: far },
    ]).finally(() => rm(far, { recursive: true, force: true }));
    const text = await readFile(file, "utf8");
    expect(text.split("\n")[0]).toMatch(/^; Managed by `ftpkit user`/);
    expect(text).toContain("[j.doe]\n");
    expect(text).toContain("home = home/j.doe\n");
    expect(text).toContain(`home = ${far}\n`);
    expect(text).toContain("quota = 10MiB\n");
    expect(text).toContain("perm = read,write\n");
    expect(text).toContain("require_tls = true\n");
    expect(text).toContain(`mount./pub = ${join(dir, "pub")}|read|5GB\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const users = await loadUsers(file);
    expect([...users.keys()]).toEqual(["j.doe", "anonymous", "far"]);
    expect(users.get("j.doe")).toMatchObject({
      name: "j.doe", home: join(dir, "home/j.doe"), quota: 10 * 1024 ** 2, perms: ["read", "write"], requireTls: true,
      mounts: [{ vpath: "/pub", dir: join(dir, "pub"), perms: ["read"], quota: 5e9 }],
    });
    expect(await Bun.password.verify("pw", users.get("j.doe")!.hash!)).toBe(true);
    expect(users.get("anonymous")!.hash).toBeUndefined();
  });

  test("reads a hand-written file: dotted section, defaults, relative paths, comments", () => {
    const users = parseUsers(
      [
        "# comment",
        "[j.doe]",
        "password = $argon2id$v=19$m=19456,t=2,p=1$abc$def ; hash with = unquoted",
        "quota = 1.5GiB",
        "perm = READ, write",
        "require_tls = yes",
        "mount./a/../b/ = data|read,modify|none",
        "mount./c = /srv/c",
        "[bob]",
      ].join("\r\n"),
      "/etc/ftpkit/users.ini",
    );
    expect([...users.keys()]).toEqual(["j.doe", "bob"]);
    expect(users.get("j.doe")).toMatchObject({
      hash: "$argon2id$v=19$m=19456,t=2,p=1$abc$def",
      home: "/etc/ftpkit/home/j.doe",
      quota: 1.5 * 1024 ** 3,
      perms: ["read", "write"],
      requireTls: true,
      mounts: [
        { vpath: "/b", dir: "/etc/ftpkit/data", perms: ["read", "modify"], quota: 0 },
        { vpath: "/c", dir: "/srv/c", perms: ["read"], quota: 0 },
      ],
    });
    expect(users.get("bob")).toMatchObject({ home: "/etc/ftpkit/home/bob", perms: ["read", "write", "modify"], quota: 0 });
  });

  const bad: Array<[string, string, RegExp]> = [
    ["unknown perm", "[a]\nperm = read,delete\n", /line 2: user "a": unknown permission "delete"/],
    ["empty perm (read as none before)", "[a]\nperm =\n", /line 2: user "a": perm is empty: write read, write and\/or modify \(comma-separated\), or none for no permissions/],
    ["mount with empty permissions", "[a]\nmount./pub = /srv||0\n", /line 2: user "a": mount \/pub has empty permissions/],
    ["bad size", "[a]\nquota = 12XB\n", /line 2: user "a": invalid size unit in "12XB"/],
    ["bad user name", "[a b]\n", /line 1: invalid user name "a b"/],
    ["traversal user name", "[../x]\n", /line 1: invalid user name/],
    ["empty section", "[]\n", /line 1: user name is empty/],
    ["reserved ftp", "[ftp]\n", /line 1: "ftp" is reserved/],
    ["anonymous spelled otherwise, which no login reaches", "[a]\n[Anonymous]\nperm = read\n", /line 2: "Anonymous" is reserved: the anonymous login is \[anonymous\]/],
    ["mount without dir", "[a]\nmount./pub = |read|0\n", /line 2: user "a": mount \/pub has no directory/],
    ["mount on /", "[a]\nmount./ = /srv\n", /cannot mount on "\/"/],
    ["relative mount path", "[a]\nmount.pub = /srv\n", /must start with "\/"/],
    ["duplicate user", "[a]\n[b]\n[a]\n", /line 3: user "a" is defined twice/],
    ["duplicate key", "[a]\nquota = 1\nquota = 2\n", /line 3: "quota" is set twice/],
    ["setting outside a section", "quota = 1\n[a]\n", /line 1: setting outside a \[user\] section/],
    ["not key = value", "[a]\njunk\n", /line 2: expected "key = value"/],
    ["unknown key", "[a]\npasword = $x$\n", /line 2: user "a": unknown setting "pasword"/],
    ["__proto__ as a key, which ini drops", "[a]\n__proto__ = /srv\n", /line 2: user "a": unknown setting "__proto__" \(known: password, home/],
    ["a line separator in a value, which ini drops the line for", "[a]\nhome = /srv/x\u2028y\n", /line 2: holds a line or paragraph separator \(U\+2028\/U\+2029\)/],
    ["plaintext password", "[a]\npassword = hunter2\n", /line 2: user "a": password is not a hash/],
    ["bad require_tls", "[a]\nrequire_tls = maybe\n", /require_tls must be true or false/],
    ["array key", "[a]\nperm[] = read\n", /array keys/],
    ["binary", "[a]\0\n", /NUL/],
  ];
  test("require_tls takes true and false in any case, as it takes yes/no, on/off and 1/0", () => {
    const cases: Array<[string, boolean]> = [["True", true], ["TRUE", true], ["true", true], ["Yes", true], ["on", true], ["1", true], ["False", false], ["FALSE", false], ["false", false], ["No", false], ["off", false], ["0", false]];
    for (const [text, want] of cases) expect(parseUsers(`[a]\nrequire_tls = ${text}\n`, "/x/users.ini").get("a")!.requireTls).toBe(want);
  });

  test.each(bad)("refuses a users file with %s", (_label, text, re) => {
    let err: unknown;
    try {
      parseUsers(text, "/x/users.ini");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsersFileError);
    expect((err as Error).name).toBe("UsersFileError");
    expect((err as Error).message).toStartWith("users file /x/users.ini: ");
    expect((err as Error).message).toMatch(re);
  });

  test("usersFileTarget follows symlinks, and for a file not created yet its folder's", async () => {
    await mkdir(join(dir, "real"));
    await symlink("real", join(dir, "linked"));
    expect(await usersFileTarget(join(dir, "linked/users.ini"))).toBe(join(await realpath(dir), "real/users.ini"));
    await writeFile(join(dir, "real/users.ini"), "");
    await symlink("real/users.ini", join(dir, "u.ini"));
    expect(await usersFileTarget(join(dir, "u.ini"))).toBe(join(await realpath(dir), "real/users.ini"));
  });

  test("a missing file is an error unless allowMissing; a directory is an error", async () => {
    const file = join(dir, "none.ini");
    await expect(loadUsers(file)).rejects.toThrow(/not found/);
    expect((await loadUsers(file, { allowMissing: true })).size).toBe(0);
    await expect(loadUsers(dir, { allowMissing: true })).rejects.toBeInstanceOf(UsersFileError);
  });

  test("the corrupt fixture names its bad line", async () => {
    await expect(loadUsers(CORRUPT)).rejects.toThrow(/corrupt\.ini: line 6: expected "key = value"/);
  });

  test("saveUsers edits an existing file in place (comments kept) and writes one that does not parse anew", async () => {
    const file = join(dir, "users.ini");
    await writeFile(file, "# staff\n[alice]\nquota = 1GB ; for now\n");
    const users = await loadUsers(file);
    users.get("alice")!.quota = 2e9;
    await saveUsers(file, users);
    expect(await readFile(file, "utf8")).toBe("# staff\n[alice]\nquota = 2GB ; for now\n");
    await writeFile(file, "[alice]\nthis is not a setting\n");
    await saveUsers(file, users);
    expect(await readFile(file, "utf8")).toStartWith("; Managed by `ftpkit user`");
    expect((await loadUsers(file)).get("alice")!.quota).toBe(2e9);
  });

  test("saveUsers writes nothing when the file changed since the users were read from it (a hand edit is not undone)", async () => {
    const file = join(dir, "users.ini");
    await writeFile(file, "; ops\n[alice]\nquota = 1GB\n");
    const { text, users } = await readUsersFile(file);
    const edited = "; ops\n[alice]\nquota = 1GB\n\n; added by hand\n[bob]\n";
    await writeFile(file, edited);
    users.get("alice")!.quota = 2e9;
    await expect(saveUsers(file, users, { loaded: text })).rejects.toThrow(/changed while this command ran.*nothing was written/);
    expect(await readFile(file, "utf8")).toBe(edited);
    await saveUsers(file, (await readUsersFile(file)).users, { loaded: edited });
    expect(await readFile(file, "utf8")).toBe(edited);
  });

  test("saveUsers refuses a value the layout cannot hold and leaves the file untouched", async () => {
    const file = await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const before = await readFile(file);
    const users = await loadUsers(file);
    users.get("alice")!.mounts.push({ vpath: "/a=b", dir: "/srv", perms: ["read"], quota: 0 });
    await expect(saveUsers(file, users)).rejects.toThrow(/cannot store/);
    expect(await readFile(file)).toEqual(before);
    const names = (await Array.fromAsync(new Bun.Glob("*").scan({ cwd: dir, dot: true }))).sort();
    expect(names).toEqual(["users.ini"]);
  });

  test.each([
    ["alice", true], ["a.b-c_d", true], ["_x", true], ["A1", true], ["x".repeat(32), true],
    ["", false], ["../x", false], ["a b", false], ["a/b", false], [".hidden", false], ["-x", false],
    ["x".repeat(33), false], ["é", false], ["a\nb", false],
  ] as const)("validateUserName(%p) ok=%p", (name, ok) => {
    if (ok) expect(validateUserName(name)).toBe(name);
    else expect(() => validateUserName(name)).toThrow(ParseError);
  });

  test("sizes are written exactly and compactly", () => {
    expect(formatSizeExact(0)).toBe("0");
    expect(formatSizeExact(10 * 1024 ** 3)).toBe("10GiB");
    expect(formatSizeExact(1e10)).toBe("10GB");
    expect(formatSizeExact(1234567)).toBe("1234567");
    // The largest unit the count is a short exact number of, as an admin writes it ("1536MiB", "5120" before).
    expect(formatSizeExact(1.5 * 1024 ** 3)).toBe("1.5GiB");
    expect(formatSizeExact(5120)).toBe("5KiB");
    expect(formatSizeExact(1_500_000)).toBe("1.5MB");
    // Near 2^53 a unit's rounding goes past what parseSize takes ("8192TiB" is too large): bytes, not a throw.
    expect(formatSizeExact(Number.MAX_SAFE_INTEGER)).toBe(String(Number.MAX_SAFE_INTEGER));
  });
});
