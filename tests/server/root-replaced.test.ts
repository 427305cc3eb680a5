// A served directory replaced under its path (a deploy swapping a symlink, or renaming a new tree into
// place) is what the next login sees, as with vsftpd, which chroots into the path at each login.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { put } from "../../cli/api.ts";
import { join } from "node:path";
import { tempDir } from "../helpers/peers.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { startTestServer } from "../helpers/server.ts";
import { run } from "../interop/run.ts";

const t = cleanedAfterEach();

test("serve --root SITE: after SITE is swapped to another release (symlink) or renamed over, new logins list, fetch and upload there", async () => {
  t.dir = tempDir("ftpkit-swap-");
  for (const [rel, name] of [["rel1", "one.txt"], ["rel2", "two.txt"], ["rel3", "three.txt"]] as const) {
    mkdirSync(join(t.dir, rel));
    writeFileSync(join(t.dir, rel, name), `${rel}\n`);
  }
  symlinkSync("rel1", join(t.dir, "site"));
  t.srv = await spawnServe(["--root", join(t.dir, "site"), "--user", "u:pw", "--write"], { cwd: t.dir, timeoutMs: 30_000 });
  const url = (p: string) => `ftp://u:pw@127.0.0.1:${t.srv!.port}${p}`;
  const names = async () => (await run(["curl", "-sS", "-l", url("/")])).stdout.split(/\r?\n/).filter(Boolean);
  expect(await names()).toEqual(["one.txt"]);

  // ln -sfn rel2 site, atomically: a new link renamed over the old one.
  symlinkSync("rel2", join(t.dir, "site.new"));
  renameSync(join(t.dir, "site.new"), join(t.dir, "site"));
  expect(await names()).toEqual(["two.txt"]);
  expect((await run(["curl", "-sS", url("/two.txt")])).stdout).toBe("rel2\n");
  const up = await run(["curl", "-sS", "-T", "-", url("/up.txt")], { stdin: "uploaded\n" });
  expect(up.code).toBe(0);
  expect(readFileSync(join(t.dir, "rel2", "up.txt"), "utf8")).toBe("uploaded\n");
  expect(existsSync(join(t.dir, "rel1", "up.txt"))).toBe(false);

  // mv rel3 over the directory the link names now: the same path, another directory.
  renameSync(join(t.dir, "rel2"), join(t.dir, "rel2.old"));
  renameSync(join(t.dir, "rel3"), join(t.dir, "rel2"));
  expect(await names()).toEqual(["three.txt"]);
}, 60_000);

test("a home replaced under its path at each of 8 uploads leaves no descriptor held on the replaced directories", async () => {
  const t = await startTestServer();
  try {
    const home = t.home("alice");
    const local = join(t.root, "up.txt");
    writeFileSync(local, "new\n");
    const heldOld = () => readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return /\/alice-old-\d+$/.test(readlinkSync(`/proc/self/fd/${fd}`));
      } catch {
        return false;
      }
    }).length;
    for (let i = 0; i < 8; i++) {
      // An overwrite goes through the home's .ftpkit-tmp, which this server then makes in the new home.
      writeFileSync(join(home, "a.txt"), "old\n");
      await put(local, `ftp://alice:alice-pw@127.0.0.1:${t.port}/a.txt`);
      expect(readFileSync(join(home, "a.txt"), "utf8")).toBe("new\n");
      renameSync(home, `${home}-old-${i}`);
      mkdirSync(home);
    }
    // The descriptors go with their jails once nothing reaches those (the collector decides when). Two
    // may stay: the first home's, reached by the user's lingering quota ledger (its measure), and the
    // last one's, the user's current mount table until the next login.
    for (let i = 0; i < 50 && heldOld() > 2; i++) {
      Bun.gc(true);
      await Bun.sleep(20);
    }
    expect(heldOld()).toBeLessThanOrEqual(2);
  } finally {
    await t.stop();
  }
}, 30_000);
