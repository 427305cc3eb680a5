// curl as a real FTP peer: listings, downloads, uploads, resume both ways, passive and active,
// --ftp-create-dirs, quote commands and names with spaces.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, randomFile, removeDir, tempDir } from "../helpers/peers.ts";
import { SERVER_KINDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { run } from "./run.ts";

let ts: TestServer;
let local: string;

for (const kind of SERVER_KINDS) describe(kind.label("curl"), () => {
  beforeEach(async () => {
    ts = await startTestServer({ workers: kind.workers });
    local = tempDir("ftpkit-curl-");
  });

  afterEach(async () => {
    await ts.stop();
    removeDir(local);
  });

  const url = (path: string) => `ftp://alice:alice-pw@127.0.0.1:${ts.port}${path}`;
  const curl = (...args: string[]) => run(["curl", "-sS", "--max-time", "15", ...args]);
  const home = (p: string) => join(ts.home("alice"), p);

  test("lists the home directory (LIST) and names only (NLST)", async () => {
    const r = await curl(url("/"));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("hello.txt");
    expect(r.stdout).toContain("docs");
    expect(r.stdout).toContain("with space.txt");
    expect(r.stdout.split("\n")[0]).toMatch(/^[d-]r/); // ls -l style
    const names = await curl("-l", url("/"));
    expect(names.code).toBe(0);
    expect(names.stdout.split(/\r?\n/).filter(Boolean).sort()).toContain("hello.txt");
  });

  test("downloads a file byte for byte", async () => {
    const data = randomFile(home("random.bin"), 1_500_000);
    const out = join(local, "random.bin");
    const r = await curl("-o", out, url("/random.bin"));
    expect(r.code).toBe(0);
    expect(digest(readFileSync(out))).toBe(digest(data));
  });

  test("uploads with -T", async () => {
    const data = randomFile(join(local, "up.bin"), 1_000_000);
    const r = await curl("-T", join(local, "up.bin"), url("/up.bin"));
    expect(r.code).toBe(0);
    expect(digest(readFileSync(home("up.bin")))).toBe(digest(data));
  });

  test("a URL through ~/ (the login directory, as vsftpd and ProFTPD expand it) downloads, lists and uploads, whatever the --ftp-method", async () => {
    for (const method of ["multicwd", "singlecwd", "nocwd"]) {
      const got = await curl("--ftp-method", method, url("/~/docs/report.txt"));
      expect({ method, code: got.code, text: got.stdout }).toEqual({ method, code: 0, text: readFileSync(home("docs/report.txt"), "utf8") });
      expect((await curl("--ftp-method", method, "-l", url("/~/docs/"))).stdout).toContain("report.txt");
    }
    writeFileSync(join(local, "t.txt"), "via tilde\n");
    expect((await curl("-T", join(local, "t.txt"), url("/~/docs/"))).code).toBe(0);
    expect(readFileSync(home("docs/t.txt"), "utf8")).toBe("via tilde\n");
  });

  test("-X 'NLST -t' lists newest first and -rt oldest first, as vsftpd and ProFTPD sort (how a script picks the latest file)", async () => {
    mkdirSync(home("logs"));
    for (const [name, year] of [["a.log", 2020], ["b.log", 2024], ["c.log", 2022]] as const) {
      writeFileSync(home(`logs/${name}`), name);
      utimesSync(home(`logs/${name}`), new Date(Date.UTC(year, 0, 1)), new Date(Date.UTC(year, 0, 1)));
    }
    const names = async (cmd: string) => (await curl("-X", cmd, url("/logs/"))).stdout.split(/\r?\n/).filter(Boolean);
    expect(await names("NLST -t")).toEqual(["b.log", "c.log", "a.log"]);
    expect(await names("NLST -rt")).toEqual(["a.log", "c.log", "b.log"]);
    expect(await names("NLST -r")).toEqual(["c.log", "b.log", "a.log"]);
    expect((await names("LIST -lt")).map((l) => l.split(" ").pop())).toEqual(["b.log", "c.log", "a.log"]);
    expect(await names("NLST")).toEqual(["a.log", "b.log", "c.log"]);
  });

  test("-C - resumes a partial download", async () => {
    const data = randomFile(home("resume.bin"), 800_000);
    const out = join(local, "resume.bin");
    writeFileSync(out, data.subarray(0, 300_000));
    const r = await curl("-v", "-C", "-", "-o", out, url("/resume.bin"));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("REST 300000");
    expect(statSync(out).size).toBe(data.length);
    expect(digest(readFileSync(out))).toBe(digest(data));
  });

  test("-C - -T resumes a partial upload", async () => {
    const data = randomFile(join(local, "big.bin"), 800_000);
    writeFileSync(home("big.bin"), data.subarray(0, 250_000));
    const r = await curl("-v", "-C", "-", "-T", join(local, "big.bin"), url("/big.bin"));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/APPE big\.bin|REST 250000/);
    expect(digest(readFileSync(home("big.bin")))).toBe(digest(data));
  });

  test("--ftp-pasv with EPSV disabled uses PASV", async () => {
    const r = await curl("--ftp-pasv", "--disable-epsv", "-v", url("/hello.txt"));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("PASV");
    expect(r.stdout).toBe(readFileSync(home("hello.txt"), "utf8"));
  });

  test("-P - (active mode) downloads and uploads", async () => {
    const r = await curl("-P", "-", "-v", url("/hello.txt"));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/EPRT|PORT/);
    expect(r.stdout).toBe(readFileSync(home("hello.txt"), "utf8"));
    const data = randomFile(join(local, "act.bin"), 300_000);
    const up = await curl("-P", "-", "--disable-eprt", "-T", join(local, "act.bin"), url("/act.bin"));
    expect(up.code).toBe(0);
    expect(digest(readFileSync(home("act.bin")))).toBe(digest(data));
  });

  test("--ftp-create-dirs makes the missing directories of an upload", async () => {
    writeFileSync(join(local, "f.txt"), "nested upload\n");
    const r = await curl("--ftp-create-dirs", "-T", join(local, "f.txt"), url("/new/deeper/f.txt"));
    expect(r.code).toBe(0);
    expect(readFileSync(home("new/deeper/f.txt"), "utf8")).toBe("nested upload\n");
  });

  test("-Q runs quote commands before the transfer; a failing one fails the run", async () => {
    const r = await curl("-Q", "MKD made-by-quote", url("/"));
    expect(r.code).toBe(0);
    expect(statSync(home("made-by-quote")).isDirectory()).toBe(true);
    const bad = await curl("-Q", "RMD no-such-dir", url("/"));
    expect(bad.code).not.toBe(0);
    const del = await curl("-Q", "-DELE hello.txt", url("/"));
    expect(del.code).toBe(0);
    expect(existsSync(home("hello.txt"))).toBe(false);
  });

  test("names with spaces (and a UTF-8 name) download and upload", async () => {
    const r = await curl(url("/with%20space.txt"));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(home("with space.txt"), "utf8"));
    const cafe = await curl(url(`/${encodeURIComponent("café-ü.txt")}`));
    expect(cafe.code).toBe(0);
    expect(cafe.stdout).toBe(readFileSync(home("café-ü.txt"), "utf8"));
    writeFileSync(join(local, "x.txt"), "spaced\n");
    const up = await curl("-T", join(local, "x.txt"), url("/a%20new%20name.txt"));
    expect(up.code).toBe(0);
    expect(readFileSync(home("a new name.txt"), "utf8")).toBe("spaced\n");
  });

  test("a wrong password fails with curl's login error (67)", async () => {
    const r = await curl(`ftp://alice:nope@127.0.0.1:${ts.port}/`);
    expect(r.code).toBe(67);
  });
});
