// A reply whose lines (or bytes) keep coming is not a silent server, but it must end: --stall-timeout
// bounds the silence, ten times it the whole reply from its first byte. A server that trickled a
// line every few seconds for ever held the client for ever. A listing's data connection likewise.
import { describe, expect, test } from "bun:test";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsListing, type ScriptedControl, useScriptedServerWork } from "./scripted-server.ts";

const t = useScriptedServerWork();

/** Write `piece` every 200 ms until the client leaves (or `forMs` has passed, then `last`); resolves then. */
function trickle(c: ScriptedControl, piece: string, forMs = Infinity, last = ""): Promise<void> {
  const began = performance.now();
  return new Promise((done) => {
    const timer = setInterval(() => {
      if (c.closed) return clearInterval(timer), done();
      if (performance.now() - began < forMs) return c.write(piece);
      clearInterval(timer);
      c.write(last);
      done();
    }, 200);
  });
}

const listing = { LIST: sendsListing(["-rw-r--r-- 1 ftp ftp 3 Jan 01 12:00 a.txt"]) };

async function ls(port: number) {
  const began = performance.now();
  const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${port}/`, "--stall-timeout", "1", "--retries", "0"], { cwd: t.work, timeoutMs: 40_000 });
  return { ...r, tookMs: performance.now() - began };
}

describe("a reply trickled without end is given up at ten times --stall-timeout", () => {
  test("a 220- greeting with a line every 200 ms: exit 4 after ~10 s, one line naming the greeting", async () => {
    const server = t.start({ greet: (c) => (c.write("220-Welcome\r\n"), trickle(c, " still setting up\r\n")), on: listing });
    const r = await ls(server.port);
    expect(r.stderr.trim()).toBe(`[error] the server's greeting (127.0.0.1:${server.port}) did not end in 10 s (ten times --stall-timeout): its lines kept coming`);
    expect(r.code).toBe(4);
    expect(r.tookMs).toBeGreaterThan(9_000);
    expect(r.tookMs).toBeLessThan(25_000);
  }, 45_000);

  test("a reply to USER sent one byte every 200 ms, never ending its line: given up the same way", async () => {
    const server = t.start({ on: { ...listing, USER: (c) => (c.write("331 p"), trickle(c, "l")) } });
    const r = await ls(server.port);
    expect(r.stderr.trim()).toBe(`[error] the server's reply to USER (127.0.0.1:${server.port}) did not end in 10 s (ten times --stall-timeout): its lines kept coming`);
    expect(r.code).toBe(4);
    expect(r.tookMs).toBeLessThan(25_000);
  }, 45_000);
});

describe("a reply whose lines keep coming and that ends within the bound is waited for", () => {
  test("FEAT answered over 3 s, a line every 200 ms, under --stall-timeout 1: ls lists", async () => {
    const server = t.start({ on: { ...listing, FEAT: (c) => (c.write("211-Features:\r\n"), trickle(c, " SIZE\r\n", 3_000, "211 End\r\n")) } });
    const r = await ls(server.port);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("a.txt");
    expect(r.tookMs).toBeGreaterThan(3_000);
  }, 45_000);
});

describe("a listing trickled without end is given up at ten times --stall-timeout", () => {
  /** LIST: `lines` lines, one every 200 ms (then the end and a 226), or until the client leaves. */
  const trickledList = (lines: number) => ({
    async LIST(c: ScriptedControl) {
      const d = await c.data();
      c.reply(150, "Here comes the listing");
      for (let i = 0; i < lines; i++) {
        if (!(await d.send(Buffer.from(`-rw-r--r-- 1 ftp ftp 3 Jan 01 12:00 f${i}.txt\r\n`)))) return;
        await Bun.sleep(200);
      }
      d.end();
      c.reply(226, "Directory send OK");
    },
  });

  test("a line every 200 ms for ever: exit 4 after ~10 s, one line naming the bound and the flag", async () => {
    const server = t.start({ on: trickledList(Infinity) });
    const r = await ls(server.port);
    expect(r.stderr.trim()).toMatch(/^\[error\] the listing of \/ did not end in 10 s \(ten times --stall-timeout; \d+ bytes came\): a server that lists this slowly needs a larger --stall-timeout$/);
    expect(r.code).toBe(4);
    expect(r.tookMs).toBeLessThan(25_000);
  }, 45_000);

  test("15 lines, one every 200 ms (3 s) under --stall-timeout 1: listed whole", async () => {
    const server = t.start({ on: trickledList(15) });
    const r = await ls(server.port);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("f14.txt");
  }, 45_000);
});
