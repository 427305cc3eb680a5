// The low items of issue 9 (item 8): CR/LF in names, digests of odd names, control characters in
// the log, refused connections logged without flooding, and a big usage walk that yields.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../server/log.ts";
import { LocalStorage } from "../../server/storage/local.ts";
import { startTestServer, useServers } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

const servers = useServers();

/** A text logger whose output the test reads. */
function textLog() {
  let out = "";
  const logger = createLogger("text", false, { write: (s: string) => (out += s) });
  return { logger, text: () => (logger.flush?.(), out) };
}

describe("names with CR or LF", () => {
  test("MKD, STOR and RNTO of a name with a bare CR get 553; LIST never shows such a name", async () => {
    await servers.start({ setup: (root) => writeFileSync(join(root, "home/alice", "evil\r-rw-r--r-- 1 ftp ftp 9 Jan 1 2020 fake"), "x") });
    const w = await servers.login();
    w.raw("MKD a\rb\r\n");
    expect((await w.read())?.code).toBe(553);
    w.raw("RNFR hello.txt\r\n");
    expect((await w.read())?.code).toBe(350);
    w.raw("RNTO x\rfake\r\n");
    expect((await w.read())?.code).toBe(553);
    const stor = await w.transfer("STOR up\rload", Buffer.from("x"));
    expect(stor.first.code).toBe(553);
    const list = await w.transfer("LIST");
    expect(list.data.toString()).not.toContain("\r-rw");
    expect(list.data.toString()).not.toContain("fake");
    expect(list.data.toString()).toContain("hello.txt");
  });
});

describe("a byte order mark (U+FEFF)", () => {
  test("a session whose first line starts with one logs in; a name starting with one is stored, listed, read, renamed and deleted as itself", async () => {
    const srv = await servers.start();
    const w = await Wire.connect(srv.port);
    expect((await w.read())?.code).toBe(220);
    expect((await w.cmd("\ufeffUSER alice")).code).toBe(331);
    expect((await w.cmd("PASS alice-pw")).code).toBe(230);
    expect((await w.transfer("STOR \ufeffbom.txt", Buffer.from("bom"))).final?.code).toBe(226);
    expect(readdirSync(srv.home("alice"))).toContain("\ufeffbom.txt");
    expect((await w.transfer("NLST")).data.toString().split("\r\n")).toContain("\ufeffbom.txt");
    expect((await w.cmd("SIZE bom.txt")).code).toBe(550);
    expect((await w.transfer("RETR \ufeffbom.txt")).data.toString()).toBe("bom");
    expect((await w.cmd("RNFR \ufeffbom.txt")).code).toBe(350);
    expect((await w.cmd("RNTO \ufeffbom2.txt")).code).toBe(250);
    expect((await w.cmd("DELE \ufeffbom2.txt")).code).toBe(250);
    expect(readdirSync(srv.home("alice")).filter((n) => n.includes("bom"))).toEqual([]);
    // Not UTF-8 after the mark: the name is refused (553), the verb still known.
    w.raw(Buffer.concat([Buffer.from("\ufeffSTOR caf"), Buffer.from([0xe9]), Buffer.from("\r\n")]));
    expect((await w.read())?.code).toBe(553);
  });
});

describe("legacy digests of odd names", () => {
  test("XMD5, XCRC and XSHA256 with CR or U+2028 in the argument get a clear reply and log no error", async () => {
    const log = textLog();
    await servers.start({ options: { logger: log.logger } });
    const w = await servers.login();
    for (const verb of ["XMD5", "XCRC", "XSHA256"]) {
      w.raw(`${verb} a\rb\r\n`);
      expect((await w.read())?.code).toBe(553);
      expect((await w.cmd(`${verb} a\u2028b`)).code).toBe(550);
    }
    expect((await w.cmd("XMD5 hello.txt")).code).toBe(250);
    expect(log.text()).not.toContain("ERROR");
    expect(log.text()).not.toContain("TypeError");
  });
});

describe("the text log", () => {
  test("control characters and a bidi override a client sends before login are escaped, never written raw", async () => {
    const log = textLog();
    await servers.start({ options: { logger: log.logger } });
    const w = await servers.connect();
    await w.read();
    await w.cmd("USER \x1b[2J\x1b[Hroot\x9b\u2028x\u202eb");
    await w.cmd("PASS nope");
    const text = log.text();
    expect(text).toContain("login failed");
    expect(text).toContain("\\u001b[2J");
    expect(text).toContain("\\u202eb");
    expect(text).not.toMatch(/[\x1b\x9b\u2028\u202e]/);
    // Every event stays on one line.
    for (const line of text.trimEnd().split("\n")) expect(line).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  test("40 refused connections write a few WARN lines and one summary, not 40 lines", async () => {
    const log = textLog();
    const srv = await startTestServer({ options: { logger: log.logger, maxConnections: 1, maxPerIp: 1 } });
    try {
      const holder = await Wire.connect(srv.port);
      await holder.read();
      for (let i = 0; i < 40; i++) {
        const w = await Wire.connect(srv.port);
        expect((await w.read())?.code).toBe(421);
        w.close();
      }
      holder.close();
    } finally {
      await srv.stop();
    }
    const lines = log.text().split("\n");
    expect(lines.filter((l) => l.includes("WARN  connection refused ")).length).toBe(5);
    const summary = lines.filter((l) => l.includes("connections refused (summary)"));
    expect(summary.length).toBe(1);
    expect(summary[0]).toContain("count=35");
  });
});

describe("usage walk", () => {
  test("summing 30,000 files in one directory yields to the event loop between batches and counts every byte", async () => {
    const root = mkdtempSync(join(tmpdir(), "ftpkit-usage-"));
    try {
      // One directory: the walk cannot lean on a readdir per directory to yield.
      mkdirSync(join(root, "d"));
      for (let f = 0; f < 30_000; f++) writeFileSync(join(root, "d", `f${f}`), "abc");
      const storage = new LocalStorage(root);
      let turns = 0;
      let walking = true;
      let last = performance.now();
      let longest = 0;
      const tick = () => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        turns++;
        if (walking) setImmediate(tick);
      };
      setImmediate(tick);
      const started = performance.now();
      const total = await storage.usage();
      const took = performance.now() - started;
      longest = Math.max(longest, performance.now() - last);
      walking = false;
      expect(total).toBe(90_000);
      // Other sessions get the event loop between batches: no single stall is a large part of the
      // walk (a walk stat'ing every file in one go stalls for nearly all of it).
      expect(turns).toBeGreaterThanOrEqual(20);
      expect(longest).toBeLessThan(took / 3);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
