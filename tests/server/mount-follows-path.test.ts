// A mount follows its path in sessions already logged in: a deploy's symlink swap (`ln -sfn rel/v2
// site.tmp && mv -T site.tmp site`) or a directory removed and made again (a remount) is what the
// next command uses, while a transfer under way ends where it began. The home keeps the directory
// the session logged into (vsftpd's chroot).
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { tempDir } from "../helpers/peers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

let t: TestServer | null = null;
/** The mounted places, apart from the server's temp root (the users file wants absolute paths). */
let places = "";
const wires: Wire[] = [];
afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await t?.stop();
  t = null;
  if (places) rmSync(places, { recursive: true, force: true });
  places = "";
});

const bytes = (s: string) => new TextEncoder().encode(s);

async function bob(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.login("bob", "pw")).code).toBe(230);
  return w;
}

/** Swap `link` to `target` atomically, as `ln -sfn target link.tmp && mv -T link.tmp link`. */
function swapLink(link: string, target: string): void {
  symlinkSync(target, `${link}.tmp`);
  renameSync(`${link}.tmp`, link);
}

test("a session logged in before a symlink swap of its mount stores and lists in the new release; a transfer under way ends in the old one", async () => {
  places = tempDir("ftpkit-follow-");
  const v1 = join(places, "rel/v1");
  const v2 = join(places, "rel/v2");
  mkdirSync(v1, { recursive: true });
  mkdirSync(v2, { recursive: true });
  writeFileSync(join(v1, "version.txt"), "v1\n");
  writeFileSync(join(v2, "version.txt"), "v2\n");
  symlinkSync("rel/v1", join(places, "site"));
  t = await startTestServer({ users: [{ name: "bob", password: "pw", mounts: [{ vpath: "/site", dir: join(places, "site"), perms: ["read", "write", "modify"], quota: 0 }] }] });
  const mover = await bob(t.port);
  const other = await bob(t.port);
  expect((await other.transfer("RETR /site/version.txt")).data.toString()).toBe("v1\n");

  // An upload under way in the old release: its 150, and its first bytes there.
  const epsv = await mover.cmd("EPSV");
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));
  const data = await Bun.connect({ hostname: "127.0.0.1", port: parseEpsvReply(epsv.lines[0]!), socket: { data() {}, close: () => closed(), error: () => closed() } });
  expect((await mover.cmd("STOR /site/big.bin")).code).toBe(150);
  data.write(bytes("first half;"));
  const deadline = Date.now() + 10_000;
  while (!readdirSync(v1).includes("big.bin") && Date.now() < deadline) await Bun.sleep(10);
  expect(readdirSync(v1)).toContain("big.bin");

  swapLink(join(places, "site"), "rel/v2");
  // The other session, logged in before the swap, reads, lists and stores in v2 now.
  expect((await other.transfer("RETR /site/version.txt")).data.toString()).toBe("v2\n");
  expect((await other.transfer("STOR /site/upload.txt", bytes("up\n"))).final?.code).toBe(226);
  expect(readFileSync(join(v2, "upload.txt"), "utf8")).toBe("up\n");
  expect(existsSync(join(v1, "upload.txt"))).toBe(false);
  expect((await other.transfer("NLST /site")).data.toString().split(/\r?\n/).filter(Boolean).sort()).toEqual(["/site/upload.txt", "/site/version.txt"]);

  // The running upload is not moved: it ends whole where it began.
  data.write(bytes("second half"));
  data.shutdown();
  data.end();
  await done;
  expect((await mover.read())?.code).toBe(226);
  expect(readFileSync(join(v1, "big.bin"), "utf8")).toBe("first half;second half");
  expect(existsSync(join(v2, "big.bin"))).toBe(false);
  // Its next one goes to v2.
  expect((await mover.transfer("STOR /site/next.txt", bytes("next\n"))).final?.code).toBe(226);
  expect(readFileSync(join(v2, "next.txt"), "utf8")).toBe("next\n");
}, 30_000);

test("a mount removed and made again (a remount) serves the new directory to a session already logged in; its home stays the one it logged into", async () => {
  places = tempDir("ftpkit-follow-");
  const pub = join(places, "pub");
  mkdirSync(pub);
  writeFileSync(join(pub, "old.txt"), "old\n");
  t = await startTestServer({ users: [{ name: "bob", password: "pw", mounts: [{ vpath: "/pub", dir: pub, perms: ["read", "write", "modify"], quota: 0 }] }] });
  const w = await bob(t.port);
  expect((await w.transfer("NLST /pub")).data.toString().trim()).toBe("/pub/old.txt");
  rmSync(pub, { recursive: true });
  mkdirSync(pub);
  writeFileSync(join(pub, "new.txt"), "new\n");
  // Before: "550 Directory not available" until the client reconnected.
  expect((await w.transfer("NLST /pub")).data.toString().trim()).toBe("/pub/new.txt");
  expect((await w.transfer("STOR /pub/up.txt", bytes("up\n"))).final?.code).toBe(226);
  expect(readFileSync(join(pub, "up.txt"), "utf8")).toBe("up\n");

  // The home is not followed: renamed away and replaced, the session keeps the one it logged into.
  const home = t.home("bob");
  writeFileSync(join(home, "mine.txt"), "mine\n");
  renameSync(home, `${home}.old`);
  mkdirSync(home);
  expect((await w.transfer("RETR /mine.txt")).data.toString()).toBe("mine\n");
}, 30_000);
