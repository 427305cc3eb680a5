// A write-only drop box tells an uploader nothing about what others put there: no usage in AVBL,
// ALLO or SITE QUOTA, no mtime that moves with each upload in the parent's listing; a full box is
// still told by its 552.
import { describe, expect, test } from "bun:test";
import { mkdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import type { UserSpec } from "../helpers/users.ts";
import type { Wire } from "../helpers/wire.ts";
import { finalCode, random } from "../helpers/quota.ts";

const servers = useServers();
const KB = 1000;

const users: UserSpec[] = [
  { name: "anonymous", home: "home/anon", perms: ["read"], mounts: [{ vpath: "/incoming", dir: "home/incoming", perms: ["write"], quota: 100 * KB }] },
  { name: "bob", password: "bob-pw", home: "home/bob", mounts: [{ vpath: "/in", dir: "home/incoming", perms: ["read", "write", "modify"], quota: 100 * KB }] },
];

async function start() {
  return servers.start({
    users,
    setup(root) {
      mkdirSync(join(root, "home/anon"), { recursive: true });
      mkdirSync(join(root, "home/bob"), { recursive: true });
      mkdirSync(join(root, "home/incoming"), { recursive: true });
      // An old mtime, so an upload's change of it shows even within one second.
      utimesSync(join(root, "home/incoming"), new Date("2001-02-03T04:05:06Z"), new Date("2001-02-03T04:05:06Z"));
    },
  });
}

/** The `modify` fact of `name` in MLSD of `dir`. */
async function modifyFact(w: Wire, dir: string, name: string): Promise<string> {
  const r = await w.transfer(`MLSD ${dir}`);
  const line = r.data.toString().split("\r\n").find((l) => l.endsWith(` ${name}`));
  expect(line).toBeDefined();
  return /modify=(\d+)/.exec(line!)![1]!;
}

describe("an anonymous write-only drop box", () => {
  test("AVBL, ALLO, SITE QUOTA and the parent's listing say nothing of another uploader's bytes or time; the uploader that fills it still gets 552", async () => {
    await start();
    const watcher = await servers.login("anonymous", "guest@");
    const before = await modifyFact(watcher, "/", "incoming");
    const other = await servers.login("anonymous", "guest@");
    expect(finalCode(await other.transfer("STOR /incoming/secret.bin", random(70 * KB)))).toBe(226);

    expect(await modifyFact(watcher, "/", "incoming")).toBe(before);
    expect((await watcher.cmd("AVBL /incoming")).code).toBe(550);
    // Whether a name is there is not told either (SIZE, MDTM and MLST say Permission denied alike).
    const notShown = { code: 550, lines: ["Available space is not shown here; an upload that does not fit gets 552"] };
    expect(await watcher.cmd("AVBL /incoming/secret.bin")).toEqual(notShown);
    expect(await watcher.cmd("AVBL /incoming/not-there.bin")).toEqual(notShown);
    const quota = (await watcher.cmd("SITE QUOTA")).lines.join("\n");
    expect(quota).toContain("/incoming: limit 100000 bytes");
    expect(quota).not.toContain("70000");
    expect(quota).not.toContain("30000");
    expect((await watcher.cmd("CWD /incoming")).code).toBe(250);
    expect((await watcher.cmd("AVBL")).code).toBe(550);
    // Only the limit itself is checked: 50 KB would fit an empty box.
    expect((await watcher.cmd("ALLO 50000")).code).toBe(202);
    expect((await watcher.cmd("ALLO 100001")).code).toBe(552);
    // Full is still said where it matters: the upload that does not fit.
    expect(finalCode(await watcher.transfer("STOR mine.bin", random(50 * KB)))).toBe(552);
  });

  test("a box without a limit of its own, charged to anonymous's quota: SITE QUOTA and AVBL in the home show no usage either", async () => {
    await servers.start({
      users: [{ name: "anonymous", home: "home/anon", perms: ["read"], quota: 100 * KB, mounts: [{ vpath: "/incoming", dir: "home/incoming", perms: ["write"], quota: 0 }] }],
      setup(root) {
        mkdirSync(join(root, "home/anon"), { recursive: true });
        mkdirSync(join(root, "home/incoming"), { recursive: true });
      },
    });
    const other = await servers.login("anonymous", "guest@");
    expect(finalCode(await other.transfer("STOR /incoming/secret.bin", random(70 * KB)))).toBe(226);
    const watcher = await servers.login("anonymous", "guest@");
    expect((await watcher.cmd("AVBL /")).code).toBe(550);
    const quota = (await watcher.cmd("SITE QUOTA")).lines.join("\n");
    expect(quota).toContain("home: limit 100000 bytes");
    expect(quota).not.toContain("used");
  });

  test("an account that may read the same directory still sees its usage and mtime", async () => {
    await start();
    const bob = await servers.login("bob", "bob-pw");
    const before = await modifyFact(bob, "/", "in");
    expect(finalCode(await bob.transfer("STOR /in/a.bin", random(70 * KB)))).toBe(226);
    expect(await modifyFact(bob, "/", "in")).not.toBe(before);
    expect((await bob.cmd("AVBL /in")).lines[0]).toBe(String(30 * KB));
    expect((await bob.cmd("SITE QUOTA")).lines.join("\n")).toContain("/in: used 70000 of 100000 bytes");
  });
});
