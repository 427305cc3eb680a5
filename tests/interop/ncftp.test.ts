// NcFTP as a real peer: ncftpget's server-side wildcards (`ncftpget host dir '/dir/f*.bin'`), and
// ncftpls's one-name-per-line listing (`ncftpls -1`, which sends `NLST -1`).
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { SERVER_KINDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { run } from "./run.ts";

let ts: TestServer;
let local: string;

for (const kind of SERVER_KINDS) describe(kind.label("ncftp"), () => {
  beforeEach(async () => {
    ts = await startTestServer({ workers: kind.workers });
    local = tempDir("ftpkit-ncftp-");
  });

  afterEach(async () => {
    await ts.stop();
    removeDir(local);
  });

  const home = (p: string) => join(ts.home("alice"), p);

  function ncftpget(...remote: string[]) {
    const args = ["ncftpget", "-t", "10", "-d", "stdout", "-u", "alice", "-p", "alice-pw", "-P", String(ts.port), "127.0.0.1", local, ...remote];
    return run(args, { timeoutMs: 30_000 });
  }

  test("ncftpget with a wildcard path fetches exactly the matching files", async () => {
    mkdirSync(home("dir"));
    for (const n of ["f1.bin", "f2.bin", "f10.bin", "g.bin", "f1.txt"]) writeFileSync(home(`dir/${n}`), `data of ${n}`);
    const r = await ncftpget("/dir/f*.bin");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Cmd: NLST /dir/f*.bin");
    // ncftp picks its MLST facts; the reply names exactly those (RFC 3659 §7.9), not every fact.
    expect(r.stdout).toContain("Cmd: OPTS MLST type;size;modify;UNIX.mode;perm;");
    expect(r.stdout).toContain("200: MLST OPTS type;size;modify;perm;UNIX.mode;");
    for (const n of ["f1.bin", "f2.bin", "f10.bin"]) expect(readFileSync(join(local, n), "utf8")).toBe(`data of ${n}`);
    expect(existsSync(join(local, "g.bin"))).toBe(false);
    expect(existsSync(join(local, "f1.txt"))).toBe(false);
  });

  test("ncftpget with a character class and ? matches like a shell", async () => {
    mkdirSync(home("dir"));
    for (const n of ["a1.log", "b1.log", "c1.log", "a22.log"]) writeFileSync(home(`dir/${n}`), n);
    const r = await ncftpget("/dir/[ab]?.log");
    expect(r.code).toBe(0);
    expect(existsSync(join(local, "a1.log"))).toBe(true);
    expect(existsSync(join(local, "b1.log"))).toBe(true);
    expect(existsSync(join(local, "c1.log"))).toBe(false);
    expect(existsSync(join(local, "a22.log"))).toBe(false);
  });

  test("ncftpget of a wildcard that matches nothing fails", async () => {
    mkdirSync(home("dir"));
    const r = await ncftpget("/dir/none*.bin");
    expect(r.code).not.toBe(0);
  });

  test("ncftpls -1 lists the directory's names, one per line", async () => {
    mkdirSync(home("dir"));
    for (const n of ["a.txt", "b.log"]) writeFileSync(home(`dir/${n}`), n);
    const r = await run(["ncftpls", "-t", "10", "-u", "alice", "-p", "alice-pw", "-P", String(ts.port), "-1", "ftp://127.0.0.1/dir/"], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean).sort()).toEqual(["a.txt", "b.log"]);
  });
});
