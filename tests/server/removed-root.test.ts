// A home or mount directory removed while the server runs (`rm -rf` of it, sessions in or not): its
// commands answer "550 Directory not available", as NLST there did, uploads before their 150, and
// each failure is one WARN saying why. Before, the missing root was "not-found", the client's fault:
// STOR got its 150 and then "451 No such file or directory" logged at INFO with no reason, RETR,
// SIZE, DELE and MKD "550 No such file or directory", CWD and MLST went on as if it were there.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger, LogFields } from "../../server/log.ts";
import { waitFor } from "../helpers/peers.ts";
import { random, startUpload } from "../helpers/quota.ts";
import { useServers } from "../helpers/server.ts";
import type { UserSpec } from "../helpers/users.ts";
import type { Wire } from "../helpers/wire.ts";

const servers = useServers();
const bytes = (s: string) => new TextEncoder().encode(s);
const GONE = "550 Directory not available";
const REASON = "ENOENT: the home or mount directory itself is missing";

interface Line {
  level: "info" | "warn" | "error";
  event: string;
  fields: LogFields;
}

function recorder(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: Line["level"]) => (event: string, fields: LogFields = {}) => void lines.push({ level, event, fields });
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

/** bob: a home with a.txt, and /pub (pub/a.txt, pub/sub/) read, write and modify. */
async function serveBob(extra: Partial<UserSpec> = {}) {
  const log = recorder();
  const s = await servers.start({
    setup: (root) => {
      mkdirSync(join(root, "bob-home/docs"), { recursive: true });
      writeFileSync(join(root, "bob-home/a.txt"), "home a");
      mkdirSync(join(root, "pub/sub"), { recursive: true });
      writeFileSync(join(root, "pub/a.txt"), "pub a");
    },
    users: [{ name: "bob", password: "pw", home: "bob-home", perms: ["read", "write", "modify"], mounts: [{ vpath: "/pub", dir: "pub", perms: ["read", "write", "modify"], quota: 0 }], ...extra }],
    options: { logger: log },
  });
  return { s, log };
}

/** The reply a command or transfer got first, as "code text". */
async function first(w: Wire, line: string): Promise<string> {
  const transfer = /^(STOR|APPE|RETR|LIST|MLSD|NLST)( |$)/.test(line);
  const r = transfer ? (await w.transfer(line, bytes("data"))).first : await w.cmd(line);
  return `${r.code} ${r.lines.join("|")}`;
}

const warnings = (log: { lines: Line[] }) => log.lines.filter((l) => l.level === "warn");

test("STOR into a mount whose directory was removed is 550 'Directory not available' before any 150, creates nothing, and logs one WARN with the reason", async () => {
  const { s, log } = await serveBob();
  const before = await servers.login("bob", "pw");
  // The mount's directory is opened (and held) before it goes.
  expect((await before.transfer("NLST /pub")).final?.code).toBe(226);
  rmSync(join(s.root, "pub"), { recursive: true });
  const after = await servers.login("bob", "pw");
  for (const w of [before, after]) {
    const r = await w.transfer("STOR /pub/t.txt", bytes("data"));
    expect(`${r.first.code} ${r.first.lines.join("|")}`).toBe(GONE);
    expect(r.final).toBeNull();
    // The session goes on.
    expect((await w.cmd("NOOP")).code).toBe(200);
  }
  expect(existsSync(join(s.root, "pub"))).toBe(false);
  expect(readdirSync(join(s.root, "bob-home")).sort()).toEqual(["a.txt", "docs"]);
  const stor = log.lines.filter((l) => l.fields.verb === "STOR");
  expect(stor.map((l) => [l.level, l.event, l.fields.path, l.fields.error])).toEqual([
    ["warn", "storage error", "/pub/t.txt", REASON],
    ["warn", "storage error", "/pub/t.txt", REASON],
  ]);
  // The real path is the admin's (the users file names it), never in a log field the client's words came from.
  expect(JSON.stringify(stor)).not.toContain(s.root);
}, 30_000);

test("every command in a removed mount answers as NLST does; the session's first failure there is one WARN; the home beside it works", async () => {
  const { s, log } = await serveBob();
  const w = await servers.login("bob", "pw");
  expect((await w.cmd("SIZE /pub/a.txt")).code).toBe(213);
  rmSync(join(s.root, "pub"), { recursive: true });
  const lines = ["RETR /pub/a.txt", "APPE /pub/a.txt", "STOR /pub/sub/t.txt", "LIST /pub", "MLSD /pub", "NLST /pub", "SIZE /pub/a.txt", "MDTM /pub/a.txt", "DELE /pub/a.txt", "MKD /pub/d", "RMD /pub/sub", "RNFR /pub/a.txt", "CWD /pub", "MLST /pub", "STAT /pub"];
  for (const line of lines) expect(`${line}: ${await first(w, line)}`).toBe(`${line}: ${GONE}`);
  expect((await w.cmd("PWD")).lines[0]).toBe('"/" is the current directory');
  // One line per root and session, from the first command that met it (before: one per command).
  expect(warnings(log).map((l) => `${l.fields.verb} ${l.fields.path} ${l.fields.error}`)).toEqual([`${lines[0]} ${REASON}`]);
  expect(log.lines.some((l) => l.event === "transfer")).toBe(false);
  // The home is another directory: untouched.
  expect((await w.transfer("RETR /a.txt")).data.toString()).toBe("home a");
  expect(existsSync(join(s.root, "pub"))).toBe(false);
}, 30_000);

test("the home removed while a session is in it: 550 'Directory not available' there, uploads before the 150; '/' still lists the mount, which still works", async () => {
  const { s, log } = await serveBob();
  const w = await servers.login("bob", "pw");
  expect((await w.cmd("CWD docs")).code).toBe(250);
  rmSync(join(s.root, "bob-home"), { recursive: true });
  for (const line of ["LIST", "STOR t.txt", "RETR /a.txt", "SIZE /a.txt", "MKD /d", "CWD /docs"]) expect(`${line}: ${await first(w, line)}`).toBe(`${line}: ${GONE}`);
  expect(warnings(log).map((l) => [l.fields.verb, l.fields.error])).toEqual([["LIST", REASON]]);
  // "/" holds the mount /pub: it stands as a directory listing it, so the mount stays reachable.
  expect((await w.cmd("CWD /")).code).toBe(250);
  expect((await w.transfer("NLST")).data.toString()).toBe("pub\r\n");
  expect((await w.transfer("RETR /pub/a.txt")).data.toString()).toBe("pub a");
  expect(existsSync(join(s.root, "bob-home"))).toBe(false);
}, 30_000);

test("a mount never there: RETR and SIZE of a file in it answer 'Directory not available' too, not 'No such file'", async () => {
  const log = recorder();
  await servers.start({ users: [{ name: "bob", password: "pw", home: "home/bob", mounts: [{ vpath: "/gone", dir: "missing", perms: ["read"], quota: 0 }] }], options: { logger: log } });
  const w = await servers.login("bob", "pw");
  for (const line of ["RETR /gone/a.txt", "SIZE /gone/a.txt", "NLST /gone"]) expect(`${line}: ${await first(w, line)}`).toBe(`${line}: ${GONE}`);
  expect(warnings(log).filter((l) => l.event === "storage error").map((l) => l.fields.verb)).toEqual(["RETR"]);
}, 30_000);

test("an overwrite under way when its mount is removed ends 451 after its 150, and the transfer line is a WARN naming the reason", async () => {
  const { s, log } = await serveBob();
  const w = await servers.login("bob", "pw");
  await w.cmd("TYPE I");
  const up = await startUpload(w, "STOR /pub/a.txt");
  await up.send(random(64 * 1024));
  // The overwrite writes a temp file beside the target until it commits.
  const temp = join(s.root, "pub/.ftpkit-tmp");
  await waitFor(() => existsSync(temp) && readdirSync(temp).length > 0, 10_000, "the upload's temp file");
  rmSync(join(s.root, "pub"), { recursive: true });
  expect(await up.finish()).toBe(451);
  await waitFor(() => log.lines.some((l) => l.event === "transfer"), 5000, "the transfer line");
  const line = log.lines.find((l) => l.event === "transfer")!;
  expect([line.level, line.fields.result, line.fields.error]).toEqual(["warn", "error", REASON]);
  expect(existsSync(join(s.root, "pub"))).toBe(false);
}, 30_000);

test("a client retrying in a loop against a removed root gets 550 every time and writes one WARN per root and session, not one per try", async () => {
  const { s, log } = await serveBob();
  const w = await servers.login("bob", "pw");
  rmSync(join(s.root, "pub"), { recursive: true });
  for (let i = 0; i < 200; i++) expect(await first(w, i % 2 ? "SIZE /pub/a.txt" : "CWD /pub")).toBe(GONE);
  const said = () => warnings(log).map((l) => `${l.fields.verb} ${l.fields.path}`);
  expect(said()).toEqual(["CWD /pub"]);
  // Another root gone in the same session is its own line; the one already said stays quiet.
  rmSync(join(s.root, "bob-home"), { recursive: true });
  expect(await first(w, "SIZE /a.txt")).toBe(GONE);
  expect(await first(w, "MKD /pub/d")).toBe(GONE);
  expect(said()).toEqual(["CWD /pub", "SIZE /a.txt"]);
  expect(warnings(log).every((l) => l.fields.error === REASON)).toBe(true);
}, 60_000);

test("a login after the home was removed is refused (530 home directory unavailable) while a session of the user is still in, as once none is", async () => {
  const { s } = await serveBob();
  const inside = await servers.login("bob", "pw");
  rmSync(join(s.root, "bob-home"), { recursive: true });
  // Before: 230 (the plan the session holds was reused), then 550 to every command.
  const w = await servers.login("bob", "pw", 530);
  expect(w).toBeDefined();
  // The session in goes on, answering for its removed home as before.
  expect(await first(inside, "SIZE a.txt")).toBe(GONE);
  mkdirSync(join(s.root, "bob-home"));
  await servers.login("bob", "pw");
});

/** anonymous's drop box /incoming (100 kB) is bob's directory "incoming"; bob may do anything in his home. */
async function serveBox() {
  const log = recorder();
  const s = await servers.start({
    setup: (root) => {
      mkdirSync(join(root, "anon"), { recursive: true });
      mkdirSync(join(root, "bob/incoming"), { recursive: true });
    },
    users: [
      { name: "anonymous", home: "anon", perms: ["read"], mounts: [{ vpath: "/incoming", dir: "bob/incoming", perms: ["write"], quota: 100_000 }] },
      { name: "bob", password: "pw", home: "bob", perms: ["read", "write", "modify"] },
    ],
    options: { logger: log },
  });
  const bob = await servers.login("bob", "pw");
  /** bob removes the (empty) box and stores a file at its path. */
  const swap = async () => {
    expect((await bob.cmd("RMD incoming")).code).toBe(250);
    expect((await bob.transfer("STOR incoming", bytes("bob's file now"))).final?.code).toBe(226);
  };
  /** bob makes it a directory again. */
  const restore = async () => {
    expect(readFileSync(join(s.root, "bob/incoming"), "utf8")).toBe("bob's file now");
    expect((await bob.cmd("DELE incoming")).code).toBe(250);
    expect((await bob.cmd("MKD incoming")).code).toBe(257);
  };
  return { s, log, bob, swap, restore };
}

const NOT_DIR = "ENOTDIR: the home or mount directory is not a directory";

test("a drop box whose path its directory's owner made a file before anyone used it: its uploaders get 550 'Directory not available' (not '451 Cannot measure', retried for ever), logged; uploads work once it is a directory again", async () => {
  const { s, log, swap, restore } = await serveBox();
  await swap();
  // The box's ledger was never measured: the upload's measure fails on the file.
  const w = await servers.login("anonymous", "guest@");
  for (const line of ["STOR /incoming/x.bin", "CWD /incoming", "STOR /incoming/y.bin"]) expect(`${line}: ${await first(w, line)}`).toBe(`${line}: ${GONE}`);
  expect(warnings(log).map((l) => [l.fields.verb, l.fields.error])).toEqual([["STOR", NOT_DIR]]);
  expect(JSON.stringify(log.lines)).not.toContain(s.root);
  await restore();
  expect((await w.transfer("STOR /incoming/z.bin", bytes("data"))).final?.code).toBe(226);
  expect(readdirSync(join(s.root, "bob/incoming"))).toContain("z.bin");
}, 30_000);

test("a drop box made a file under a session that used it, and under one logged in after: both get 550 'Directory not available', one WARN each", async () => {
  const { log, bob, swap } = await serveBox();
  const before = await servers.login("anonymous", "guest@");
  expect((await before.transfer("STOR /incoming/first.bin", bytes("data"))).final?.code).toBe(226);
  expect((await bob.cmd("DELE incoming/first.bin")).code).toBe(250);
  await swap();
  const after = await servers.login("anonymous", "guest@");
  for (const w of [before, after]) {
    for (const line of ["STOR /incoming/x.bin", "CWD /incoming"]) expect(`${line}: ${await first(w, line)}`).toBe(`${line}: ${GONE}`);
  }
  // The session from before still holds the removed directory; the new one finds the file.
  expect(warnings(log).map((l) => [l.fields.verb, l.fields.error])).toEqual([
    ["STOR", REASON],
    ["STOR", NOT_DIR],
  ]);
}, 30_000);
