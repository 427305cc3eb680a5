// What listings hold while their clients do not read: a big directory's names are read once for
// every listing of it that runs at once, however those listings are timed.
import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { useServers } from "../helpers/server.ts";
import type { Wire } from "../helpers/wire.ts";

const servers = useServers();
const MB = 1024 * 1024;

function heap(): number {
  Bun.gc(true);
  return heapStats().heapSize;
}

/** `n` logged-in sessions, each with a passive data connection open that is never read. */
async function stalledSessions(n: number): Promise<Array<{ w: Wire; data: Socket<undefined> }>> {
  const out: Array<{ w: Wire; data: Socket<undefined> }> = [];
  for (let i = 0; i < n; i++) {
    const w = await servers.login();
    out.push({ w, data: await servers.stalledData(w) });
  }
  return out;
}

describe("listings of one big directory started at once", () => {
  test("20 LISTs sent in the same instant, never read, hold one name list between them", async () => {
    const s = await servers.start();
    const dir = join(s.home("alice"), "huge");
    mkdirSync(dir);
    const pad = "n".repeat(200);
    for (let i = 0; i < 20_000; i++) closeSync(openSync(join(dir, `${pad}-${i}`), "w")); // ~4.5 MB of names
    const sessions = await stalledSessions(20);
    const before = heap();
    for (const { w } of sessions) w.raw("LIST huge\r\n");
    for (const { w } of sessions) expect((await w.read(20_000))?.code).toBe(150);
    const grown = heap() - before;
    for (const { data } of sessions) data.terminate();
    // Measured: ~97 MB when each listing read its own list, ~14 MB with one shared.
    expect(grown).toBeLessThan(30 * MB);
  }, 120_000);
});

describe("the name lists listings hold, against maxListedNameBytes", () => {
  /** A directory of 3,000 names of 100 characters: ~768 KB by the budget's estimate. */
  function bigDirectory(home: string): string {
    const dir = join(home, "huge");
    mkdirSync(dir);
    const pad = "n".repeat(95);
    for (let i = 0; i < 3000; i++) closeSync(openSync(join(dir, `${pad}-${String(i).padStart(4, "0")}`), "w"));
    return dir;
  }

  test("a listing of another version of a big directory beyond the budget gets 450; the same version shares; a small directory is listed; the budget comes back when a listing never connected is aborted", async () => {
    const s = await servers.start({ options: { maxListedNameBytes: 1024 * 1024 } });
    const dir = bigDirectory(s.home("alice"));
    const held = () => s.server.context.nameLists.heldBytes;
    const first = await servers.login();
    expect((await first.cmd("EPSV")).code).toBe(229); // never connected: the listing waits, holding its names
    expect((await first.cmd("LIST huge")).code).toBe(150);
    expect(held()).toBeGreaterThan(512 * 1024);
    const same = await servers.login();
    expect((await same.cmd("EPSV")).code).toBe(229);
    expect((await same.cmd("LIST huge")).code).toBe(150); // the same list: counted once
    closeSync(openSync(join(dir, "new"), "w")); // another version of the directory
    const other = await servers.login();
    const refused = await other.transfer("LIST huge");
    expect(refused.first.code).toBe(450);
    const small = await other.transfer("LIST");
    expect([small.first.code, small.final?.code]).toEqual([150, 226]);
    for (const w of [first, same]) {
      w.raw("ABOR\r\n");
      expect((await w.read())?.code).toBe(426);
      expect((await w.read())?.code).toBe(226);
    }
    expect(held()).toBe(0);
    const again = await other.transfer("LIST huge");
    expect([again.first.code, again.final?.code]).toEqual([150, 226]);
    expect(held()).toBe(0);
  }, 60_000);

  test("every kind of listing gives its names back: read whole, aborted before its data connection, over the control connection, or a wildcard that matches nothing", async () => {
    const s = await servers.start({ options: { maxListedNameBytes: 1024 * 1024 } });
    bigDirectory(s.home("alice"));
    const held = () => s.server.context.nameLists.heldBytes;
    const w = await servers.login();
    for (const line of ["LIST huge", "NLST huge", "MLSD huge", "NLST huge/*5*", "LIST -t huge"]) {
      const whole = await w.transfer(line);
      expect([line, whole.first.code, whole.final?.code]).toEqual([line, 150, 226]);
      expect([line, held()]).toEqual([line, 0]);
      expect((await w.cmd("EPSV")).code).toBe(229);
      expect((await w.cmd(line)).code).toBe(150);
      w.raw("ABOR\r\n");
      expect((await w.read())?.code).toBe(426);
      expect((await w.read())?.code).toBe(226);
      expect([line, "aborted", held()]).toEqual([line, "aborted", 0]);
    }
    const stat = await w.cmd("STAT huge", 10_000);
    expect(stat.code).toBe(213);
    expect(held()).toBe(0);
    expect((await w.cmd("STAT huge/*zz*")).code).toBe(550); // a wildcard that matches nothing
    expect(held()).toBe(0);
  }, 60_000);
});
