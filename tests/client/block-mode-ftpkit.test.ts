// MODE B in the client's tree jobs against `ftpkit serve`, which keeps the data connection between
// transfers: get -r, put -r and sync of a tree with nested and empty directories, UTF-8 and space
// names, an empty file and one over 1 MiB, the same bytes verified over one data connection per
// connection; under FTPS (PROT P) too; and a tree killed with -9, then resumed.
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, startPyftpd, TLS_CERT, TLS_KEY, waitFor } from "../helpers/peers.ts";
import { finishedFiles, snapshot } from "../helpers/trees.ts";
import { useCleanups } from "../helpers/cleanups.ts";

setDefaultTimeout(120_000);

const owned = useCleanups("ftpkit-modeb-");
const workDir = () => owned.workDir();

/** 14 files: nested and empty directories, UTF-8 and space names, 0 bytes and 1.5 MB. */
function makeTree(root: string): number {
  mkdirSync(join(root, "sub", "deeper"), { recursive: true });
  mkdirSync(join(root, "empty"), { recursive: true });
  mkdirSync(join(root, "with space"), { recursive: true });
  writeFileSync(join(root, "a.txt"), "alpha\n");
  writeFileSync(join(root, "zero.bin"), "");
  writeFileSync(join(root, "sub", "big.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(65536))).toString("hex").repeat(12).slice(0, 1_500_000));
  writeFileSync(join(root, "with space", "ünïcödé file.txt"), "héllo\n");
  for (let i = 0; i < 10; i++) writeFileSync(join(root, "sub", "deeper", `f${i}.txt`), `file ${i}\n`.repeat(i * 100));
  return 14;
}

/** Data connections the client opened (its --verbose trace). */
const dataConnections = (stderr: string) => stderr.split("\n").filter((l) => l.includes("* data connection to")).length;
const NOTHING_WRONG = /error|warn|reconnect|retry/i;

test("get -r, put -r and sync in block mode: the same bytes, verified, over one data connection per connection", async () => {
  const srv = await startFtpkitServer();
  owned.later(() => srv.stop());
  const work = workDir();
  const files = makeTree(join(srv.home, "t"));

  const down = await runFtpkit(["get", "-r", "--verbose", "--parallel", "2", srv.url("/t"), "t"], { cwd: work });
  expect(down.stderr).not.toMatch(NOTHING_WRONG);
  expect(down.code).toBe(0);
  expect(down.stderr).toContain(`${files} copied (${files} verified by digest)`);
  expect(down.stderr).toContain("> MODE B");
  expect(snapshot(join(work, "t"))).toEqual(snapshot(join(srv.home, "t")));
  expect(dataConnections(down.stderr)).toBeLessThanOrEqual(2);

  const up = await runFtpkit(["put", "-r", "--verbose", "--parallel", "2", "t", srv.url("/up")], { cwd: work });
  expect(up.stderr).not.toMatch(NOTHING_WRONG);
  expect(up.code).toBe(0);
  expect(up.stderr).toContain(`${files} copied (${files} verified by digest)`);
  expect(snapshot(join(srv.home, "up"))).toEqual(snapshot(join(work, "t")));
  expect(dataConnections(up.stderr)).toBeLessThanOrEqual(3);

  writeFileSync(join(work, "t", "a.txt"), "changed here\n");
  writeFileSync(join(work, "t", "sub", "new.txt"), "new\n");
  const sync = await runFtpkit(["sync", "--verbose", "--parallel", "2", "t", srv.url("/up")], { cwd: work });
  expect(sync.stderr).not.toMatch(NOTHING_WRONG);
  expect(sync.code).toBe(0);
  expect(sync.stderr).toContain("2 copied (2 verified by digest)");
  expect(snapshot(join(srv.home, "up"))).toEqual(snapshot(join(work, "t")));
});

test("--no-block-mode against ftpkit: no MODE B, a data connection per file and listing", async () => {
  const srv = await startFtpkitServer();
  owned.later(() => srv.stop());
  const work = workDir();
  const files = makeTree(join(srv.home, "t"));
  const down = await runFtpkit(["get", "-r", "--verbose", "--no-block-mode", "--parallel", "2", srv.url("/t"), "t"], { cwd: work });
  expect(down.code).toBe(0);
  expect(down.stderr).not.toContain("MODE");
  expect(dataConnections(down.stderr)).toBeGreaterThan(files);
  expect(snapshot(join(work, "t"))).toEqual(snapshot(join(srv.home, "t")));
});

test("FTPS (PROT P) get -r and put -r in block mode: one TLS data connection per connection, every file verified", async () => {
  const srv = await startFtpkitServer({ args: ["--tls-cert", TLS_CERT, "--tls-key", TLS_KEY] });
  owned.later(() => srv.stop());
  const work = workDir();
  const files = makeTree(join(srv.home, "t"));
  const down = await runFtpkit(["get", "-r", "--tls", "--ca", TLS_CERT, "--verbose", "--parallel", "2", srv.url("/t"), "t"], { cwd: work });
  expect(down.stderr).not.toMatch(NOTHING_WRONG);
  expect(down.code).toBe(0);
  expect(down.stderr).toContain("> PROT P");
  expect(down.stderr).toContain(`${files} copied (${files} verified by digest)`);
  expect(dataConnections(down.stderr)).toBeLessThanOrEqual(2);
  expect(snapshot(join(work, "t"))).toEqual(snapshot(join(srv.home, "t")));
  // Uploads end each file with an EOF block inside the kept TLS connection (no close_notify per file).
  const up = await runFtpkit(["put", "-r", "--tls", "--ca", TLS_CERT, "--verbose", "--parallel", "2", "t", srv.url("/up")], { cwd: work });
  expect(up.stderr).not.toMatch(NOTHING_WRONG);
  expect(up.code).toBe(0);
  expect(up.stderr).toContain(`${files} copied (${files} verified by digest)`);
  expect(dataConnections(up.stderr)).toBeLessThanOrEqual(3);
  expect(snapshot(join(srv.home, "up"))).toEqual(snapshot(join(work, "t")));
});

test("pyftpdlib refuses MODE B: get -r and put -r go in stream mode, with no extra message", async () => {
  const py = await startPyftpd();
  owned.later(async () => (await py.stop(), removeDir(py.root)));
  const work = workDir();
  const files = makeTree(join(py.root, "t"));
  const down = await runFtpkit(["get", "-r", "--verbose", "--parallel", "2", py.url("/t"), "t"], { cwd: work });
  expect(down.code).toBe(0);
  expect(down.stderr).toMatch(/< 50[0-4] /); // its answer to MODE B
  expect(down.stderr).toContain("> MODE B");
  expect(down.stderr.split("\n").filter((l) => !/^\[\d\] /.test(l)).join("\n")).not.toMatch(NOTHING_WRONG);
  expect(dataConnections(down.stderr)).toBeGreaterThan(files);
  expect(snapshot(join(work, "t"))).toEqual(snapshot(join(py.root, "t")));
  const up = await runFtpkit(["put", "-r", "--parallel", "2", "t", py.url("/up")], { cwd: work });
  expect(up.stderr).not.toMatch(NOTHING_WRONG);
  expect(up.code).toBe(0);
  expect(snapshot(join(py.root, "up"))).toEqual(snapshot(join(work, "t")));
});


test("kill -9 in the middle of a block-mode tree, then ftpkit resume: finished files stay, the partial one continues, all verified", async () => {
  const srv = await startFtpkitServer({ maxRate: "512K" });
  owned.later(() => srv.stop());
  const work = workDir();
  mkdirSync(join(srv.home, "k"), { recursive: true });
  for (let i = 0; i < 12; i++) writeFileSync(join(srv.home, "k", `f${i}.dat`), Buffer.from(crypto.getRandomValues(new Uint8Array(60_000))).toString("base64").repeat(4));
  const proc = spawnFtpkit(["get", "-r", srv.url("/k"), "k", "--parallel", "2"], { cwd: work });
  try {
    // Killed with files done and a part file well begun (so the resume continues it from an offset).
    const begun = () => existsSync(join(work, "k")) && readdirSync(join(work, "k")).some((n) => n.endsWith(".ftpkit-part") && Bun.file(join(work, "k", n)).size > 50_000);
    await waitFor(() => finishedFiles(work).length >= 2 && begun(), 60_000, "two finished files and a part file begun");
  } finally {
    proc.kill(9);
    await proc.exited;
  }
  const finished = finishedFiles(work).length;
  expect(finished).toBeLessThan(12);
  const r = await runFtpkit(["resume", "--verbose"], { cwd: work, timeoutMs: 120_000 });
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(new RegExp(`${12 - finished} copied \\(${12 - finished} verified by digest\\), ${finished} skipped, 0 deleted, 0 failed`));
  expect(r.stderr).toContain("> MODE B");
  // A part file continued from its offset: stream mode for it (REST), block mode again after it.
  const restAt = r.stderr.search(/> REST [1-9]/);
  expect(restAt).toBeGreaterThan(0);
  expect(r.stderr.lastIndexOf("> MODE S", restAt)).toBeGreaterThan(0);
  expect(snapshot(join(work, "k"))).toEqual(snapshot(join(srv.home, "k")));
});

test("kill -9 in the middle of a block-mode put -r, then ftpkit resume: the tree arrives whole, verified", async () => {
  const srv = await startFtpkitServer();
  owned.later(() => srv.stop());
  const work = workDir();
  mkdirSync(join(work, "up"), { recursive: true });
  for (let i = 0; i < 10; i++) writeFileSync(join(work, "up", `f${i}.dat`), Buffer.from(crypto.getRandomValues(new Uint8Array(60_000))).toString("base64").repeat(4));
  // The client's own limit (the job's): slow enough to be killed mid-file.
  const proc = spawnFtpkit(["put", "-r", "up", srv.url("/up"), "--parallel", "2", "--limit-rate", "1M"], { cwd: work });
  const remote = join(srv.home, "up");
  try {
    const begun = () => {
      const done = new Set(finishedFiles(work));
      return existsSync(remote) && readdirSync(remote).some((n) => !done.has(n) && Bun.file(join(remote, n)).size > 100_000);
    };
    await waitFor(() => finishedFiles(work).length >= 2 && begun(), 60_000, "two files up and a third well begun");
  } finally {
    proc.kill(9);
    await proc.exited;
  }
  const finished = finishedFiles(work).length;
  expect(finished).toBeLessThan(10);
  const r = await runFtpkit(["resume", "--verbose"], { cwd: work, timeoutMs: 120_000 });
  expect(r.code).toBe(0);
  expect(r.stderr).toContain("> MODE B");
  // The server kept what came of the cut upload: it continues from there in stream mode (REST), the next file in MODE B.
  const restAt = r.stderr.search(/> REST [1-9]/);
  expect(restAt).toBeGreaterThan(0);
  expect(r.stderr.lastIndexOf("> MODE S", restAt)).toBeGreaterThan(0);
  expect(r.stderr.indexOf("> MODE B", restAt)).toBeGreaterThan(restAt);
  expect(r.stderr).toMatch(new RegExp(`${10 - finished} copied \\(${10 - finished} verified by digest\\), ${finished} skipped, 0 deleted, 0 failed`));
  expect(snapshot(remote)).toEqual(snapshot(join(work, "up")));
});
