// `ftpkit user add` makes the home beside the users file (home/NAME); parallel adds each probe and
// remove what they made, so the shared `home/` comes and goes under the others' mkdir.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdir, rmdir } from "node:fs/promises";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeHome } from "../../cli/commands/user/add.ts";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ftpkit-home-race-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("a home is made while another add's probe keeps making and removing the shared home/ folder", async () => {
  let stop = false;
  // Another add's probe: home/other made, then removed with the home/ it made.
  const prober = (async () => {
    while (!stop) {
      const made = await mkdir(join(dir, "home", "other"), { recursive: true }).catch(() => undefined);
      await rmdir(join(dir, "home", "other")).catch(() => {});
      if (made) await rmdir(join(dir, "home")).catch(() => {});
    }
  })();
  const failures: string[] = [];
  for (let i = 0; i < 1500; i++) {
    const home = join(dir, "home", `u${i}`);
    try {
      await makeHome(home);
      await rmdir(home);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  stop = true;
  await prober;
  expect(failures).toEqual([]);
}, 60_000);
