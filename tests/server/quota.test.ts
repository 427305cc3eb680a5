// Quotas: per user, per mount, shared by parallel sessions, changed in users.ini (issue #2).
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { makeUsersFile, type UserSpec } from "../helpers/users.ts";
import type { Wire } from "../helpers/wire.ts";
import { du, random, finalCode, startUpload } from "../helpers/quota.ts";
import { waitFor } from "../helpers/peers.ts";
import { statSync } from "node:fs";

const servers = useServers();
const serve = (users: UserSpec[], setup?: (root: string) => void) => servers.start({ users, setup });
const login = (user = "alice", password = "alice-pw") => servers.login(user, password);

/** Bytes of regular files under `dir` (symlinks not followed), as the quota counts them. */

const KB = 1000;
async function avbl(w: Wire, dir?: string): Promise<number> {
  const r = await w.cmd(dir ? `AVBL ${dir}` : "AVBL");
  expect(r.code).toBe(213);
  return Number(r.lines[0]);
}

const sizeOf = (path: string) => statSync(path, { throwIfNoEntry: false })?.size ?? -1;

const alice = (quota: number, extra: Partial<UserSpec> = {}): UserSpec => ({ name: "alice", password: "alice-pw", home: "home/alice", quota, ...extra });

describe("a per-user quota", () => {
  test("an upload that crosses the limit gets 552 and the stored bytes never exceed the quota", async () => {
    const s = await serve([alice(200 * KB)]);
    const w = await login();
    const r = await w.transfer("STOR big.bin", random(300 * KB));
    expect(r.first.code).toBe(150);
    expect(r.final!.code).toBe(552);
    expect(du(s.home("alice"))).toBeLessThanOrEqual(200 * KB);
    // The session goes on.
    expect((await w.cmd("NOOP")).code).toBe(200);
  });

  test("uploads that fit are accepted up to the limit, then the next one is refused", async () => {
    const s = await serve([alice(200 * KB)]);
    const w = await login();
    const used = du(s.home("alice"));
    expect(finalCode(await w.transfer("STOR a.bin", random(100 * KB)))).toBe(226);
    expect(finalCode(await w.transfer("STOR b.bin", random(100 * KB - used)))).toBe(226);
    expect(await avbl(w)).toBe(0);
    expect(finalCode(await w.transfer("STOR c.bin", random(10)))).toBe(552);
    expect(du(s.home("alice"))).toBe(200 * KB);
  });

  test("AVBL and SITE QUOTA report what is left; DELE frees space", async () => {
    const s = await serve([alice(200 * KB)]);
    const w = await login();
    const base = du(s.home("alice"));
    expect(await avbl(w)).toBe(200 * KB - base);
    expect(finalCode(await w.transfer("STOR a.bin", random(120 * KB)))).toBe(226);
    expect(await avbl(w)).toBe(80 * KB - base);
    const q = await w.cmd("SITE QUOTA");
    expect(q.code).toBe(211);
    expect(q.lines.join("\n")).toContain(`used ${120 * KB + base} of ${200 * KB} bytes`);
    expect(q.lines.join("\n")).toContain(`${80 * KB - base} bytes available`);
    expect(finalCode(await w.transfer("STOR b.bin", random(120 * KB)))).toBe(552);
    expect((await w.cmd("DELE a.bin")).code).toBe(250);
    expect(await avbl(w)).toBeGreaterThanOrEqual(200 * KB - base - 80 * KB); // only b's partial bytes remain
    expect((await w.cmd("DELE b.bin")).code).toBe(250);
    expect(await avbl(w)).toBe(200 * KB - base);
    expect(finalCode(await w.transfer("STOR c.bin", random(150 * KB)))).toBe(226);
  });

  test("bytes at any depth count: files 40 and 300 directories down are in the measured usage", async () => {
    const s = await serve([alice(1000 * KB)], (root) => {
      for (const depth of [40, 300]) {
        const dir = join(root, "home/alice", ...Array.from({ length: depth }, () => "d"), "");
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `at-${depth}.bin`), random(50 * KB));
      }
    });
    const w = await login();
    const used = du(s.home("alice"));
    expect(used).toBeGreaterThanOrEqual(100 * KB);
    // Before, the walk stopped at 64 levels: the file 300 down was not counted, and AVBL showed 50 KB more.
    expect(await avbl(w)).toBe(1000 * KB - used);
  });

  test("AVBL in a subdirectory reports the same budget", async () => {
    await serve([alice(100 * KB)]);
    const w = await login();
    expect(await avbl(w, "docs")).toBe(await avbl(w));
  });

  test("overwriting a file gives its old bytes back first", async () => {
    const s = await serve([alice(200 * KB)]);
    const w = await login();
    expect(finalCode(await w.transfer("STOR a.bin", random(150 * KB)))).toBe(226);
    expect(finalCode(await w.transfer("STOR a.bin", random(150 * KB)))).toBe(226);
    expect(du(s.home("alice"))).toBeLessThanOrEqual(200 * KB);
    expect(await avbl(w)).toBe(200 * KB - du(s.home("alice")));
  });

  test("APPE and REST+STOR are charged for the bytes they add", async () => {
    const s = await serve([alice(100 * KB)]);
    const w = await login();
    expect(finalCode(await w.transfer("STOR a.bin", random(60 * KB)))).toBe(226);
    expect(finalCode(await w.transfer("APPE a.bin", random(60 * KB)))).toBe(552);
    expect(du(s.home("alice"))).toBeLessThanOrEqual(100 * KB);
    // Resume from 10 KB: the dropped tail is given back, so 80 KB more fit.
    expect((await w.cmd(`REST ${10 * KB}`)).code).toBe(350);
    const size = Number((await w.cmd("SIZE a.bin")).lines[0]);
    expect(size).toBeGreaterThan(10 * KB);
    expect(finalCode(await w.transfer("STOR a.bin", random(80 * KB)))).toBe(226);
    expect(du(s.home("alice"))).toBeLessThanOrEqual(100 * KB);
    expect(await avbl(w)).toBe(100 * KB - du(s.home("alice")));
  });

  test("renaming over a file gives the replaced bytes back", async () => {
    const s = await serve([alice(100 * KB)]);
    const w = await login();
    expect(finalCode(await w.transfer("STOR a.bin", random(40 * KB)))).toBe(226);
    expect(finalCode(await w.transfer("STOR b.bin", random(40 * KB)))).toBe(226);
    expect((await w.cmd("RNFR a.bin")).code).toBe(350);
    expect((await w.cmd("RNTO b.bin")).code).toBe(250);
    expect(await avbl(w)).toBe(100 * KB - du(s.home("alice")));
  });

  test("ALLO beyond what is left is 552", async () => {
    await serve([alice(100 * KB)]);
    const w = await login();
    expect((await w.cmd(`ALLO ${50 * KB}`)).code).toBe(202);
    expect((await w.cmd(`ALLO ${200 * KB}`)).code).toBe(552);
  });

  test("an unlimited user reports unlimited in SITE QUOTA", async () => {
    await serve([alice(0)]);
    const w = await login();
    expect((await w.cmd("SITE QUOTA")).lines.join("\n")).toContain("unlimited");
    expect(await avbl(w)).toBeGreaterThan(0);
  });
});

describe("a mount without a limit of its own", () => {
  const mounted = (perms: ("read" | "write" | "modify")[]) => [alice(200 * KB, { mounts: [{ vpath: "/share", dir: "share", perms, quota: 0 }] })];
  const bigShare = (root: string) => {
    mkdirSync(join(root, "share"), { recursive: true });
    writeFileSync(join(root, "share", "big.iso"), random(300 * KB));
  };

  test("read-only: its bytes are not the user's; her uploads still fit her quota (before: 552, the share counted)", async () => {
    const s = await serve(mounted(["read"]), bigShare);
    const w = await login();
    const base = du(s.home("alice"));
    expect(await avbl(w)).toBe(200 * KB - base);
    expect(finalCode(await w.transfer("STOR small.bin", random(10 * KB)))).toBe(226);
    expect((await w.cmd("SITE QUOTA")).lines.join("\n")).toContain(`home: used ${10 * KB + base} of ${200 * KB} bytes`);
  });

  test("writable: its bytes count in her quota, as what she stores there does", async () => {
    const s = await serve(mounted(["read", "write", "modify"]), bigShare);
    const w = await login();
    expect(await avbl(w)).toBe(0);
    expect(finalCode(await w.transfer("STOR small.bin", random(10 * KB)))).toBe(552);
    expect(du(s.home("alice"))).toBeLessThan(10 * KB);
  });
});

describe("a mount with its own limit", () => {
  const users: UserSpec[] = [
    alice(500 * KB, { mounts: [{ vpath: "/drop", dir: "home/drop", perms: ["read", "write", "modify"], quota: 50 * KB }] }),
  ];

  test("uploads into the mount are bounded by the mount's limit, not the user's", async () => {
    const s = await serve(users);
    const w = await login();
    expect(await avbl(w, "/drop")).toBe(50 * KB);
    const r = await w.transfer("STOR /drop/big.bin", random(60 * KB));
    expect(r.final!.code).toBe(552);
    expect(du(join(s.root, "home/drop"))).toBeLessThanOrEqual(50 * KB);
    // The home still has its own budget.
    expect(finalCode(await w.transfer("STOR home.bin", random(100 * KB)))).toBe(226);
  });

  test("ALLO is checked against the quota of the current directory's mount, as AVBL and STOR count", async () => {
    await serve(users);
    const w = await login();
    expect((await w.cmd("CWD /drop")).code).toBe(250);
    // 100 KB fit in the home's 500 KB but not in the mount's 50 KB; 40 KB fit in the mount.
    expect((await w.cmd(`ALLO ${100 * KB}`)).code).toBe(552);
    expect((await w.cmd(`ALLO ${40 * KB}`)).code).toBe(202);
    expect((await w.cmd("CWD /")).code).toBe(250);
    expect((await w.cmd(`ALLO ${100 * KB}`)).code).toBe(202);
  });

  test("ALLO in a mount whose own limit has room is 202 while the home is full", async () => {
    const s = await serve(users);
    const w = await login();
    expect(finalCode(await w.transfer("STOR fill.bin", random(500 * KB - du(s.home("alice")))))).toBe(226);
    expect(await avbl(w)).toBe(0);
    expect((await w.cmd("CWD /drop")).code).toBe(250);
    expect((await w.cmd(`ALLO ${10 * KB}`)).code).toBe(202);
    expect(finalCode(await w.transfer("STOR fits.bin", random(10 * KB)))).toBe(226);
  });

  test("SITE QUOTA lists the home and the mount", async () => {
    await serve(users);
    const w = await login();
    const text = (await w.cmd("SITE QUOTA")).lines.join("\n");
    expect(text).toContain("home: used");
    expect(text).toContain(`/drop: used 0 of ${50 * KB} bytes`);
  });

  test("the mount's limit is shared by every user who mounts it", async () => {
    const shared = { vpath: "/drop", dir: "home/drop", perms: ["read", "write", "modify"] as const, quota: 50 * KB };
    const s = await serve([
      { name: "alice", password: "alice-pw", home: "home/alice", mounts: [{ ...shared, perms: [...shared.perms] }] },
      { name: "bob", password: "bob-pw", home: "home/bob", mounts: [{ ...shared, perms: [...shared.perms] }] },
    ]);
    const a = await login("alice", "alice-pw");
    const b = await login("bob", "bob-pw");
    expect(finalCode(await a.transfer("STOR /drop/a.bin", random(30 * KB)))).toBe(226);
    expect(await avbl(b, "/drop")).toBe(20 * KB);
    expect(finalCode(await b.transfer("STOR /drop/b.bin", random(30 * KB)))).toBe(552);
    expect(du(join(s.root, "home/drop"))).toBeLessThanOrEqual(50 * KB);
  });
});

describe("parallel sessions of one user", () => {
  test("4 sessions × 400 KB against a 1 MB quota: the disk never holds more and someone gets 552", async () => {
    const s = await serve([alice(1000 * KB)]);
    const sessions = await Promise.all([0, 1, 2, 3].map(() => login()));
    const results = await Promise.all(sessions.map((w, i) => w.transfer(`STOR part${i}.bin`, random(400 * KB))));
    const codes = results.map(finalCode);
    expect(codes.filter((c) => c === 552).length).toBeGreaterThanOrEqual(1);
    expect(codes.every((c) => c === 226 || c === 552)).toBe(true);
    expect(du(s.home("alice"))).toBeLessThanOrEqual(1000 * KB);
    const w = sessions[0]!;
    expect(await avbl(w)).toBe(1000 * KB - du(s.home("alice")));
  }, 20_000);

  test("overwrites planned on a file that another session then renames away are charged in full: 552, and the disk stays within the quota", async () => {
    const s = await serve([alice(100 * KB)]);
    const quota = 100 * KB;
    const py = `
import ftplib
def session():
    f = ftplib.FTP(); f.connect("127.0.0.1", ${s.port}, timeout=10); f.login("alice", "alice-pw"); f.voidcmd("TYPE I"); return f
b = session()
b.storbinary("STOR f.bin", __import__("io").BytesIO(b"A" * 60000))
planned = []
for i in range(3):
    w = session()
    planned.append((w, w.transfercmd("STOR f.bin")))  # 150: each may rewrite f.bin's 60,000 bytes for free
b.sendcmd("RNFR f.bin"); b.voidcmd("RNTO kept.bin")  # ... but f.bin is gone, its bytes kept elsewhere
codes = []
for w, conn in planned:
    conn.sendall(b"B" * 60000); conn.close()
    try: codes.append(w.voidresp()[:3])
    except ftplib.error_perm as e: codes.append(str(e)[:3])
print(" ".join(codes))
`;
    const proc = Bun.spawn(["python3", "-c", py], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(await proc.exited, err).toBe(0);
    // Before, all three committed for free: 240,000 bytes under a 100,000-byte quota.
    expect(out.trim().split(" ")).toContain("552");
    expect(du(s.home("alice"))).toBeLessThanOrEqual(quota);
    const w = await login();
    expect(await avbl(w)).toBe(quota - du(s.home("alice")));
  }, 30_000);

  test("overwrites of one file at once: one rewrites its bytes on credit, the others are held to what is free (552), and the bytes in flight never pass the quota", async () => {
    const s = await serve([alice(1000 * KB)], (root) => writeFileSync(join(root, "home/alice/big.bin"), random(900 * KB)));
    const base = du(s.home("alice"));
    const sessions = await Promise.all([0, 1, 2].map(() => login()));
    const uploads = [];
    for (const w of sessions) uploads.push(await startUpload(w, "STOR big.bin"));
    // Each sends the file's size and keeps its data connection open (temp files, bytes in flight).
    await Promise.all(uploads.map((u) => u.send(random(900 * KB)).catch(() => {}))); // a 552 closes the data connection
    const codes = await Promise.all(uploads.map((u) => u.finish()));
    // Before, all three were 226: 2.7 MB written at once on one 900 KB credit under a 1 MB quota.
    expect(codes.filter((c) => c === 226)).toHaveLength(1);
    expect(codes.filter((c) => c === 552)).toHaveLength(2);
    expect(sizeOf(join(s.home("alice"), "big.bin"))).toBe(900 * KB);
    expect(await avbl(sessions[0]!)).toBe(1000 * KB - du(s.home("alice")));
    expect(du(s.home("alice"))).toBe(base);
  }, 30_000);

  test("a later session (even after the first closed) sees the bytes booked by an earlier one", async () => {
    const s = await serve([alice(100 * KB)]);
    const a = await login();
    expect(finalCode(await a.transfer("STOR a.bin", random(60 * KB)))).toBe(226);
    const b = await login();
    expect(await avbl(b)).toBe(100 * KB - du(s.home("alice")));
    a.close();
    await Bun.sleep(100);
    const c = await login();
    expect(await avbl(c)).toBe(100 * KB - du(s.home("alice")));
    expect(finalCode(await b.transfer("STOR b.bin", random(60 * KB)))).toBe(552);
  });
});

describe("one file written by two sessions", () => {
  test("a second REST+STOR of a file another session is resuming gets 450, and the ledger keeps counting what is on disk", async () => {
    const quota = 1000 * KB;
    const s = await serve([alice(quota)], (root) => {
      mkdirSync(join(root, "home/alice"), { recursive: true });
      writeFileSync(join(root, "home/alice/t.bin"), "t".repeat(10));
    });
    const file = join(s.home("alice"), "t.bin");
    const a = await login();
    const b = await login();
    expect((await a.cmd("REST 1")).code).toBe(350);
    const up = await startUpload(a, "STOR t.bin");
    await up.send(random(400 * KB));
    await waitFor(() => sizeOf(file) === 1 + 400 * KB, 5000, "A's bytes on disk");
    // Before, B's 1-byte resume cut the file back, was credited with A's bytes, and A's were then
    // settled as well: the ledger said 100,003 bytes used while the disk held 500,002.
    expect((await b.cmd("REST 1")).code).toBe(350);
    const second = await b.transfer("STOR t.bin", new Uint8Array([66]));
    // Refused before its 150 (tests/server/upload-lock.test.ts).
    expect(second.first.code).toBe(450);
    expect(second.first.lines.join(" ")).toContain("being uploaded by another session");
    expect(await up.finish()).toBe(226);
    expect(sizeOf(file)).toBe(1 + 400 * KB);
    expect(await avbl(a)).toBe(quota - du(s.home("alice")));
    // The room the ledger shows is the room there is: one byte more is refused.
    const left = await avbl(a);
    expect(finalCode(await a.transfer("STOR fill.bin", random(left)))).toBe(226);
    expect(finalCode(await b.transfer("STOR over.bin", random(1000)))).toBe(552);
    expect(du(s.home("alice"))).toBeLessThanOrEqual(quota);
    // Once A has ended, the file can be resumed again.
    expect((await b.cmd("REST 1")).code).toBe(350);
    expect(finalCode(await b.transfer("STOR t.bin", new Uint8Array([66])))).toBe(226);
    expect(sizeOf(file)).toBe(2);
    expect(await avbl(b)).toBe(quota - du(s.home("alice")));
  }, 20_000);

  test("APPE to a new file another session is still uploading gets 450", async () => {
    const s = await serve([alice(1000 * KB)]);
    const a = await login();
    const b = await login();
    const up = await startUpload(a, "STOR new.bin");
    await up.send(random(100 * KB));
    await waitFor(() => sizeOf(join(s.home("alice"), "new.bin")) === 100 * KB, 5000, "A's bytes on disk");
    expect(finalCode(await b.transfer("APPE new.bin", random(10 * KB)))).toBe(450);
    expect(await up.finish()).toBe(226);
    expect(sizeOf(join(s.home("alice"), "new.bin"))).toBe(100 * KB);
    expect(await avbl(b)).toBe(1000 * KB - du(s.home("alice")));
  });

  test("DELE by another session of a file still being uploaded gives its bytes back once: the ledger matches the empty home", async () => {
    const quota = 1000 * KB;
    const s = await serve([alice(quota)]);
    const file = join(s.home("alice"), "n.bin");
    const a = await login();
    const b = await login();
    const base = du(s.home("alice"));
    const up = await startUpload(a, "STOR n.bin");
    await up.send(random(300 * KB));
    await waitFor(() => sizeOf(file) === 300 * KB, 5000, "A's bytes on disk");
    expect((await b.cmd("DELE n.bin")).code).toBe(250);
    await up.send(random(300 * KB));
    expect(await up.finish()).toBe(226);
    expect(sizeOf(file)).toBe(-1);
    // Before: 300,000 bytes stayed booked for a file that no longer existed.
    expect(du(s.home("alice"))).toBe(base);
    expect(await avbl(a)).toBe(quota - base);
    expect(finalCode(await b.transfer("STOR x.bin", random(quota - base)))).toBe(226);
    expect(du(s.home("alice"))).toBe(quota);
  });

  test("a file renamed over while it is being uploaded: its bytes come back once", async () => {
    const quota = 1000 * KB;
    const s = await serve([alice(quota)]);
    const a = await login();
    const b = await login();
    expect(finalCode(await b.transfer("STOR other.bin", random(50 * KB)))).toBe(226);
    const up = await startUpload(a, "STOR n.bin");
    await up.send(random(200 * KB));
    await waitFor(() => sizeOf(join(s.home("alice"), "n.bin")) === 200 * KB, 5000, "A's bytes on disk");
    expect((await b.cmd("RNFR other.bin")).code).toBe(350);
    expect((await b.cmd("RNTO n.bin")).code).toBe(250);
    await up.send(random(100 * KB));
    expect(await up.finish()).toBe(226);
    expect(sizeOf(join(s.home("alice"), "n.bin"))).toBe(50 * KB);
    expect(await avbl(b)).toBe(quota - du(s.home("alice")));
  });
});

describe("one directory mounted with different limits", () => {
  const incoming = "home/incoming";
  const users: UserSpec[] = [
    // read too, so AVBL shows the box's usage (a write-only box shows none: drop-box-privacy.test.ts).
    { name: "anonymous", home: "home/anon", perms: ["read"], mounts: [{ vpath: "/incoming", dir: incoming, perms: ["read", "write"], quota: 100 * KB }] },
    { name: "bob", password: "bob-pw", home: "home/bob", mounts: [{ vpath: "/rw", dir: incoming, perms: ["read", "write", "modify"], quota: 200 * KB }] },
  ];

  test("each mount's own limit applies to uploads through it, whoever logged in last; the usage is shared", async () => {
    const s = await serve(users, (root) => mkdirSync(join(root, incoming), { recursive: true }));
    const dir = join(s.root, incoming);
    const anon = await login("anonymous", "guest@");
    expect(await avbl(anon, "/incoming")).toBe(100 * KB);
    const bob = await login("bob", "bob-pw");
    expect(await avbl(bob, "/rw")).toBe(200 * KB);
    // Before, bob's login set the limit of the shared ledger: anonymous saw 200000 and got 226.
    expect(await avbl(anon, "/incoming")).toBe(100 * KB);
    expect(finalCode(await anon.transfer("STOR /incoming/drop1.bin", random(150 * KB)))).toBe(552);
    expect(du(dir)).toBeLessThanOrEqual(100 * KB);
    // A later anonymous login changes nothing for bob either.
    const anon2 = await login("anonymous", "guest@");
    expect(await avbl(bob, "/rw")).toBe(200 * KB - du(dir));
    // Bob's uploads count against the anonymous box too: one directory, one usage.
    expect(finalCode(await bob.transfer("STOR /rw/big.bin", random(150 * KB)))).toBe(226);
    expect(await avbl(anon2, "/incoming")).toBe(Math.max(0, 100 * KB - du(dir)));
    expect(finalCode(await anon2.transfer("STOR /incoming/drop2.bin", random(10 * KB)))).toBe(552);
    expect(await avbl(bob, "/rw")).toBe(200 * KB - du(dir));
    expect(du(dir)).toBeLessThanOrEqual(200 * KB);
  });
});

describe("a quota change in users.ini", () => {
  test("applies to new sessions without a restart", async () => {
    const s = await serve([alice(1000 * KB)]);
    const first = await login();
    expect(await avbl(first)).toBe(1000 * KB - du(s.home("alice")));
    first.close();
    await Bun.sleep(100);
    // Make sure the file's mtime moves, then rewrite it with a smaller quota.
    await Bun.sleep(20);
    await makeUsersFile(s.root, [alice(100 * KB)]);
    const w = await login();
    expect(await avbl(w)).toBe(100 * KB - du(s.home("alice")));
    expect(finalCode(await w.transfer("STOR big.bin", random(200 * KB)))).toBe(552);
    expect(du(s.home("alice"))).toBeLessThanOrEqual(100 * KB);
  });

  test("applies to a new session even while an old one is still open", async () => {
    const s = await serve([alice(1000 * KB)]);
    const old = await login();
    expect(await avbl(old)).toBeGreaterThan(500 * KB);
    await makeUsersFile(s.root, [alice(100 * KB)]);
    const w = await login();
    expect(await avbl(w)).toBe(100 * KB - du(s.home("alice")));
    expect(finalCode(await w.transfer("STOR big.bin", random(200 * KB)))).toBe(552);
  });

  test("a limit set on a user who was unlimited counts the bytes already uploaded once", async () => {
    const s = await serve([alice(0)]);
    const old = await login();
    expect(finalCode(await old.transfer("STOR a.bin", random(60 * KB)))).toBe(226);
    await makeUsersFile(s.root, [alice(100 * KB)]);
    const w = await login();
    expect(await avbl(w)).toBe(100 * KB - du(s.home("alice")));
    expect(finalCode(await w.transfer("STOR b.bin", random(30 * KB)))).toBe(226);
  });

  test("a mount's new limit applies too", async () => {
    const mount = (quota: number) => alice(0, { mounts: [{ vpath: "/drop", dir: "home/drop", perms: ["read", "write"], quota }] });
    const s = await serve([mount(500 * KB)]);
    mkdirSync(join(s.root, "home/drop"), { recursive: true });
    const a = await login();
    expect(await avbl(a, "/drop")).toBe(500 * KB);
    a.close();
    await Bun.sleep(100);
    await makeUsersFile(s.root, [mount(10 * KB)]);
    const b = await login();
    expect(await avbl(b, "/drop")).toBe(10 * KB);
  });
});

describe("the quota registry", () => {
  test("usage changed outside FTP counts from the first login after the last session lingered out, not while one stays", async () => {
    const { QuotaRegistry } = await import("../../server/vfs/quota.ts");
    let onDisk = 1_000;
    const registry = new QuotaRegistry(undefined, 50);
    try {
      const first = await registry.acquire("user:alice", 10_000, async () => onDisk);
      expect(first.used).toBe(1_000);
      onDisk = 4_000; // an admin copies files into the home
      registry.release("user:alice");
      const again = await registry.acquire("user:alice", 10_000, async () => onDisk); // a reconnect within the linger
      expect(again.used).toBe(1_000);
      registry.release("user:alice");
      await waitFor(() => registry.view("user:alice", 10_000) === undefined, 5_000, "the ledger to linger out");
      const later = await registry.acquire("user:alice", 10_000, async () => onDisk);
      expect(later.used).toBe(4_000);
      registry.release("user:alice");
    } finally {
      registry.close();
    }
  });
});
