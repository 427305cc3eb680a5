// A drop box below another account's home: what that account stores, overwrites, deletes or renames
// into the box through its home counts in the box's limit while the box's usage is held (a session
// of the box logged in), not only at the box's next measure. "local": one server; "redis" and
// "memory" (the --workers primary's store): the box's session on one node, alice's on another.
import { beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type FtpServer } from "../../server/index.ts";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { startRedis } from "../helpers/redis.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { du, finalCode, random, startUpload } from "../helpers/quota.ts";

const KB = 1000;
// Each test's servers, Redis, connections and directory go after it, last made first.
const owned = useCleanups("ftpkit-nested-box-");
let root = "";
let box = "";
let alice!: Wire;
let anon!: Wire;
let loginAt!: (node: number, user: string, password: string) => Promise<Wire>;

type Kind = "local" | "redis" | "memory";

/** One server ("local") or two sharing a store; `login(node, user, pw)` logs in on node `node`. */
async function startNodes(kind: Kind, usersFile: string): Promise<(node: number, user: string, password: string) => Promise<Wire>> {
  let shared: { state?: string; stateClient?: ReturnType<typeof memoryClient> } = {};
  if (kind === "redis") {
    const redis = await startRedis();
    owned.later(() => redis.stop());
    shared = { state: redis.url };
  } else if (kind === "memory") shared = { state: "memory", stateClient: memoryClient(new MemoryStore()) };
  const servers: FtpServer[] = [];
  for (let i = 0; i < (kind === "local" ? 1 : 2); i++) {
    const s = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, ...shared, stateTtlMs: 3000 });
    await s.listen();
    owned.later(() => s.close(0));
    servers.push(s);
  }
  return async (node, user, password) => {
    const w = await Wire.connect(servers[node % servers.length]!.address.port);
    owned.later(() => w.close());
    expect((await w.login(user, password)).code).toBe(230);
    return w;
  };
}

async function setUp(kind: Kind): Promise<void> {
  root = owned.workDir();
  const home = join(root, "home", "alice");
  box = join(home, "incoming");
  mkdirSync(box, { recursive: true });
  mkdirSync(join(home, "sub"));
  const usersFile = await makeUsersFile(root, [
    // Her own box inside her home too: /lim is HOME/sub with a limit of its own.
    { name: "alice", password: "alice-pw", home, quota: 1000 * KB, mounts: [{ vpath: "/lim", dir: join(home, "sub"), perms: ["read", "write", "modify"], quota: 100 * KB }] },
    { name: "anonymous", perms: ["read"], mounts: [{ vpath: "/incoming", dir: box, perms: ["read", "write"], quota: 100 * KB }] },
  ]);
  const login = (loginAt = await startNodes(kind, usersFile));
  // The box's session first: its usage is measured now and then kept by each booking.
  anon = await login(0, "anonymous", "guest@");
  await boxLeft(100 * KB);
  alice = await login(1, "alice", "alice-pw");
}

/** The file at `path` once it holds `bytes` (an upload's bytes reach the disk after they are sent): at most 5 s. */
async function sizeIs(path: string, bytes: number): Promise<void> {
  const size = () => (existsSync(path) ? statSync(path).size : -1);
  const deadline = Date.now() + 5000;
  while (size() !== bytes) {
    if (Date.now() > deadline) expect(size()).toBe(bytes);
    await Bun.sleep(10);
  }
}

const avbl = async () => Number((await anon.cmd("AVBL /incoming")).lines[0]);

/** The box's AVBL once it is `bytes` (another node's settlement reaches the store after its reply): at most 5 s. */
async function boxLeft(bytes: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await avbl()) !== bytes) {
    if (Date.now() > deadline) expect(await avbl()).toBe(bytes);
    await Bun.sleep(20);
  }
}

/** Alice's AVBL at her home once it is `bytes` (another node's settlement reaches the store after its reply): at most 5 s. */
async function aliceLeft(bytes: number): Promise<void> {
  await leftAt(alice, "/", bytes);
}

/** `w`'s AVBL at `path` once it is `bytes` (another node's settlement reaches the store after its reply): at most 5 s. */
async function leftAt(w: Wire, path: string, bytes: number): Promise<void> {
  const left = async () => Number((await w.cmd(`AVBL ${path}`)).lines[0]);
  const deadline = Date.now() + 5000;
  while ((await left()) !== bytes) {
    if (Date.now() > deadline) expect(await left()).toBe(bytes);
    await Bun.sleep(20);
  }
}

for (const kind of ["local", "redis", "memory"] as const) {
  describe(`a box below a home: ${kind}`, () => {
    beforeEach(() => setUp(kind));

    test("alice's upload into the box through her home counts in the box: anonymous's 60 KB gets 552, and after her DELE the box takes it", async () => {
      expect(finalCode(await alice.transfer("STOR /incoming/x", random(80 * KB)))).toBe(226);
      await boxLeft(20 * KB);
      expect(finalCode(await anon.transfer("STOR /incoming/a.bin", random(60 * KB)))).toBe(552);
      expect(du(box)).toBe(80 * KB);
      // An overwrite books only the change; an APPE its bytes.
      expect(finalCode(await alice.transfer("STOR /incoming/x", random(70 * KB)))).toBe(226);
      expect(finalCode(await alice.transfer("APPE /incoming/x", random(5 * KB)))).toBe(226);
      await boxLeft(25 * KB);
      expect((await alice.cmd("DELE /incoming/x")).code).toBe(250);
      await boxLeft(100 * KB);
      expect(finalCode(await anon.transfer("STOR /incoming/b.bin", random(60 * KB)))).toBe(226);
      // Her uploads elsewhere in her home stay out of the box.
      expect(finalCode(await alice.transfer("STOR /y", random(50 * KB)))).toBe(226);
      await boxLeft(40 * KB);
    }, 20_000);

    test("a file alice renames into the box counts there, and gives its bytes back when renamed out of it", async () => {
      expect(finalCode(await alice.transfer("STOR /x", random(80 * KB)))).toBe(226);
      await boxLeft(100 * KB);
      expect((await alice.cmd("RNFR /x")).code).toBe(350);
      expect((await alice.cmd("RNTO /incoming/x")).code).toBe(250);
      await boxLeft(20 * KB);
      expect(finalCode(await anon.transfer("STOR /incoming/a.bin", random(60 * KB)))).toBe(552);
      expect((await alice.cmd("RNFR /incoming/x")).code).toBe(350);
      expect((await alice.cmd("RNTO /x")).code).toBe(250);
      await boxLeft(100 * KB);
      expect(finalCode(await anon.transfer("STOR /incoming/b.bin", random(60 * KB)))).toBe(226);
      expect(du(box)).toBe(60 * KB);
    }, 20_000);

    test("what is stored in her home through a box (anonymous's, or her own limited mount of HOME/sub) counts in alice's quota, and a DELE through her home gives back only that", async () => {
      const home = join(root, "home", "alice");
      await aliceLeft(1000 * KB - du(home));
      expect(finalCode(await anon.transfer("STOR /incoming/a.bin", random(50 * KB)))).toBe(226);
      await aliceLeft(1000 * KB - du(home));
      expect((await alice.cmd("DELE /incoming/a.bin")).code).toBe(250);
      await aliceLeft(1000 * KB - du(home));
      // Through her own box, then deleted through her home: before, each round gave her 100 KB more.
      for (let i = 0; i < 3; i++) {
        expect(finalCode(await alice.transfer(`STOR /lim/c${i}`, random(100 * KB)))).toBe(226);
        expect((await alice.cmd(`DELE /sub/c${i}`)).code).toBe(250);
      }
      expect(finalCode(await alice.transfer("STOR /lim/kept", random(60 * KB)))).toBe(226);
      await aliceLeft(1000 * KB - du(home));
      expect(finalCode(await alice.transfer("STOR /big", random(1000 * KB - du(home) + 1)))).toBe(552);
    }, 20_000);

    test("a directory moved into or out of the box is refused with 550, and stays where it was", async () => {
      mkdirSync(join(root, "home", "alice", "d"));
      writeFileSync(join(root, "home", "alice", "d", "f"), random(80 * KB));
      mkdirSync(join(box, "e"));
      expect((await alice.cmd("RNFR /d")).code).toBe(350);
      const into = await alice.cmd("RNTO /incoming/d");
      expect(into.code).toBe(550);
      expect(into.lines.join(" ")).toContain("own limit");
      expect((await alice.cmd("RNFR /incoming/e")).code).toBe(350);
      expect((await alice.cmd("RNTO /e")).code).toBe(550);
      expect(existsSync(join(root, "home", "alice", "d", "f"))).toBe(true);
      expect(existsSync(join(box, "e"))).toBe(true);
      await boxLeft(100 * KB);
      // Within the box, or outside it, directories still move.
      expect((await alice.cmd("RNFR /incoming/e")).code).toBe(350);
      expect((await alice.cmd("RNTO /incoming/e2")).code).toBe(250);
      expect((await alice.cmd("RNFR /d")).code).toBe(350);
      expect((await alice.cmd("RNTO /d2")).code).toBe(250);
    }, 20_000);

    test("a file an upload is still writing is not moved into or out of the box (450) until it ends: the box counts what its disk holds", async () => {
      const home = join(root, "home", "alice");
      // Out of the box: anonymous's upload runs, alice's RNTO of it to her home is refused.
      const up = await startUpload(anon, "STOR /incoming/a.bin");
      await up.send(random(50 * KB));
      await sizeIs(join(box, "a.bin"), 50 * KB);
      expect((await alice.cmd("RNFR /incoming/a.bin")).code).toBe(350);
      expect((await alice.cmd("RNTO /a_out.bin")).code).toBe(450);
      await up.send(random(20 * KB));
      expect(await up.finish()).toBe(226);
      // Before: the move gave back 50 KB, the upload then booked its 70 KB in the box (box 70 KB, disk 0).
      await boxLeft(30 * KB);
      expect(du(box)).toBe(70 * KB);
      // Into the box: alice's upload to her home, moved by another session of hers (on the other node).
      const mover = await loginAt(0, "alice", "alice-pw");
      const own = await startUpload(alice, "STOR /big.bin");
      await own.send(random(10 * KB));
      await sizeIs(join(home, "big.bin"), 10 * KB);
      expect((await mover.cmd("RNFR /big.bin")).code).toBe(350);
      expect((await mover.cmd("RNTO /incoming/big.bin")).code).toBe(450);
      await own.send(random(20 * KB));
      expect(await own.finish()).toBe(226);
      // Before: 10 KB booked into the box, and the upload's 30 KB settled in alice's home only.
      await boxLeft(30 * KB);
      // Once the upload has ended the file moves, and the box counts all of it.
      expect((await mover.cmd("RNFR /big.bin")).code).toBe(350);
      expect((await mover.cmd("RNTO /incoming/big.bin")).code).toBe(250);
      await boxLeft(0);
      expect(du(box)).toBe(100 * KB);
    }, 20_000);

    test("a path through a link into the box (inc -> incoming) counts as the box's: uploads, deletes and moves", async () => {
      symlinkSync("incoming", join(root, "home", "alice", "inc"));
      mkdirSync(join(root, "home", "alice", "d"));
      writeFileSync(join(root, "home", "alice", "d", "f"), random(10 * KB));
      // Before: the box kept saying 100 KB, and anonymous could then fill it past its limit.
      expect(finalCode(await alice.transfer("STOR /inc/x", random(80 * KB)))).toBe(226);
      await boxLeft(20 * KB);
      expect(finalCode(await anon.transfer("STOR /incoming/a.bin", random(60 * KB)))).toBe(552);
      expect((await alice.cmd("RNFR /d")).code).toBe(350);
      expect((await alice.cmd("RNTO /inc/d")).code).toBe(550);
      expect((await alice.cmd("DELE /inc/x")).code).toBe(250);
      await boxLeft(100 * KB);
      // A link renamed into the box moves no bytes (before: its target's 10 KB booked, never given back).
      symlinkSync("d/f", join(root, "home", "alice", "fl"));
      expect((await alice.cmd("RNFR /fl")).code).toBe(350);
      expect((await alice.cmd("RNTO /incoming/fl")).code).toBe(250);
      expect((await alice.cmd("DELE /incoming/fl")).code).toBe(250);
      await boxLeft(100 * KB);
    }, 20_000);
  });
}

for (const kind of ["local", "redis", "memory"] as const) {
  describe(`one directory mounted twice: ${kind}`, () => {
    test("anonymous's uploads into a limited drop box count in the quota of a moderator whose unlimited mount of it is charged to him; his DELEs there give back what they count, round after round", async () => {
      root = owned.workDir();
      const inbox = join(root, "inbox");
      const modHome = join(root, "home", "mod");
      mkdirSync(inbox, { recursive: true });
      mkdirSync(modHome, { recursive: true });
      const usersFile = await makeUsersFile(root, [
        { name: "anonymous", perms: ["read"], mounts: [{ vpath: "/incoming", dir: inbox, perms: ["read", "write"], quota: 500 * KB }] },
        { name: "mod", password: "mod-pw", home: modHome, quota: 1000 * KB, mounts: [{ vpath: "/inc", dir: inbox, perms: ["read", "write", "modify"], quota: 0 }] },
      ]);
      const login = await startNodes(kind, usersFile);
      const guest = await login(0, "anonymous", "guest@");
      const mod = await login(1, "mod", "mod-pw");
      expect(finalCode(await mod.transfer("STOR /own", random(600 * KB)))).toBe(226);
      // Before: each round of 300 KB uploaded by anonymous and deleted by mod gave mod 300 KB more.
      for (let i = 0; i < 3; i++) {
        expect(finalCode(await guest.transfer(`STOR /incoming/up${i}`, random(300 * KB)))).toBe(226);
        await leftAt(mod, "/", 100 * KB);
        expect((await mod.cmd(`DELE /inc/up${i}`)).code).toBe(250);
        await leftAt(mod, "/", 400 * KB);
        await leftAt(guest, "/incoming", 500 * KB);
      }
      expect(du(modHome) + du(inbox)).toBe(600 * KB);
      expect(finalCode(await mod.transfer("STOR /more", random(400 * KB + 1)))).toBe(552);
      expect((await mod.cmd("DELE /more")).code).toBe(250); // what of it was stored (a 552 keeps it, as vsftpd does)
      await leftAt(mod, "/", 400 * KB);
      // And the other way: what mod stores through his mount fills the box too.
      expect(finalCode(await mod.transfer("STOR /inc/his", random(300 * KB)))).toBe(226);
      await leftAt(guest, "/incoming", 200 * KB);
      expect(finalCode(await guest.transfer("STOR /incoming/late", random(250 * KB)))).toBe(552);
    }, 30_000);
  });
}


describe("a box below a home, swapped in while an upload waits", () => {
  test("a directory replaced by a link into the box between STOR's plan and its open (here by the pre-upload hook) books the upload in the box", async () => {
    root = owned.workDir();
    const home = join(root, "home", "alice");
    box = join(home, "incoming");
    mkdirSync(box, { recursive: true });
    mkdirSync(join(home, "d"));
    const usersFile = await makeUsersFile(root, [
      { name: "alice", password: "alice-pw", home, quota: 1000 * KB },
      { name: "anonymous", perms: ["read"], mounts: [{ vpath: "/incoming", dir: box, perms: ["read", "write"], quota: 100 * KB }] },
    ]);
    // The swap a local user (or a racing session's RNFR/RNTO) could make once STOR has looked at /d.
    const swap = `/bin/sh -c 'if [ "$FTPKIT_PATH" = /d/x ]; then mv "${home}/d" "${home}/d-old" && ln -s incoming "${home}/d"; fi'`;
    const s = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, ops: { hooks: [{ event: "pre-upload", command: swap }] } });
    await s.listen();
    owned.later(() => s.close(0));
    const login = async (user: string, password: string) => {
      const w = await Wire.connect(s.address.port);
      owned.later(() => w.close());
      expect((await w.login(user, password)).code).toBe(230);
      return w;
    };
    anon = await login("anonymous", "guest@");
    await boxLeft(100 * KB);
    alice = await login("alice", "alice-pw");
    expect(finalCode(await alice.transfer("STOR /d/x", random(80 * KB)))).toBe(226);
    expect(existsSync(join(box, "x"))).toBe(true);
    // Before: booked in alice's home only, the box still said 100 KB, and took 60 KB more past its limit.
    await boxLeft(20 * KB);
    expect(finalCode(await anon.transfer("STOR /incoming/a.bin", random(60 * KB)))).toBe(552);
    expect(du(box)).toBe(80 * KB);
  }, 20_000);
});
