// SITE QUOTA of a user without a limit on servers that share state (--workers, --state): the bytes in
// the home, as one server answers, not only what is being uploaded right now.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type FtpServer } from "../../server/index.ts";
import { MemoryStore, memoryClient } from "../../server/state/memory-store.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { du, finalCode, random } from "../helpers/quota.ts";

let servers: FtpServer[] = [];
let wires: Wire[] = [];
let root = "";

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
  if (root) rmSync(root, { recursive: true, force: true });
});

async function login(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  return w;
}

const used = async (w: Wire) => Number(/home: used (\d+) bytes/.exec((await w.cmd("SITE QUOTA")).lines.join("\n"))?.[1]);

test("two nodes sharing the --workers store: an unlimited user's SITE QUOTA says the bytes in the home, and follows that node's uploads and deletions", async () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-unlimited-"));
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota: 0 }]);
  const home = join(root, "home/alice");
  writeFileSync(join(home, "old.bin"), random(30_000));
  const store = new MemoryStore();
  for (let i = 0; i < 2; i++) {
    const s = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, failedLoginDelayMs: 50, state: "memory", stateClient: memoryClient(store) });
    await s.listen();
    servers.push(s);
  }
  const [a, b] = [await login(servers[0]!.address.port), await login(servers[1]!.address.port)];
  expect(await used(a)).toBe(30_000);
  expect(finalCode(await a.transfer("STOR new.bin", random(5_000)))).toBe(226);
  expect(await used(a)).toBe(35_000);
  expect((await a.cmd("DELE old.bin")).code).toBe(250);
  expect(await used(a)).toBe(5_000);
  // The other node measures when first asked: what is on disk by then.
  expect(await used(b)).toBe(du(home));
}, 20_000);
