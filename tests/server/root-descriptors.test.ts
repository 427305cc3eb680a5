// A home's root descriptor is held while its user has sessions (and a little after), not for as long
// as the server runs: many distinct users logging in one after another never exhaust the open-file limit.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

/** Descriptors of process `pid` that point into `dir` (a removed directory's link ends in " (deleted)"). */
function heldInto(pid: number, dir: string): string[] {
  const held: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const to = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (to === dir || to.startsWith(`${dir}/`)) held.push(to);
    } catch {}
  }
  return held;
}

const WRITERS = 130;

test(`${WRITERS} users overwriting a file (the server makes their .ftpkit-tmp) one at a time under a limit of 128 descriptors all log in, and nothing stays held after the linger`, async () => {
  t.dir = tempDir("ftpkit-root-fds-tmp-");
  const users = Array.from({ length: WRITERS }, (_, i) => ({ name: `u${i}`, password: "pw" }));
  await makeUsersFile(t.dir, users);
  for (const u of users) writeFileSync(join(t.dir, "home", u.name, "f.txt"), "old\n");
  t.srv = await spawnServe(["--users", "users.ini"], { cwd: t.dir, fdLimit: 128 });
  const pid = t.srv.proc.pid;
  const failed: string[] = [];
  for (const u of users) {
    const w = await Wire.connect(t.srv.port);
    t.wires.push(w);
    const login = await w.login(u.name, "pw");
    // Before: each home whose .ftpkit-tmp the server made kept its root descriptor until the server
    // stopped; from about the 100th user on, 451 then "530 Login failed: home directory unavailable".
    if (login.code !== 230) failed.push(`${u.name}: ${login.code} ${login.lines.join(" ")}`);
    else {
      const stor = await w.transfer("STOR f.txt", new TextEncoder().encode(`${u.name}\n`));
      if (stor.final?.code !== 226) failed.push(`${u.name} STOR: ${stor.final?.code} ${stor.final?.lines.join(" ")}`);
    }
    await w.cmd("QUIT");
    w.close();
  }
  expect(failed).toEqual([]);
  expect(readFileSync(join(t.dir, "home/u7/f.txt"), "utf8")).toBe("u7\n");
  // A home removed by hand while no one uses it, and every other, is let go once the linger (30 s) ends:
  // an admin's umount then succeeds.
  rmSync(join(t.dir, "home/u3"), { recursive: true });
  const homes = join(t.dir, "home");
  const deadline = Date.now() + 50_000;
  while (heldInto(pid, homes).length > 0 && Date.now() < deadline) await Bun.sleep(250);
  expect(heldInto(pid, homes)).toEqual([]);
}, 120_000);
