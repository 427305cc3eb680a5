// A file written in place (REST+STOR, APPE) has one writer at a time: a second one is refused with
// 450 before its 150, as vsftpd refuses before the data channel, and a STOR that never gets its data
// connection lets the file go at the latest at the data-connection timeout (ABOR and QUIT at once).
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { random, startUpload } from "../helpers/quota.ts";
import { waitFor } from "../helpers/peers.ts";
import { parseEpsvReply } from "../../protocol/address.ts";
import type { Wire } from "../helpers/wire.ts";

const servers = useServers();
const START = Buffer.from("0123456789");
const serve = (dataTimeoutMs?: number) =>
  servers.start({
    options: dataTimeoutMs ? { dataTimeoutMs } : undefined,
    setup: (root) => writeFileSync(join(root, "home/alice/t.bin"), START),
  });

/**
 * A second writer's REST+STOR (or APPE) with its data connection already made: the first reply must
 * be the refusal, and nothing follows it (the next reply is NOOP's).
 */
async function refusedBefore150(w: Wire, line: string, rest?: number) {
  if (rest !== undefined) expect((await w.cmd(`REST ${rest}`)).code).toBe(350);
  const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
  const first = await w.cmd(line);
  data.end();
  expect(first.code).toBe(450);
  expect(first.lines.join(" ")).toContain("being uploaded by another session");
  expect((await w.cmd("NOOP")).code).toBe(200);
}

const file = () => join(servers.server.home("alice"), "t.bin");
const size = () => readFileSync(file()).length;

describe("a file written in place by one session", () => {
  test("a second REST+STOR or APPE of it gets 450 before any 150, and the first upload completes intact", async () => {
    await serve();
    const a = await servers.login();
    const b = await servers.login();
    expect((await a.cmd("TYPE I")).code).toBe(200);
    expect((await b.cmd("TYPE I")).code).toBe(200);
    expect((await a.cmd("REST 4")).code).toBe(350);
    const up = await startUpload(a, "STOR t.bin");
    const part1 = random(300_000);
    const part2 = random(200_000);
    await up.send(part1);
    await waitFor(() => size() === 4 + part1.length, 5000, "A's first bytes on disk");
    // Before, B got 150, then 450 once its data connection was up.
    await refusedBefore150(b, "STOR t.bin", 1);
    await refusedBefore150(b, "APPE t.bin");
    await up.send(part2);
    expect(await up.finish()).toBe(226);
    expect(Buffer.compare(readFileSync(file()), Buffer.concat([START.subarray(0, 4), part1, part2]))).toBe(0);
    // A has ended: B may write it now.
    expect((await b.cmd("REST 1")).code).toBe(350);
    const again = await b.transfer("STOR t.bin", new Uint8Array([66]));
    expect([again.first.code, again.final?.code]).toEqual([150, 226]);
    expect(readFileSync(file()).toString()).toBe("0B");
  });

  test("a REST+STOR whose data connection never comes lets the file go at the data-connection timeout", async () => {
    await serve(1500);
    const a = await servers.login();
    const b = await servers.login();
    expect((await a.cmd("EPSV")).code).toBe(229);
    expect((await a.cmd("REST 2")).code).toBe(350);
    const started = Date.now();
    expect((await a.cmd("STOR t.bin")).code).toBe(150);
    // A holds the file while its data connection may still come.
    await refusedBefore150(b, "STOR t.bin", 1);
    // No connection: A's transfer ends at the timeout, and with it the lock.
    expect((await a.read(5000))?.code).toBe(425);
    expect(Date.now() - started).toBeLessThan(4000);
    expect((await b.cmd("REST 1")).code).toBe(350);
    const r = await b.transfer("STOR t.bin", new Uint8Array([66]));
    expect([r.first.code, r.final?.code]).toEqual([150, 226]);
    expect(readFileSync(file()).toString()).toBe("0B");
  });

  test("QUIT of a REST+STOR waiting for its data connection: the transfer ends at the timeout, the file is free, then 221", async () => {
    await serve(1500);
    const a = await servers.login();
    const b = await servers.login();
    expect((await a.cmd("EPSV")).code).toBe(229);
    expect((await a.cmd("REST 2")).code).toBe(350);
    expect((await a.cmd("STOR t.bin")).code).toBe(150);
    // QUIT lets a running transfer finish (RFC 959); one whose connection never comes ends at the timeout.
    a.raw("QUIT\r\n");
    await refusedBefore150(b, "STOR t.bin", 1);
    expect((await a.read(5000))?.code).toBe(425);
    expect((await a.read(5000))?.code).toBe(221);
    expect((await b.cmd("REST 1")).code).toBe(350);
    const r = await b.transfer("STOR t.bin", new Uint8Array([66]));
    expect([r.first.code, r.final?.code]).toEqual([150, 226]);
  });

  test("ABOR, or the client hanging up, of a REST+STOR still waiting for its data connection lets the file go at once", async () => {
    await serve(); // the default 30 s data timeout: the lock must not wait for it
    const b = await servers.login();
    for (const end of ["ABOR", "hang-up"]) {
      const a = await servers.login();
      expect((await a.cmd("EPSV")).code).toBe(229);
      expect((await a.cmd("REST 2")).code).toBe(350);
      expect((await a.cmd("APPE t.bin")).code).toBe(150);
      await refusedBefore150(b, "APPE t.bin");
      const startedAt = Date.now();
      if (end === "ABOR") {
        // 426 for the transfer, then 226: the transfer let its resources go before its own reply.
        a.raw("ABOR\r\n");
        expect((await a.read(3000))?.code).toBe(426);
        expect((await a.read(3000))?.code).toBe(226);
      } else {
        a.close();
      }
      let attempts = 0;
      for (;;) {
        attempts++;
        expect((await b.cmd("REST 1")).code).toBe(350);
        const r = await b.transfer("STOR t.bin", new Uint8Array([66]));
        if (r.first.code === 150 && r.final?.code === 226) break;
        expect(r.first.code).toBe(450);
        expect(Date.now() - startedAt).toBeLessThan(3000);
        await Bun.sleep(20);
      }
      // ABOR's 226 comes after the lock is gone; a hang-up is seen by the server a moment later.
      if (end === "ABOR") expect(attempts).toBe(1);
      expect(readFileSync(file()).toString()).toBe("0B");
      writeFileSync(file(), START);
    }
  });
});

describe("a new name a STOR is about to create", () => {
  const fresh = () => join(servers.server.home("alice"), "new.bin");

  test("a second STOR of it gets 450 before any 150 while the first waits for its data connection; the first lands whole", async () => {
    await serve();
    const a = await servers.login();
    const b = await servers.login();
    expect((await a.cmd("TYPE I")).code).toBe(200);
    expect((await b.cmd("TYPE I")).code).toBe(200);
    // A: STOR answered (150), its data connection not made yet: nothing exists, the name is A's.
    const port = parseEpsvReply((await a.cmd("EPSV")).lines[0]!);
    expect((await a.cmd("STOR new.bin")).code).toBe(150);
    expect(existsSync(fresh())).toBe(false);
    // Before, B got 150 too, then 550 once its data connection was up (A's exclusive create won).
    await refusedBefore150(b, "STOR new.bin");
    const body = random(200_000);
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    data.write(body);
    data.shutdown();
    data.end();
    expect((await a.read(5000))?.code).toBe(226);
    expect(Buffer.compare(readFileSync(fresh()), body)).toBe(0);
    // A's upload created the file: a STOR of the name now is an overwrite, as for any existing file.
    const again = await b.transfer("STOR new.bin", new Uint8Array([66]));
    expect([again.first.code, again.final?.code]).toEqual([150, 226]);
    expect(readFileSync(fresh()).toString()).toBe("B");
  });

  test("an APPE of the name (missing, so it would create it) meets the reservation too: 450 before any 150, either way round", async () => {
    await serve();
    const a = await servers.login();
    const b = await servers.login();
    // A's STOR waits for its data connection: B's APPE, which would create the name, is refused now.
    // (Before, it got 150 and created the file, and A's STOR then ended in 550 after its 150.)
    const port = parseEpsvReply((await a.cmd("EPSV")).lines[0]!);
    expect((await a.cmd("STOR new.bin")).code).toBe(150);
    await refusedBefore150(b, "APPE new.bin");
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    data.write("A");
    data.shutdown();
    data.end();
    expect((await a.read(5000))?.code).toBe(226);
    expect(readFileSync(fresh()).toString()).toBe("A");
    // The other way round: an APPE creating the name holds it until its data connection comes.
    rmSync(fresh());
    const port2 = parseEpsvReply((await a.cmd("EPSV")).lines[0]!);
    expect((await a.cmd("APPE new.bin")).code).toBe(150);
    await refusedBefore150(b, "STOR new.bin");
    const data2 = await Bun.connect({ hostname: "127.0.0.1", port: port2, socket: { data() {} } });
    data2.write("B");
    data2.shutdown();
    data2.end();
    expect((await a.read(5000))?.code).toBe(226);
    expect(readFileSync(fresh()).toString()).toBe("B");
  });

  test("the reservation ends with a STOR whose data connection never comes (timeout), and with ABOR: the name can be stored again", async () => {
    await serve(1000);
    const b = await servers.login();
    for (const end of ["timeout", "ABOR"]) {
      rmSync(fresh(), { force: true });
      const a = await servers.login();
      expect((await a.cmd("EPSV")).code).toBe(229);
      expect((await a.cmd("STOR new.bin")).code).toBe(150);
      await refusedBefore150(b, "STOR new.bin");
      if (end === "ABOR") {
        a.raw("ABOR\r\n");
        expect((await a.read(3000))?.code).toBe(426);
        expect((await a.read(3000))?.code).toBe(226);
      } else expect((await a.read(5000))?.code).toBe(425);
      expect(existsSync(fresh())).toBe(false);
      const r = await b.transfer("STOR new.bin", new Uint8Array([67]));
      expect([r.first.code, r.final?.code]).toEqual([150, 226]);
      expect(readFileSync(fresh()).toString()).toBe("C");
      a.close();
    }
  });
});

describe("a file locked for an upload whose data connection never comes", () => {
  test("deleted meanwhile: its bytes go back to the quota once the lock is let go", async () => {
    const s = await servers.start({
      users: [{ name: "alice", password: "alice-pw", home: "home/alice", quota: 1_000_000 }],
      options: { dataTimeoutMs: 1000 },
      setup: (root) => writeFileSync(join(root, "home/alice/t.bin"), Buffer.alloc(100_000, 1)),
    });
    const a = await servers.login();
    const b = await servers.login();
    const avbl = async () => Number((await b.cmd("AVBL")).lines[0]);
    const before = await avbl();
    expect((await a.cmd("EPSV")).code).toBe(229);
    expect((await a.cmd("REST 10")).code).toBe(350);
    expect((await a.cmd("STOR t.bin")).code).toBe(150);
    // DELE while A holds the file: the remover frees nothing for a file an upload holds (that upload
    // settles for it when it ends); this one never starts, so the lock's end must.
    expect((await b.cmd("DELE t.bin")).code).toBe(250);
    expect((await a.read(5000))?.code).toBe(425);
    expect(await avbl()).toBe(before + 100_000);
    void s;
  });
});

describe("a new name created by someone else after STOR planned it", () => {
  test("450, try again (not a lasting 550 File exists); the retry overwrites it", async () => {
    // The pre-upload hook runs between STOR's plan (the name is new) and its claim: it creates the
    // file, as another --workers process's upload of the same name does at that moment.
    const ts = await servers.start({ options: { ops: { hooks: [{ event: "pre-upload", command: `/bin/sh -c 'test -e "$FTPKIT_REAL_PATH" || printf theirs > "$FTPKIT_REAL_PATH"'` }] } } });
    const w = await servers.login();
    const first = await w.transfer("STOR fresh.bin", Buffer.from("mine"));
    expect(first.first.code).toBe(450);
    expect(first.first.lines.join(" ")).toContain("another session created the file meanwhile");
    expect(readFileSync(join(ts.home("alice"), "fresh.bin"), "utf8")).toBe("theirs");
    const again = await w.transfer("STOR fresh.bin", Buffer.from("mine"));
    expect([again.first.code, again.final?.code]).toEqual([150, 226]);
    expect(readFileSync(join(ts.home("alice"), "fresh.bin"), "utf8")).toBe("mine");
  });
});

