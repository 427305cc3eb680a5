// A users file rewritten in place (same inode: nano, `cat >`, a tool writing into it) under a running
// server: a login during the write keeps the users it had, never a half-written file's.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtemp, open, readFile, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authenticator, IN_PLACE_SETTLE_MS } from "../../server/auth/authenticator.ts";
import { makeUsersFile } from "../helpers/users.ts";

let dir = "";
let auth: Authenticator | null = null;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ftpkit-inplace-"));
});
afterEach(async () => {
  auth?.close();
  auth = null;
  await rm(dir, { recursive: true, force: true });
});

test("a login while the file is being written in place meets the previous users; the whole file applies once it is still", async () => {
  const file = await makeUsersFile(dir, [
    { name: "alice", password: "alice-pw" },
    { name: "bob", password: "bob-pw" },
  ]);
  // Through a symlink the server stats the file at every login (no inotify): the timing is the test's.
  const link = join(dir, "link.ini");
  await symlink(file, link);
  auth = new Authenticator({ usersFile: link, failDelayMs: 0, failPenaltyMs: 0, log: () => {} });
  await auth.start();
  const text = await readFile(file, "utf8");
  const cut = text.indexOf("[bob]");
  // The same file with carol appended, written in place in two pieces: the first ends before bob.
  const next = text + `\n[carol]\npassword = ${JSON.stringify(await Bun.password.hash("carol-pw", { algorithm: "argon2id", memoryCost: 19456, timeCost: 2 }))}\nhome = home/carol\n`;
  const fh = await open(file, "r+");
  try {
    await fh.truncate(0);
    await fh.write(next.slice(0, cut), 0);
    // Mid-write: bob is not in the file yet, and must still log in.
    expect(await auth.login("bob", "bob-pw", "127.0.0.1")).not.toBeNull();
    expect(await auth.login("alice", "alice-pw", "127.0.0.1")).not.toBeNull();
    await fh.write(next.slice(cut), Buffer.byteLength(next.slice(0, cut)));
  } finally {
    await fh.close();
  }
  // Still for the settle time: carol is there, bob too.
  const deadline = Date.now() + IN_PLACE_SETTLE_MS + 5000;
  while (!(await auth.login("carol", "carol-pw", "127.0.0.1")) && Date.now() < deadline) await Bun.sleep(50);
  expect(await auth.login("carol", "carol-pw", "127.0.0.1")).not.toBeNull();
  expect(await auth.login("bob", "bob-pw", "127.0.0.1")).not.toBeNull();
});

test("a file rewritten in place long before the next login is read at that login: the first login after an edit sees it", async () => {
  const file = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw" }]);
  auth = new Authenticator({ usersFile: file, failDelayMs: 0, failPenaltyMs: 0, log: () => {} });
  await auth.start();
  const carol = `\n[carol]\npassword = ${JSON.stringify(await Bun.password.hash("carol-pw", { algorithm: "argon2id", memoryCost: 19456, timeCost: 2 }))}\nhome = home/carol\n`;
  // One write in place (nano, `cat >> users.ini`), then the file stays still past the settle time.
  const fh = await open(file, "a");
  try {
    await fh.write(carol);
  } finally {
    await fh.close();
  }
  const still = (await stat(file)).ctimeMs;
  while (Date.now() - still < IN_PLACE_SETTLE_MS + 100) await Bun.sleep(50);
  // The first login after the edit: carol is there (it was a 530 until a second try 0.3 s later).
  expect(await auth.login("carol", "carol-pw", "127.0.0.1")).not.toBeNull();
});
