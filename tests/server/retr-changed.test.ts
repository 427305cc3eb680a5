// RETR of a file another session changes meanwhile: one cut shorter than it was when the RETR opened
// it ends "451 File changed during transfer" (the copy is neither the old file nor the new one), not
// 226 as vsftpd and ProFTPD end it; one that grows, or is replaced whole, still ends 226.
import { describe, expect, test } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { useServers } from "../helpers/server.ts";
import { finalCode } from "../helpers/quota.ts";
import type { Wire } from "../helpers/wire.ts";

const servers = useServers();
// Far more than loopback's socket buffers hold: the reader, paused, keeps the server mid-file.
const SIZE = 40_000_000;

/** A RETR whose client reads its first bytes, then pauses; `rest()` reads the rest and the final reply. */
async function pausedRetr(w: Wire, name: string) {
  const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  const chunks: Buffer[] = [];
  let first!: () => void;
  const gotFirst = new Promise<void>((r) => (first = r));
  let holding = true;
  let closed!: () => void;
  const gone = new Promise<void>((r) => (closed = r));
  const data = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(s, c) {
        chunks.push(Buffer.from(c));
        if (holding) s.pause();
        first();
      },
      close: () => closed(),
      error: () => closed(),
    },
  });
  expect((await w.cmd(`RETR ${name}`)).code).toBe(150);
  await gotFirst;
  return {
    async rest() {
      holding = false;
      data.resume();
      await gone;
      const final = (await w.read(10_000))!;
      return { final, bytes: Buffer.concat(chunks) };
    },
  };
}

describe("RETR of a file changed by another session meanwhile", () => {
  test("cut short by a REST+STOR while read: 451 with what was sent, not 226", async () => {
    const ts = await servers.start();
    writeFileSync(join(ts.home("alice"), "big.bin"), Buffer.alloc(SIZE, 65));
    const reader = await servers.login();
    await reader.cmd("TYPE I");
    const writer = await servers.login();
    await writer.cmd("TYPE I");
    const retr = await pausedRetr(reader, "big.bin");
    expect((await writer.cmd("REST 1000")).code).toBe(350);
    expect(finalCode(await writer.transfer("STOR big.bin", Buffer.alloc(10, 66)))).toBe(226);
    const { final, bytes } = await retr.rest();
    expect(bytes.length).toBeLessThan(SIZE);
    expect(final.code).toBe(451);
    expect(final.lines.join(" ")).toContain(`${bytes.length} of ${SIZE} bytes sent`);
  }, 60_000);

  test("grown by an APPE-like write while read: 226 with the size it had when opened", async () => {
    const ts = await servers.start();
    const path = join(ts.home("alice"), "big.bin");
    writeFileSync(path, Buffer.alloc(SIZE, 65));
    const reader = await servers.login();
    await reader.cmd("TYPE I");
    const retr = await pausedRetr(reader, "big.bin");
    appendFileSync(path, Buffer.alloc(1000, 67));
    const { final, bytes } = await retr.rest();
    expect(final.code).toBe(226);
    expect(bytes.length).toBe(SIZE);
  }, 60_000);
});
