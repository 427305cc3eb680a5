// A home or mount that is there but that the server's account may not use as the user's rights need
// (`sudo ftpkit user add`, the server running as a service account) is said at load, as a missing one is.
import { expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { FTPKIT, tempDir, waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, collect, serveEnv, spawnServe } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";

// Root passes every permission check: the server runs as nobody, as a service account would.
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const t = cleanedAfterEach();

test.skipIf(!isRoot)("a home or mount the server's account cannot write or enter, though the user's rights need it, is warned about at start; one it can use is not", async () => {
  t.dir = tempDir("ftpkit-home-access-");
  const own = (p: string, mode: number, uid: number) => {
    mkdirSync(p, { recursive: true });
    chownSync(p, uid, uid);
    chmodSync(p, mode);
  };
  own(t.dir, 0o755, NOBODY);
  const users = await makeUsersFile(t.dir, [
    { name: "bob", password: "pw", home: "home/bob" }, // made by root, 0755: the server may not write it
    { name: "reader", password: "pw", home: "home/reader", perms: ["read"] }, // the same, but only read is needed
    { name: "carol", password: "pw", home: "home/carol", mounts: [
      { vpath: "/sec", dir: join(t.dir, "sec"), perms: ["read"], quota: 0 }, // root's 0700: not even entered
      { vpath: "/pub", dir: join(t.dir, "pub"), perms: ["read"], quota: 0 },
    ] },
  ]);
  for (const p of ["home", "home/bob", "home/reader"]) own(join(t.dir, p), 0o755, 0);
  own(join(t.dir, "home/carol"), 0o755, NOBODY);
  own(join(t.dir, "sec"), 0o700, 0);
  own(join(t.dir, "pub"), 0o755, 0);
  chownSync(users, NOBODY, NOBODY);
  t.srv = await spawnServe(["--users", users], { cwd: t.dir, uid: NOBODY, timeoutMs: 30_000 });
  const log = () => t.srv!.stdout() + t.srv!.stderr();
  await waitFor(() => /carol's mount \/sec/.test(log()) && /bob's home/.test(log()), 10_000, "the warnings");
  const lines = log().split("\n").filter((l) => l.includes("WARN"));
  expect(lines).toHaveLength(2);
  expect(lines).toEqual(expect.arrayContaining([
    expect.stringContaining(`bob's home ${join(t.dir, "home/bob")} cannot be written by this server's account (uid ${NOBODY}), as bob's rights there (read,write,modify) need: those commands fail with 550`),
    expect.stringContaining(`carol's mount /sec: directory ${join(t.dir, "sec")} cannot be read by this server's account (uid ${NOBODY}), as carol's rights there (read) need`),
  ]));
}, 40_000);

const canNamespace = isRoot && Bun.spawnSync(["unshare", "-m", "true"]).exitCode === 0;

test.skipIf(!canNamespace)("a home on a read-only filesystem is said to be so, not sent to its owner or mode", async () => {
  t.dir = tempDir("ftpkit-home-ro-");
  const home = join(t.dir, "home/ro");
  const users = await makeUsersFile(t.dir, [{ name: "ro", password: "pw", home: "home/ro" }]);
  // A tmpfs mounted read-only over the home, in a mount namespace of the server's own.
  const script = `mount -t tmpfs -o ro tmpfs '${home}' && exec bun '${FTPKIT}' serve --users '${users}' --host 127.0.0.1 --port 0`;
  const proc = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script], { cwd: t.dir, env: serveEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  t.pid = proc.pid;
  const out = { text: "" };
  void collect(proc.stdout, out);
  void collect(proc.stderr, out);
  await waitFor(() => out.text.includes("ro's home"), 15_000, "the warning");
  const line = out.text.split("\n").find((l) => l.includes("ro's home"))!;
  expect(line).toContain(`ro's home ${home} is on a read-only file system, while ro's rights there (read,write,modify) need writing`);
  // Before: "cannot be written by this server's account …: those commands fail with 550 until its owner or mode allows it".
  expect(line).not.toContain("owner or mode");
}, 40_000);
