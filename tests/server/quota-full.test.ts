// A quota with no byte left refuses an upload before its 150 (ProFTPD's mod_quotatab: "552 STOR
// denied: quota exceeded"), so no client sends a file for a 552 after it.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { random } from "../helpers/quota.ts";

const servers = useServers();
const KB = 1000;

test("STOR, APPE, STOU and REST+STOR under a full quota get 552 as their first reply; an overwrite within the replaced file's bytes still stores", async () => {
  const s = await servers.start({
    users: [{ name: "alice", password: "alice-pw", home: "home/alice", quota: 10 * KB }],
    setup(root) {
      mkdirSync(join(root, "home/alice"), { recursive: true });
      writeFileSync(join(root, "home/alice/fill.bin"), random(10 * KB)); // the whole quota
    },
  });
  const w = await servers.login("alice", "alice-pw");
  for (const line of ["STOR new.bin", "APPE fill.bin", "APPE other.bin", "STOU"]) {
    const r = await w.transfer(line, random(KB));
    expect({ line, first: r.first }).toEqual({ line, first: { code: 552, lines: ["Quota exceeded"] } });
  }
  expect(existsSync(join(s.home("alice"), "new.bin"))).toBe(false);
  expect(existsSync(join(s.home("alice"), "other.bin"))).toBe(false);
  // REST to the end cuts nothing off: no room. An overwrite may rewrite the bytes it replaces.
  expect((await w.cmd("REST 10000")).code).toBe(350);
  expect((await w.transfer("STOR fill.bin", random(KB))).first.code).toBe(552);
  const over = await w.transfer("STOR fill.bin", random(5 * KB));
  expect([over.first.code, over.final?.code]).toEqual([150, 226]);
  // 5 KB free again: a new name that fits is stored.
  const fits = await w.transfer("STOR new.bin", random(KB));
  expect([fits.first.code, fits.final?.code]).toEqual([150, 226]);
});

test("a full drop box refuses the next upload before its 150", async () => {
  await servers.start({
    users: [{ name: "bob", password: "bob-pw", home: "home/bob", mounts: [{ vpath: "/in", dir: "home/box", perms: ["write"], quota: 2 * KB }] }],
    setup(root) {
      mkdirSync(join(root, "home/bob"), { recursive: true });
      mkdirSync(join(root, "home/box"), { recursive: true });
    },
  });
  const w = await servers.login("bob", "bob-pw");
  const first = await w.transfer("STOR in/a.bin", random(2 * KB));
  expect([first.first.code, first.final?.code]).toEqual([150, 226]);
  const next = await w.transfer("STOR in/b.bin", random(KB));
  expect(next.first).toEqual({ code: 552, lines: ["Quota exceeded"] });
});
