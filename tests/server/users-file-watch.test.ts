// The users file is read when it changes, not at the next login: what a broken edit keeps is the last
// good file, and the broken edit is reported when it is made.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { appendFile, mkdtemp, rename, rm, writeFile, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authenticator } from "../../server/auth/authenticator.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { waitFor } from "../helpers/peers.ts";

let dir = "";
let auth: Authenticator | null = null;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ftpkit-watch-"));
});
afterEach(async () => {
  auth?.close();
  auth = null;
  await rm(dir, { recursive: true, force: true });
});

test("a user added by a replaced file, then a broken edit before any login: the user still logs in, and the edit is reported at once", async () => {
  const logs: string[] = [];
  const file = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw" }]);
  auth = new Authenticator({ usersFile: file, failDelayMs: 0, failPenaltyMs: 0, log: (m) => logs.push(m) });
  await auth.start();
  expect(auth.health().users).toBe(1);
  // What `ftpkit user add bob` does: the whole new file written aside, then renamed over the old one.
  const other = await mkdtemp(join(tmpdir(), "ftpkit-watch-next-"));
  try {
    const withBob = await readFile(await makeUsersFile(other, [{ name: "alice", password: "alice-pw" }, { name: "bob", password: "bob-pw" }]), "utf8");
    await writeFile(join(dir, ".users.ini.tmp"), withBob.replaceAll(other, dir));
  } finally {
    await rm(other, { recursive: true, force: true });
  }
  await rename(join(dir, ".users.ini.tmp"), file);
  await waitFor(() => auth!.health().users === 2, 5000, "the replaced file read without a login");
  // Then a typo by hand, still with no login: reported by itself once the file is still.
  await appendFile(file, "garbage\n");
  await waitFor(() => logs.some((l) => l.includes("keeping the previous users")), 5000, "the broken edit reported");
  expect(logs.filter((l) => l.includes("keeping the previous users"))).toHaveLength(1);
  expect(await auth.login("bob", "bob-pw", "127.0.0.1")).not.toBeNull();
  expect(auth.health().users).toBe(2);
}, 20_000);
