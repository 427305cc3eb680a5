// A home or mount that is there but that the server's account may not use as the user's rights need
// (`sudo ftpkit user add`, the server running as a service account) is said at load, as a missing one is.
import { afterEach, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir, waitFor } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";

// Root passes every permission check: the server runs as nobody, as a service account would.
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
let srv: ServeProcess | null = null;
let dir = "";

afterEach(async () => {
  await srv?.kill();
  srv = null;
  if (dir) removeDir(dir);
});

test.skipIf(!isRoot)("a home or mount the server's account cannot write or enter, though the user's rights need it, is warned about at start; one it can use is not", async () => {
  dir = tempDir("ftpkit-home-access-");
  const own = (p: string, mode: number, uid: number) => {
    mkdirSync(p, { recursive: true });
    chownSync(p, uid, uid);
    chmodSync(p, mode);
  };
  own(dir, 0o755, NOBODY);
  const users = await makeUsersFile(dir, [
    { name: "bob", password: "pw", home: "home/bob" }, // made by root, 0755: the server may not write it
    { name: "reader", password: "pw", home: "home/reader", perms: ["read"] }, // the same, but only read is needed
    { name: "carol", password: "pw", home: "home/carol", mounts: [
      { vpath: "/sec", dir: join(dir, "sec"), perms: ["read"], quota: 0 }, // root's 0700: not even entered
      { vpath: "/pub", dir: join(dir, "pub"), perms: ["read"], quota: 0 },
    ] },
  ]);
  for (const p of ["home", "home/bob", "home/reader"]) own(join(dir, p), 0o755, 0);
  own(join(dir, "home/carol"), 0o755, NOBODY);
  own(join(dir, "sec"), 0o700, 0);
  own(join(dir, "pub"), 0o755, 0);
  chownSync(users, NOBODY, NOBODY);
  srv = await spawnServe(["--users", users], { cwd: dir, uid: NOBODY, timeoutMs: 30_000 });
  const log = () => srv!.stdout() + srv!.stderr();
  await waitFor(() => /carol's mount \/sec/.test(log()) && /bob's home/.test(log()), 10_000, "the warnings");
  const lines = log().split("\n").filter((l) => l.includes("WARN"));
  expect(lines).toHaveLength(2);
  expect(lines).toEqual(expect.arrayContaining([
    expect.stringContaining(`bob's home ${join(dir, "home/bob")} cannot be written by this server's account (uid ${NOBODY}), as bob's rights there (read,write,modify) need: those commands fail with 550`),
    expect.stringContaining(`carol's mount /sec: directory ${join(dir, "sec")} cannot be read by this server's account (uid ${NOBODY}), as carol's rights there (read) need`),
  ]));
}, 40_000);
