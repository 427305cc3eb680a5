// A disk that fills up during an overwrite (ENOSPC from a real 2 MiB tmpfs): the client gets 552 (after the 150),
// the old file and the quota ledger stay as they were, and the temp file is gone (issue 8, finding 6;
// a new name filling the disk is in hostile-transfers.test.ts). Mounting needs root, as in CI.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";
import { finalCode, random } from "../helpers/quota.ts";

const isRoot = process.getuid?.() === 0;
let ts: TestServer | null = null;
let mounted = "";
const wires: Wire[] = [];

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await ts?.server.close(0);
  // The closed sessions' last descriptors go a moment after close(): retry, then detach lazily.
  for (let i = 0; mounted && i < 20 && Bun.spawnSync(["umount", mounted]).exitCode !== 0; i++) await Bun.sleep(100);
  if (mounted && Bun.spawnSync(["mountpoint", "-q", mounted]).exitCode === 0) Bun.spawnSync(["umount", "-l", mounted]);
  mounted = "";
  if (ts) rmSync(ts.root, { recursive: true, force: true });
  ts = null;
});

/** Bytes the quota ledger counts as used (AVBL would also be capped by the disk's free space). */
async function used(w: Wire): Promise<number> {
  const r = await w.cmd("SITE QUOTA");
  expect(r.code).toBe(211);
  return Number(/used (\d+) of/.exec(r.lines.join("\n"))?.[1]);
}

describe("a full disk during an upload", () => {
  test.skipIf(!isRoot)("an overwrite gets 552, keeps the old file, leaves no hidden file and no usage behind; what fits is stored after", async () => {
    ts = await startTestServer({
      users: [{ name: "carol", password: "carol-pw", home: "home/carol", quota: 10_000_000 }],
      setup(root) {
        const home = join(root, "home/carol");
        mkdirSync(home, { recursive: true });
        const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", home]);
        if (m.exitCode !== 0) throw new Error(`mount tmpfs: ${m.stderr.toString()}`);
        mounted = home;
        writeFileSync(join(home, "keep.bin"), random(500_000));
      },
    });
    const home = join(ts.root, "home/carol");
    const keep = readFileSync(join(home, "keep.bin"));
    const w = await Wire.connect(ts.port);
    wires.push(w);
    expect((await w.login("carol", "carol-pw")).code).toBe(230);
    expect((await w.cmd("TYPE I")).code).toBe(200);
    expect(await used(w)).toBe(500_000);

    // Overwrite: the temp file fills the disk; the target is untouched and the temp file is gone.
    expect(finalCode(await w.transfer("STOR keep.bin", random(3_000_000)))).toBe(552);
    expect(readFileSync(join(home, "keep.bin")).equals(keep)).toBe(true);
    expect(readdirSync(join(home, ".ftpkit-tmp"))).toEqual([]);
    expect(await used(w)).toBe(500_000);

    // The server still stores what fits.
    const small = random(100_000);
    expect(finalCode(await w.transfer("STOR small.bin", small))).toBe(226);
    expect(readFileSync(join(home, "small.bin")).equals(Buffer.from(small))).toBe(true);
  }, 30_000);
});
