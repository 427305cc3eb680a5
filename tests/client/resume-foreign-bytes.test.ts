// A part file grown by another program while no ftpkit ran, resumed from a server without a ranged
// HASH (pyftpdlib): the bytes ftpkit did not write are never spliced into a file it calls done. The
// journal keeps, ahead of the data, how far ftpkit may have written and how far it surely did
// (client/part-bound.ts); before, the part was continued from its end: exit 0, "size verified
// only", the other program's bytes in the middle of the file.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { JobReport } from "../../client/report.ts";
import { firstBound, isPartBound, PartGuard, trustedEnd, type PartBound } from "../../client/part-bound.ts";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startPyftpd, tempDir, waitFor, type Peer } from "../helpers/peers.ts";

setDefaultTimeout(90_000);

let peer: Peer;
const works: string[] = [];

beforeAll(async () => {
  peer = await startPyftpd();
});

afterAll(async () => {
  await peer.stop();
  removeDir(peer.root);
  for (const w of works) removeDir(w);
});

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);

function work(): string {
  const w = tempDir("ftpkit-foreign-");
  works.push(w);
  return w;
}

/** Run ftpkit ARGS in `cwd` at 500 KiB/s and kill -9 it once `part` holds `bytes`. */
async function killedAt(args: string[], cwd: string, part: string, bytes: number): Promise<void> {
  const proc = spawnFtpkit([...args, "--limit-rate", "500k"], { cwd });
  try {
    await waitFor(() => sizeOf(part) >= bytes, 30_000, `${bytes} bytes in ${part}`);
  } finally {
    proc.kill(9);
    await proc.exited;
  }
}

/** A segmented record in `journal` whose segments have all brought bytes. */
function segmentsBegun(journal: string): boolean {
  if (!existsSync(journal)) return false;
  return readdirSync(journal).some((n) => {
    if (!n.endsWith(".json") || n.startsWith(".")) return false;
    try {
      const rec = JSON.parse(readFileSync(join(journal, n), "utf8")) as { segments?: { start: number; pos: number }[] };
      return rec.segments?.every((g) => g.pos > g.start) === true;
    } catch {
      return false;
    }
  });
}

const X = (n: number) => Buffer.alloc(n, 0x58);

describe("ftpkit resume of a part file another program appended to (pyftpdlib: no HASH)", () => {
  test("get: appended past what ftpkit may have written: cut back to the last byte known as its own, said on stderr, byte-identical", async () => {
    const cwd = work();
    const data = randomFile(join(peer.root, "a.bin"), 4_000_000);
    const part = join(cwd, "a.bin.ftpkit-part");
    // Past the first MiB: the journal has raised its limit once, and knows the first MiB as ftpkit's.
    await killedAt(["get", peer.url("/a.bin")], cwd, part, 1_300_000);
    appendFileSync(part, X(1_500_000));
    const r = await runFtpkit(["resume"], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\[warn\] the partial file has \d+ bytes, more than the \d+ ftpkit may have written to it \(another program wrote to it since\): cut back to byte \d+, the last one known to be ftpkit's/);
    // Before: "resuming at byte 2800000", and a file with 1.5 MB of X inside, exit 0.
    expect(digest(readFileSync(join(cwd, "a.bin")))).toBe(digest(data));
    const kept = Number(/cut back to byte (\d+)/.exec(r.stderr)![1]);
    expect(kept).toBeGreaterThan(0); // continued, not fetched whole again
    expect(peer.transfers().at(-1)).toMatchObject({ verb: "RETR", bytes: data.length - kept, completed: true });
  });

  test("get: a few bytes appended, still under the limit: continued only from the last byte recorded as ftpkit's", async () => {
    const cwd = work();
    const data = randomFile(join(peer.root, "b.bin"), 3_000_000);
    const part = join(cwd, "b.bin.ftpkit-part");
    await killedAt(["get", peer.url("/b.bin")], cwd, part, 300_000);
    appendFileSync(part, X(5000));
    const r = await runFtpkit(["resume"], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/cannot verify the partial data \(the server offers no ranged hash\); resuming at byte \d+, the last one recorded as ftpkit's/);
    // Before: "resuming at byte 305000" (300,000 of ftpkit's and the 5,000 appended).
    expect(digest(readFileSync(join(cwd, "b.bin")))).toBe(digest(data));
  });

  test("resume --json says in the file's entry that its part file was cut back", async () => {
    const cwd = work();
    const data = randomFile(join(peer.root, "c.bin"), 4_000_000);
    const part = join(cwd, "c.bin.ftpkit-part");
    await killedAt(["get", peer.url("/c.bin")], cwd, part, 1_300_000);
    appendFileSync(part, X(1_500_000));
    const r = await runFtpkit(["resume", "--json"], { cwd });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as JobReport;
    expect(report.files).toHaveLength(1);
    expect(report.files[0]!.partCut).toMatch(/^the partial file has \d+ bytes, more than the \d+ ftpkit may have written/);
    expect(report.files[0]!.result).toBe("size verified only");
    expect(digest(readFileSync(join(cwd, "c.bin")))).toBe(digest(data));
  });

  test("get -r: a part file appended to is cut back too, and the tree's report says so", async () => {
    const cwd = work();
    mkdirSync(join(peer.root, "t"));
    const data = randomFile(join(peer.root, "t", "big.bin"), 4_000_000);
    const part = join(cwd, "t", "big.bin.ftpkit-part");
    await killedAt(["get", "-r", peer.url("/t"), "t"], cwd, part, 1_300_000);
    appendFileSync(part, X(1_500_000));
    const r = await runFtpkit(["resume", "--json"], { cwd });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as JobReport;
    expect(report.files.find((f) => f.path === "big.bin")?.partCut).toMatch(/^the partial file has \d+ bytes, more than the \d+ ftpkit may have written to it \(another program wrote to it since\): cut back to byte [1-9]/);
    expect(digest(readFileSync(join(cwd, "t", "big.bin")))).toBe(digest(data));
  });

  test("get --segments: a part file appended to (longer than the file) has every segment fetched again", async () => {
    const cwd = work();
    const data = randomFile(join(peer.root, "s.bin"), 3_000_000);
    const part = join(cwd, "s.bin.ftpkit-part");
    const journal = join(cwd, ".ftpkit", "transfers");
    const proc = spawnFtpkit(["get", peer.url("/s.bin"), "--segments", "2", "--limit-rate", "500k"], { cwd });
    try {
      // A record whose segments have bytes (the part file has its full size from the start).
      await waitFor(() => segmentsBegun(journal), 30_000, "segment progress recorded");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    appendFileSync(part, X(5000));
    const r = await runFtpkit(["resume"], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the partial file is gone or not at the file's size (cut short, or grown by another program): every segment starts over");
    expect(digest(readFileSync(join(cwd, "s.bin")))).toBe(digest(data));
  });
});

describe("the part file's bound (unit)", () => {
  test("a record without one (an older ftpkit's) continues the part from its end, as before", () => {
    expect(trustedEnd(2_800_000, null)).toEqual({ offset: 2_800_000, cut: null });
  });

  test("a 1 GiB download raises its limit ahead of the data at most 14 times, never per chunk, and the journal always covers the data", () => {
    const saved: PartBound[] = [];
    const size = 1 << 30;
    const guard = new PartGuard(firstBound(size), size, (b) => saved.push(b), () => {});
    guard.at(0);
    const chunk = 256 << 10;
    let journaled = firstBound(size);
    for (let pos = 0; pos < size; pos += chunk) {
      guard.ahead(pos, pos + chunk);
      journaled = saved.at(-1) ?? journaled;
      expect(journaled.limit).toBeGreaterThanOrEqual(pos + chunk);
      expect(journaled.written).toBeLessThanOrEqual(pos);
      expect(isPartBound(journaled)).toBe(true); // whole numbers: a record with a fraction was refused as damaged
    }
    // Besides the record written before the first byte: 4,096 chunks, 12 journal writes (from 64 KiB, doubling).
    expect(saved.length).toBeGreaterThan(8);
    expect(saved.length).toBeLessThanOrEqual(14);
  });

  test("cutting the part below what the journal vouches for is recorded first", () => {
    const saved: PartBound[] = [];
    const guard = new PartGuard({ written: 5_000_000, limit: 6_000_000 }, 10_000_000, (b) => saved.push(b), () => {});
    guard.at(5_000_000);
    expect(saved).toEqual([]);
    guard.at(0); // a start over (the server ignores REST)
    expect(saved).toEqual([{ written: 0, limit: 6_000_000 }]);
  });
});
