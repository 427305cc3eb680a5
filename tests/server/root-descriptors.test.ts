// A home's root descriptor is held while its user has sessions (and a little after), not for as long
// as the server runs: many distinct users logging in one after another never exhaust the open-file limit.
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { makeUsersFile } from "../helpers/users.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { tempDir } from "../helpers/peers.ts";
import { Wire } from "../helpers/wire.ts";

const t = cleanedAfterEach();

const USERS = 160;

test(`${USERS} users logging in one at a time under a limit of 128 descriptors all log in`, async () => {
  t.dir = tempDir("ftpkit-root-fds-");
  await makeUsersFile(t.dir, Array.from({ length: USERS }, (_, i) => ({ name: `u${i}`, password: "pw" })));
  t.srv = await spawnServe(["--users", "users.ini"], { cwd: t.dir, fdLimit: 128 });
  const pid = t.srv.proc.pid;
  const refused: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const w = await Wire.connect(t.srv.port);
    t.wires.push(w);
    const login = await w.login(`u${i}`, "pw");
    // Before: from about the 90th user, "530 Login failed: home directory unavailable" (EMFILE), for good.
    if (login.code !== 230) refused.push(`u${i}: ${login.code} ${login.lines.join(" ")}`);
    await w.cmd("QUIT");
    w.close();
  }
  expect(refused).toEqual([]);
  expect(readdirSync(`/proc/${pid}/fd`).length).toBeLessThan(128);
}, 120_000);
