// Which uploads book into a directory's shared ledger ("dir:…"): only those into a directory some
// account's mount limits (a drop box), so a users file without one costs the store nothing more
// than the users' own quotas. Seen as the commands a shared store (--workers' memory store) receives.
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type FtpServer } from "../../server/index.ts";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { finalCode, random } from "../helpers/quota.ts";

const KB = 1000;
let server: FtpServer | null = null;
const wires: Wire[] = [];
let root = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await server?.close(0);
  server = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

/** Wait (at most 5 s) until `check` holds, looking again after each command the store receives. */
function storeSaw(seen: string[], check: () => boolean): Promise<void> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error("timed out waiting for the store")), 5000);
    const look = () => {
      if (check()) {
        clearTimeout(timer);
        done();
      } else setTimeout(look, 10);
    };
    look();
  });
}

test("uploads through a home and an unlimited mount book no directory ledger unless some account limits that directory", async () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-dirbook-"));
  const dir = (name: string) => join(root, "home", name);
  for (const d of ["pub", "box"]) mkdirSync(dir(d), { recursive: true });
  const usersFile = await makeUsersFile(root, [
    { name: "alice", password: "alice-pw", quota: 1000 * KB, mounts: [{ vpath: "/pub", dir: dir("pub"), perms: ["read", "write"], quota: 0 }] },
    { name: "carol", password: "carol-pw", mounts: [{ vpath: "/box", dir: dir("box"), perms: ["write"], quota: 100 * KB }] },
    { name: "bob", password: "bob-pw", mounts: [{ vpath: "/rw", dir: dir("box"), perms: ["read", "write"], quota: 0 }] },
  ]);
  const store = new MemoryStore();
  const seen: string[] = [];
  const client = memoryClient(store);
  const recording = () => {
    const c = client();
    const send = c.send.bind(c);
    c.send = (command: string, args: string[]) => {
      seen.push(args.join(" "));
      return send(command, args);
    };
    return c;
  };
  server = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, state: "memory", stateClient: recording, stateTtlMs: 3000 });
  await server.listen();
  const port = server.address.port;
  const login = async (user: string) => {
    const w = await Wire.connect(port);
    wires.push(w);
    expect((await w.login(user, `${user}-pw`)).code).toBe(230);
    return w;
  };
  const alice = await login("alice");
  expect(finalCode(await alice.transfer("STOR /a.bin", random(10 * KB)))).toBe(226);
  expect(finalCode(await alice.transfer("STOR /pub/b.bin", random(10 * KB)))).toBe(226);
  const bob = await login("bob");
  expect(finalCode(await bob.transfer("STOR /rw/c.bin", random(10 * KB)))).toBe(226);
  expect(finalCode(await bob.transfer("STOR /d.bin", random(10 * KB)))).toBe(226);
  // Bob's upload into carol's box reaches the box's ledger: its settlement comes after alice's.
  await storeSaw(seen, () => seen.some((s) => s.includes(`quota:dir:${dir("box")}:`)));
  expect(seen.some((s) => s.includes("quota:user:alice:"))).toBe(true);
  for (const d of [dir("alice"), dir("pub"), dir("bob")]) expect(seen.filter((s) => s.includes(`quota:dir:${d}:`))).toEqual([]);
}, 15_000);
