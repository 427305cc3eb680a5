// What a tree job does not wait for. A new `put -r` knows from its own disk how many files it copies:
// it logs in its other connections (no more than it has files) while it lists the destination, as
// lftp's mirror does, instead of after its plan; a new `get -r` does so once its source is listed
// (while it asks the files' times); a sync (which may copy nothing) and a dry run (which copies
// nothing) keep to one connection until they know they need more. More directories to list than
// files to copy still open more connections. The directories of one level are created at once: one
// MKD does not wait for its sibling's reply, only for its parent's; a drop under them is one
// reconnection, said once.
import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsFile, sendsListing, storesFile, useScriptedServerWork, type Script, type ScriptedControl, type ScriptedServer } from "./scripted-server.ts";

setDefaultTimeout(60_000);
const t = useScriptedServerWork();

const OLD = new Date("2026-01-01T12:00:00Z");
/** How long the destination's listing waits for the logins it expects before it answers anyway. */
const LOGIN_WAIT_MS = 10_000;

/** `count` local files f0…f(n-1) ("file N\n"), dated OLD, in src/ (or src/`dirs[i % dirs.length]`/). */
function sourceTree(count: number, dirs: string[] = [""]): string {
  const src = join(t.work, "src");
  for (const d of dirs) mkdirSync(join(src, d), { recursive: true });
  for (let i = 0; i < count; i++) {
    const p = join(src, dirs[i % dirs.length]!, `f${i}`);
    writeFileSync(p, `file ${i}\n`);
    utimesSync(p, OLD, OLD);
  }
  return src;
}

interface Destination {
  server: ScriptedServer;
  /** Logins the server had when it answered the listing of /up. */
  loginsAtListing(): number | null;
  /** Listings of /up's subdirectories (`remote` names ending in "/") begun. */
  subdirListings(): number;
  /** The first subdirectory's listing was answered only after its bound, the second not having begun. */
  subdirsApart(): boolean;
  stored: Map<string, Buffer>;
}

/**
 * A server whose /up holds `remote` (a name ending in "/" is an empty directory) and keep.txt (MLSD:
 * an empty listing would be checked in its parent), whose listing of /up waits (bounded) until
 * `awaitLogins` sessions have logged in, and which stores uploads in stream mode.
 */
function destination(remote: string[], awaitLogins = 1, more: Pick<Script, "arrived"> & { mkd?: (c: ScriptedControl, arg: string) => void | Promise<void> } = {}): Destination {
  const stored = new Map<string, Buffer>();
  let logins = 0;
  let atListing: number | null = null;
  const enough = Promise.withResolvers<void>();
  const secondSubdir = Promise.withResolvers<void>();
  const atSubdirs: number[] = [];
  let subdirsApart = false;
  const facts = (n: string) => (n.endsWith("/") ? `type=dir;modify=20260101120000; ${n.slice(0, -1)}` : `type=file;size=${`file ${n.slice(1)}\n`.length};modify=20260101120000; ${n}`);
  const listing = [...remote.map(facts), "type=file;size=1;modify=20260101120000; keep.txt"];
  const server = t.start({
    ...(more.arrived ? { arrived: more.arrived } : {}),
    feat: ["MLST type*;size*;modify*;", "MLSD", "REST STREAM", "SIZE"],
    on: {
      PASS: (c) => {
        c.reply(230, "Logged in");
        if (++logins >= awaitLogins) enough.resolve();
      },
      MODE: (c) => c.reply(504, "Bad MODE command"),
      MKD: more.mkd ?? ((c, arg) => c.reply(257, `"${arg}" created`)),
      MLSD: async (c, arg) => {
        if (arg !== "/up" && remote.includes(`${arg.slice("/up/".length)}/`)) {
          // A subdirectory (empty): one listing waits for the other, so both must be in flight at once.
          atSubdirs.push(logins);
          if (atSubdirs.length === 1) {
            const timer = setTimeout(() => ((subdirsApart = true), secondSubdir.resolve()), LOGIN_WAIT_MS);
            await secondSubdir.promise;
            clearTimeout(timer);
          } else secondSubdir.resolve();
          return sendsListing([])(c, arg);
        }
        if (arg !== "/up") return c.reply(550, "No such directory");
        const timer = setTimeout(() => enough.resolve(), LOGIN_WAIT_MS);
        await enough.promise;
        clearTimeout(timer);
        atListing = logins;
        const d = await c.data();
        c.reply(150, "Here comes the listing");
        await d.send(Buffer.from(listing.map((l) => `${l}\r\n`).join("")));
        d.end();
        c.reply(226, "Directory send OK");
      },
      SIZE: (c, arg) => (stored.has(arg) ? c.reply(213, String(stored.get(arg)!.length)) : c.reply(550, "Could not get file size")),
      STOR: storesFile(stored),
    },
  });
  return { server, stored, loginsAtListing: () => atListing, subdirListings: () => atSubdirs.length, subdirsApart: () => subdirsApart };
}

/** What a scripted source's first MDTM waits for, at most `ms`: that many logins, or connections. */
interface MdtmWait {
  until: "logins" | "connections";
  count: number;
  ms: number;
}

/**
 * A server whose /src holds f0…f(count-1), listed by LIST only (times to the minute), so that a
 * download asks each one's MDTM; the first MDTM waits as `wait` says.
 */
function source(count: number, wait: MdtmWait): { server: ScriptedServer; connections(): number; atMdtm(): number | null } {
  let logins = 0;
  let connections = 0;
  let atMdtm: number | null = null;
  const enough = Promise.withResolvers<void>();
  const seen = (n: number) => n >= wait.count && enough.resolve();
  const body = (name: string) => Buffer.from(`file ${name.slice(1)}\n`);
  const names = Array.from({ length: count }, (_, i) => `f${i}`);
  const server = t.start({
    feat: ["MDTM", "REST STREAM", "SIZE"],
    greet: (c) => {
      c.reply(220, "scripted");
      if (wait.until === "connections") seen(++connections);
      else connections++;
    },
    on: {
      PASS: (c) => {
        c.reply(230, "Logged in");
        if (wait.until === "logins") seen(++logins);
      },
      MODE: (c) => c.reply(504, "Bad MODE command"),
      CWD: (c) => c.reply(250, "Directory successfully changed"),
      LIST: sendsListing(names.map((n) => `-rw-r--r--    1 1000     1000            ${body(n).length} Jan 01 12:00 ${n}`)),
      MDTM: async (c) => {
        if (atMdtm === null) {
          const timer = setTimeout(() => enough.resolve(), wait.ms);
          await enough.promise;
          clearTimeout(timer);
          atMdtm = wait.until === "logins" ? logins : connections;
        }
        c.reply(213, "20260101120000");
      },
      RETR: (c, arg) => sendsFile(body(arg.slice(arg.lastIndexOf("/") + 1)))(c),
    },
  });
  return { server, connections: () => connections, atMdtm: () => atMdtm };
}

const logins = (s: ScriptedServer) => s.commands.filter((c) => c.startsWith("PASS")).length;
const url = (s: ScriptedServer) => `ftp://u:p@127.0.0.1:${s.port}/up`;

test("put -r of 5 files with --parallel 3: its other two connections have logged in before the destination's listing is answered", async () => {
  const src = sourceTree(5);
  const dest = destination([], 3);
  const r = await runFtpkit(["put", "-r", "--parallel", "3", src, url(dest.server)], { cwd: t.work });
  expect(r.stderr).not.toMatch(/error|warn|retry/i);
  expect(r.code).toBe(0);
  expect(dest.loginsAtListing()).toBe(3);
  expect(logins(dest.server)).toBe(3);
  for (let i = 0; i < 5; i++) expect(dest.stored.get(`/up/f${i}`)?.toString()).toBe(`file ${i}\n`);
});

test("put -r of 2 files with --parallel 8 logs in two connections, not eight", async () => {
  const src = sourceTree(2);
  const dest = destination([], 2);
  const r = await runFtpkit(["put", "-r", "--parallel", "8", src, url(dest.server)], { cwd: t.work });
  expect(r.code).toBe(0);
  expect(dest.loginsAtListing()).toBe(2);
  expect(logins(dest.server)).toBe(2);
  expect([...dest.stored.keys()].sort()).toEqual(["/up/f0", "/up/f1"]);
});

test("put -r of 1 file into a destination with two subdirectories lists them over two connections at once (--parallel 2)", async () => {
  const src = sourceTree(1);
  const dest = destination(["a/", "b/"]);
  const r = await runFtpkit(["put", "-r", "--parallel", "2", src, url(dest.server)], { cwd: t.work });
  expect(r.stderr).not.toMatch(/error|warn|retry/i);
  expect(r.code).toBe(0);
  expect(dest.subdirListings()).toBe(2);
  expect(dest.subdirsApart()).toBe(false);
  expect(dest.stored.get("/up/f0")?.toString()).toBe("file 0\n");
});

test("put -r --dry-run of 5 files logs in once: it copies nothing", async () => {
  const src = sourceTree(5);
  const dest = destination([]);
  const r = await runFtpkit(["put", "-r", "--dry-run", "--parallel", "4", src, url(dest.server)], { cwd: t.work });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("f4");
  expect(logins(dest.server)).toBe(1);
  expect(dest.stored.size).toBe(0);
});

test("a sync of 5 files the destination already has (same sizes and times) logs in once", async () => {
  const src = sourceTree(5);
  const dest = destination(["f0", "f1", "f2", "f3", "f4"]);
  const r = await runFtpkit(["sync", "--parallel", "4", src, url(dest.server)], { cwd: t.work });
  expect(r.stderr).not.toMatch(/error|warn/i);
  expect(r.code).toBe(0);
  expect(logins(dest.server)).toBe(1);
  expect(dest.stored.size).toBe(0);
});

test("put -r creates the directories of one level at once: /up/b's MKD arrives before /up/a's is answered, /up/a/x's after both are", async () => {
  const src = sourceTree(3, ["a", "b", "a/x"]);
  const bArrived = Promise.withResolvers<void>();
  const events: string[] = [];
  const dest = destination([], 1, {
    arrived(line) {
      if (!line.startsWith("MKD ")) return;
      events.push(line);
      if (line === "MKD /up/b") bArrived.resolve();
    },
    async mkd(c, arg) {
      if (arg === "/up/a") {
        const timer = setTimeout(() => bArrived.resolve(), LOGIN_WAIT_MS); // a client that waits gets its answer late
        await bArrived.promise;
        clearTimeout(timer);
      }
      events.push(`257 ${arg}`);
      c.reply(257, `"${arg}" created`);
    },
  });
  const r = await runFtpkit(["put", "-r", "--parallel", "2", src, url(dest.server)], { cwd: t.work });
  expect(r.stderr).not.toMatch(/error|warn|retry/i);
  expect(r.code).toBe(0);
  expect(events).toEqual(["MKD /up/a", "MKD /up/b", "257 /up/a", "257 /up/b", "MKD /up/a/x", "257 /up/a/x"]);
  expect(dest.stored.get("/up/a/x/f2")?.toString()).toBe("file 2\n");
});

test("get -r of 5 files with --parallel 3: its other two connections have logged in before the first MDTM (the files' times) is answered", async () => {
  const src = source(5, { until: "logins", count: 3, ms: LOGIN_WAIT_MS });
  const r = await runFtpkit(["get", "-r", "--parallel", "3", `ftp://u:p@127.0.0.1:${src.server.port}/src`, "out"], { cwd: t.work });
  expect(r.stderr).not.toMatch(/error|warn|retry/i);
  expect(r.code).toBe(0);
  expect(src.atMdtm()).toBe(3);
  expect(logins(src.server)).toBe(3);
  for (let i = 0; i < 5; i++) expect(readFileSync(join(t.work, "out", `f${i}`), "utf8")).toBe(`file ${i}\n`);
});

test("get -r --dry-run of 5 files opens one connection (a second one, had it come, would have been seen within a second)", async () => {
  const src = source(5, { until: "connections", count: 2, ms: 1000 });
  const r = await runFtpkit(["get", "-r", "--dry-run", "--parallel", "3", `ftp://u:p@127.0.0.1:${src.server.port}/src`, "out"], { cwd: t.work });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("f4");
  expect(src.atMdtm()).toBe(1);
  expect(src.connections()).toBe(1);
});

test("put -r: the connection dropped under a level's MKDs is reconnected once (one line), and every directory is made", async () => {
  const src = sourceTree(4, ["a", "b", "c", "d"]);
  const made = new Set<string>();
  let dropped = false;
  const dest = destination([], 1, {
    mkd(c, arg) {
      if (arg === "/up/b" && !dropped) {
        dropped = true;
        return c.drop();
      }
      made.add(arg);
      c.reply(257, `"${arg}" created`);
    },
  });
  const r = await runFtpkit(["put", "-r", "--parallel", "1", src, url(dest.server)], { cwd: t.work });
  expect(r.code).toBe(0);
  expect(r.stderr.split("\n").filter((l) => /reconnecting/.test(l))).toHaveLength(1);
  expect([...made].sort()).toEqual(["/up/a", "/up/b", "/up/c", "/up/d"]);
  for (let i = 0; i < 4; i++) expect(dest.stored.get(`/up/${"abcd"[i]}/f${i}`)?.toString()).toBe(`file ${i}\n`);
});
