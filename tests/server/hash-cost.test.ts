// A password hash whose cost is above what the server checks (verify.ts: argon2 m ≤ 256 MiB and
// m × t ≤ 1 GiB, bcrypt cost ≤ 14) is said at load and never verified: each login attempt, a
// guesser's too, would take that memory or time.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authenticator } from "../../server/auth/authenticator.ts";
import { hashCostProblem, isCheckableHash } from "../../server/auth/verify.ts";
import { makeUsersFile } from "../helpers/users.ts";

let dir = "";
let auth: Authenticator | null = null;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ftpkit-hashcost-"));
});
afterEach(async () => {
  auth?.close();
  auth = null;
  await rm(dir, { recursive: true, force: true });
});

test("hashes above the caps are named at load and not checked (their user cannot log in); those within log in", async () => {
  const file = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw" }]);
  const good = await readFile(file, "utf8");
  // Real hashes, so a check would match: one just past the work cap (4 MiB × 257 passes, small memory), and within the caps.
  const heavy = await Bun.password.hash("heavy-pw", { algorithm: "argon2id", memoryCost: 4096, timeCost: 257 });
  const edge = await Bun.password.hash("edge-pw", { algorithm: "argon2id", memoryCost: 4096, timeCost: 256 });
  const bcrypt = await Bun.password.hash("carol-pw", { algorithm: "bcrypt", cost: 4 });
  // Edited by hand (these match nothing, and are never run here): 4 GiB of memory, bcrypt cost 31.
  const huge = heavy.replace("m=4096,t=257", "m=4194304,t=1");
  const slow = bcrypt.replace(/^\$2b\$04\$/, "$2b$31$");
  const users = { heavy, edge, carol: bcrypt, huge, slow };
  for (const name of Object.keys(users)) await mkdir(join(dir, "home", name));
  await writeFile(file, good + Object.entries(users).map(([name, hash]) => `\n[${name}]\npassword = "${hash}"\n`).join(""));
  const logs: string[] = [];
  auth = new Authenticator({ usersFile: file, failDelayMs: 0, failPenaltyMs: 0, log: (m) => logs.push(m) });
  await auth.start();
  const said = (name: string, why: string) =>
    `users file ${file}: ${name}'s password hash asks too much of each login (${why}): it is not checked, so ${name} cannot log in until \`ftpkit user passwd ${name}\``;
  expect(logs).toEqual([
    said("heavy", "argon2 m=4096 KiB × t=257 is above the 1048576 KiB (1 GiB) of work this server checks"),
    said("huge", "argon2 m=4194304 KiB is above the 262144 KiB (256 MiB) this server checks"),
    said("slow", "bcrypt cost 31 is above the 14 this server checks"),
  ]);
  expect(await auth.login("heavy", "heavy-pw", "127.0.0.1")).toBeNull();
  expect(await auth.login("edge", "edge-pw", "127.0.0.1")).not.toBeNull();
  expect(await auth.login("carol", "carol-pw", "127.0.0.1")).not.toBeNull();
  expect(await auth.login("alice", "alice-pw", "127.0.0.1")).not.toBeNull();
  // What `ftpkit user list` shows as unusable, and what our own `user add` makes, within the caps.
  expect([heavy, huge, slow].map(isCheckableHash)).toEqual([false, false, false]);
  const ours = (await readFile(file, "utf8")).match(/\$argon2id\$v=19\$m=19456,t=2,p=1\$[^"]+/)![0];
  expect(hashCostProblem(ours)).toBeNull();
}, 20_000);
