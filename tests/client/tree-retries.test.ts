// A tree job's file that comes back to the job's list after a drop (tree-pool.ts, lane.again): its
// tries in all keep to --retries, and the job's counts account for every file it planned.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, runFtpkit, waitFor } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

setDefaultTimeout(60_000); // CLI processes against a local fake server

const t = useFakeServerWork();

const HASH_FEAT = ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*;MD5"];
const payload = () => Buffer.from(crypto.getRandomValues(new Uint8Array(50_000)));
const results = (stdout: string) => new Map((JSON.parse(stdout) as { files: { path: string; result: string }[] }).files.map((f) => [f.path, f.result]));

describe("a file handed back after a drop keeps to --retries in all", () => {
  // Both of the file's first two transfers end their session (vsftpd's "500 OOPS"). With --retries 1
  // the file gets one retry: it was handed back once, and then reconnected once more on its own.
  test("get -r --retries 1: two tries, not three", async () => {
    const data = payload();
    const fake = t.start({ files: new Map([["/src/a.bin", data]]), feat: HASH_FEAT, oopsOnTransfer: [1, 2] });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "1", "--retries", "1", "--json"], { cwd: t.work });
    expect(fake.commands.filter((c) => c === "RETR /src/a.bin")).toHaveLength(2);
    expect(r.code).not.toBe(0);
    expect(results(r.stdout).get("a.bin")).toStartWith("failed: ");
  });

  test("put -r --retries 1: two tries, not three", async () => {
    const fake = t.start({ feat: HASH_FEAT, oopsOnTransfer: [1, 2] });
    const local = join(t.work, "tree");
    mkdirSync(local);
    writeFileSync(join(local, "a.bin"), payload());
    const r = await runFtpkit(["put", "-r", local, `ftp://u:p@127.0.0.1:${fake.port}/dst`, "--parallel", "1", "--retries", "1", "--json"], { cwd: t.work });
    expect(fake.commands.filter((c) => c === "STOR /dst/a.bin")).toHaveLength(2);
    expect(r.code).not.toBe(0);
    expect(results(r.stdout).get("a.bin")).toStartWith("failed: ");
  });

  // A server that ends every session at its transfer: each file is tried 1 + --retries times, then
  // the job ends with every file failed (a server refusal, after which it hung up).
  test("get -r against a server that ends every session: 4 tries a file with --retries 3, then exit 8", async () => {
    const files = new Map(["a.bin", "b.bin"].map((n) => [`/src/${n}`, payload()] as const));
    const fake = t.start({ files, feat: HASH_FEAT, oopsOnTransfer: Array.from({ length: 20 }, (_, i) => i + 1) });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "2", "--json"], { cwd: t.work });
    expect(r.code).toBe(8);
    expect([...results(r.stdout).values()]).toEqual(["failed: RETR /src/a.bin: OOPS: priv_sock_get_int (500); gave up after 4 attempts (--retries 3)", "failed: RETR /src/b.bin: OOPS: priv_sock_get_int (500); gave up after 4 attempts (--retries 3)"]);
    expect(fake.commands.filter((c) => c === "RETR /src/a.bin")).toHaveLength(4);
    expect(fake.commands.filter((c) => c === "RETR /src/b.bin")).toHaveLength(4);
  });
});

describe("the summary counts every file the job planned", () => {
  // The session that ended cannot be replaced (the server admits one connection): the file it was
  // moving, handed back, and the one after it never get a connection. "1 file" read as if the job
  // had planned one, beside "2 failed".
  test("get -r: a file handed back and one never started count in the summary line", async () => {
    const files = new Map(["a.bin", "b.bin", "c.bin"].map((n) => [`/src/${n}`, payload()] as const));
    const fake = t.start({ files, feat: HASH_FEAT, oopsOnTransfer: 2, busyAfter: 1 });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "1", "--retries", "1"], { cwd: t.work });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("b.bin: RETR /src/b.bin: OOPS: priv_sock_get_int (500); trying it again (attempt 1 of 1)");
    expect(r.stderr).toMatch(/get -r dst: 3 files, .*; 1 copied \(1 verified by digest\), 0 skipped, 0 deleted, 2 failed/);
  });
});

describe("the connection of a file handed back is not used again as it is", () => {
  // The first RETR's data connection sends nothing: the stall ends it before any byte, and the file
  // goes back to the list. The server never answers that RETR: the next file's commands on the same
  // connection waited 60 s for a reply (the job took 62 s under --stall-timeout 1).
  test("get -r: a data connection stalled before its first byte; the others move on a new connection at once", async () => {
    const files = new Map(["a.bin", "b.bin", "c.bin"].map((n) => [`/src/${n}`, payload()] as const));
    const fake = t.start({ files: new Map(files), feat: HASH_FEAT, stallRetrAfter: 0 });
    const began = performance.now();
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "1", "--stall-timeout", "1", "--json"], { cwd: t.work, timeoutMs: 40_000 });
    expect(r.code).toBe(0);
    expect(performance.now() - began).toBeLessThan(15_000);
    expect([...results(r.stdout).values()]).toEqual(["verified by HASH", "verified by HASH", "verified by HASH"]);
    for (const [path, data] of files) expect(digest(readFileSync(join(t.work, "dst", path.slice(5))))).toBe(digest(data));
    expect(fake.commands.filter((c) => c === "RETR /src/a.bin")).toHaveLength(2);
  });
});

describe("sync --delete after a connection dropped under the last files", () => {
  // The first connection's file ends its session (500 OOPS) and goes to the other connection, which
  // moves every file; the pool does not replace the first one, which then had the deletes to do:
  // "old.txt: cannot delete: the server closed the control connection", exit 4.
  test("sync up --delete: the deletes go over a new first connection", async () => {
    const fake = t.start({ files: new Map([["/dst/old.txt", Buffer.from("old")]]), feat: HASH_FEAT, oopsOnTransfer: 1, busyAfter: 3 });
    const local = join(t.work, "tree");
    mkdirSync(local);
    const bytes = new Map(["a.bin", "b.bin", "c.bin"].map((n) => [n, payload()] as const));
    for (const [n, data] of bytes) writeFileSync(join(local, n), data);
    const r = await runFtpkit(["sync", local, `ftp://u:p@127.0.0.1:${fake.port}/dst`, "--delete", "--parallel", "2", "--json"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(results(r.stdout).get("old.txt")).toBe("deleted");
    expect(fake.files.has("/dst/old.txt")).toBe(false);
    for (const [n, data] of bytes) expect(digest(fake.files.get(`/dst/${n}`)!)).toBe(digest(data));
  });
});

describe("a data connection refused because the server went away", () => {
  // The server answered EPSV and was gone before the data connection (restarted: its passive port
  // closed, its control connection reset). Measured with a real restart of ftpkit's server under
  // get -r of 10,000 files: one file failed "cannot open data connection …: connection refused", exit 4.
  test.each([
    [1, "the listing"],
    [2, "the first file"],
  ])("get -r (EPSV %d, for %s): listed and fetched again on a new session, and every file ends verified", async (goneAtEpsv) => {
    const files = new Map(["a.bin", "b.bin"].map((n) => [`/src/${n}`, payload()] as const));
    const fake = t.start({ files: new Map(files), feat: HASH_FEAT, goneAtEpsv });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/src`, join(t.work, "dst"), "--parallel", "1", "--json"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect([...results(r.stdout).values()]).toEqual(["verified by HASH", "verified by HASH"]);
    for (const [path, data] of files) expect(digest(readFileSync(join(t.work, "dst", path.slice(5))))).toBe(digest(data));
  });

  test("a single get reconnects and says why", async () => {
    const data = payload();
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, goneAtEpsv: 1 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/cannot open data connection to 127\.0\.0\.1:\d+: .*; reconnecting \(attempt 1 of 3\)/);
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
  });
});

describe("a 421 to the HASH after a file's data", () => {
  test("the file is tried again on a new connection (its kept bytes vouched for), not on the one closing", async () => {
    const fake = t.start({ files: new Map([["/t/a.bin", payload()]]), feat: HASH_FEAT, refuseHash: { times: 1, reply: "421 Shutting down" } });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "t", "--parallel", "1", "--json"], { cwd: t.work });
    expect(results(r.stdout).get("a.bin")).toBe("verified by HASH");
    expect(r.code).toBe(0);
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(2);
  });
});

describe("a file handed back whose connection cannot log in again", () => {
  test("the password refused at the reconnection is why it failed (exit 6), not the drop before it (8)", async () => {
    const opts = { files: new Map([["/t/a.bin", payload()]]), feat: HASH_FEAT, password: "pw", refuseHash: { times: 1, reply: "421 Shutting down" } };
    const fake = t.start(opts);
    const run = runFtpkit(["get", "-r", `ftp://u:pw@127.0.0.1:${fake.port}/t`, "t", "--parallel", "1", "--json"], { cwd: t.work });
    // The password changes once the HASH after the data was refused (the job backs off before it logs in again).
    const f = fake;
    await waitFor(() => f.commands.some((c) => c.startsWith("HASH")), 10_000, "the HASH to be refused");
    opts.password = "changed";
    const r = await run;
    expect(results(r.stdout).get("a.bin")).toContain('login failed for user "u"');
    expect(r.code).toBe(6);
  });
});

describe("a job that halts does not wait for a reconnection", () => {
  // The first STOR ends its session (vsftpd's "500 OOPS"): that connection reconnects after its
  // backoff (500 ms, then more). Meanwhile the other connection's STOR is refused for lack of space
  // (552): no file starts any more, so the reconnection is given up instead of logging in again
  // only to find nothing to do.
  test("put -r --parallel 2: a 552 on one connection while the other one waits to reconnect: no third login", async () => {
    const fake = t.start({ feat: HASH_FEAT, oopsOnTransfer: 1, storeFull: true });
    const local = join(t.work, "tree");
    mkdirSync(local);
    for (const n of ["a.bin", "b.bin", "c.bin"]) writeFileSync(join(local, n), payload());
    const r = await runFtpkit(["put", "-r", local, `ftp://u:p@127.0.0.1:${fake.port}/dst`, "--parallel", "2", "--json"], { cwd: t.work });
    expect(r.code).not.toBe(0);
    expect(fake.commands.filter((c) => c.startsWith("USER "))).toHaveLength(2);
    const res = [...results(r.stdout).values()];
    expect(res).toHaveLength(3);
    expect(res.filter((x) => x.includes("Exceeded storage allocation"))).not.toHaveLength(0);
  });
});
