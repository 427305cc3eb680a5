// What listings hold while their clients do not read: a big directory's names are read once for
// every listing of it that runs at once, however those listings are timed.
import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { parseEpsvReply } from "../../protocol/address.ts";
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
    const epsv = await w.cmd("EPSV");
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => (opened = r));
    const data = await Bun.connect({ hostname: "127.0.0.1", port: parseEpsvReply(epsv.lines[0]!), socket: { open: () => opened(), data() {} } });
    await isOpen;
    data.pause(); // never read: the server's writes back up
    out.push({ w, data });
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
