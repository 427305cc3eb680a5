// Uploads into an upload-only directory (ftpkit's anonymous drop box, as in the demo): the server
// takes files but will not list them or give their digest or size to that account.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, removeDir, runFtpkit, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let server: FtpkitPeer;
let work: string;
const dropUrl = (name = "") => `ftp://anonymous:guest@127.0.0.1:${server.port}/incoming/${name}`;
const dropped = (name: string) => readFileSync(join(server.home, "incoming", name));

beforeAll(async () => {
  server = await startFtpkitServer({ dropBox: true });
  work = tempDir();
});

afterAll(async () => {
  await server.stop();
  removeDir(work);
});

describe("uploads into a drop box", () => {
  test("put of one file succeeds, stored intact, and says it could not be verified", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(50_000)));
    writeFileSync(join(work, "one.bin"), data);
    const r = await runFtpkit(["put", "one.bin", dropUrl()], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server refused the digest (HASH /incoming/one.bin: Permission denied (550)), as an upload-only directory does; not verified");
    expect(r.stderr).toContain("(not verified)");
    expect(digest(dropped("one.bin"))).toBe(digest(data));
  });

  test("put - from stdin succeeds the same way, its --json entry saying why it is not verified", async () => {
    const data = Buffer.from("from a pipe\n");
    const r = await runFtpkit(["put", "-", dropUrl("piped.txt"), "--json"], { cwd: work, stdin: data });
    expect(r.code).toBe(0);
    expect(dropped("piped.txt").toString()).toBe(data.toString());
    const report = JSON.parse(r.stdout) as { files: { path: string; result: string; whyUnverified?: string }[] };
    expect(report.files).toMatchObject([
      { path: "-", result: "not verified", whyUnverified: "the server refused the digest (HASH /incoming/piped.txt: Permission denied (550)), as an upload-only directory does; not verified" },
    ]);
  });

  test("a glob of several files on one connection lands whole: each file's late check does not take the next file's replies, and each --json entry says why it is not verified", async () => {
    const src = join(work, "batch");
    mkdirSync(src);
    const files = ["a.csv", "b.csv", "c.csv"].map((name) => {
      const data = Buffer.from(crypto.getRandomValues(new Uint8Array(20_000)));
      writeFileSync(join(src, name), data);
      return { name, data };
    });
    const r = await runFtpkit(["put", join(src, "*.csv"), dropUrl(), "--parallel", "1", "--json"], { cwd: work });
    expect(r.stderr).not.toContain("ERROR");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { copied: number; failed: number; files: { path: string; result: string; whyUnverified?: string }[] };
    expect(report).toMatchObject({ copied: 3, failed: 0 });
    expect(report.files.map((f) => f.result)).toEqual(["not verified", "not verified", "not verified"]);
    // Each entry says why with its own file's refusal (the job's info line says each once).
    const why = (name: string) => `the server refused the digest (HASH /incoming/${name}: Permission denied (550)), as an upload-only directory does; not verified`;
    expect(report.files.map((f) => [f.path, f.whyUnverified])).toEqual(files.map((f) => [f.name, why(f.name)]));
    for (const f of files) expect(digest(dropped(f.name))).toBe(digest(f.data));
  });

  test("files put into a drop box, which refuses SIZE for each (550), cost no NOOP each: a 550 is the file's own refusal", async () => {
    const src = join(work, "noop");
    mkdirSync(src);
    for (const name of ["a.txt", "b.txt", "c.txt", "d.txt"]) writeFileSync(join(src, name), `${name}\n`);
    const r = await runFtpkit(["put", join(src, "*.txt"), dropUrl(), "--parallel", "1", "-v"], { cwd: work });
    expect(r.code).toBe(0);
    const lines = r.stderr.split("\n");
    expect(lines.filter((l) => / > SIZE /.test(l))).toHaveLength(4);
    // Before: a NOOP after each refused SIZE but the last, to ask whether the session went on.
    const uploads = lines.slice(lines.findIndex((l) => / > STOR /.test(l)));
    expect(uploads.filter((l) => / > NOOP/.test(l))).toEqual([]);
  });

  test("put -r of a tree with a subdirectory fails at the MKD the drop box refuses, and leaves nothing to resume", async () => {
    const src = join(work, "with-sub");
    mkdirSync(join(src, "sub"), { recursive: true });
    writeFileSync(join(src, "sub", "f.txt"), "f\n");
    const r = await runFtpkit(["put", "-r", src, dropUrl()], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("MKD /incoming/sub: Permission denied (550)");
    const pending = await runFtpkit(["resume", "--list"], { cwd: work });
    expect(pending.stdout).toMatch(/^nothing to resume( here)?\n/);
  });

  test("sync into a drop box, which must list the other side, fails with the server's refusal and sends nothing", async () => {
    const src = join(work, "to-sync");
    mkdirSync(src);
    writeFileSync(join(src, "s.txt"), "s\n");
    const r = await runFtpkit(["sync", src, dropUrl()], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("MLSD /incoming: Permission denied (550)");
    expect(() => dropped("s.txt")).toThrow();
  });
});
