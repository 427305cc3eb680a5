// End-to-end verification: HASH, legacy X-verbs, size-only fallback, corruption, retries after a drop.
// (What a job does with a server's other conduct, sessions that end mid-job among it: server-conduct.test.ts.)
import { afterEach, beforeEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getFile, putFile, type TransferOptions } from "../../client/operations.ts";
import { digest, removeDir, runFtpkit, tempDir, transferOptions } from "../helpers/peers.ts";
import { startFakeServer } from "./fake-server.ts";
import { sendsFile, startScriptedServer } from "./scripted-server.ts";
import { HASH_FEAT, payload, putTree } from "./job-fixtures.ts";
import type { FakeServer } from "./fake-server-options.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let work: string;
let fake: FakeServer | null = null;

const opts = (over: Partial<TransferOptions> = {}) => transferOptions(work, over);

beforeEach(() => {
  work = tempDir();
});

afterEach(() => {
  fake?.stop();
  fake = null;
  removeDir(work);
});

describe("download verification", () => {
  test("verifies with HASH (SHA-256 and MD5)", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/f.bin`;
    const r = await getFile(url, join(work, "f.bin"), opts());
    expect(r.verifiedBy).toBe("verified by HASH");
    expect(r.digest).toBe(digest(data));
    const r2 = await getFile(url, join(work, "g.bin"), opts({ hash: "md5" }));
    expect(r2.digest).toBe(digest(data, "md5"));
    expect(fake.commands).toContain("OPTS HASH MD5");
    expect(fake.commands).toContain("HASH /f.bin");
  });

  test("falls back to XSHA256 / XMD5 without HASH", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: ["SIZE"], legacyHash: true });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/f.bin`;
    expect((await getFile(url, join(work, "a"), opts())).verifiedBy).toBe("verified by XSHA256");
    expect((await getFile(url, join(work, "b"), opts({ hash: "md5" }))).verifiedBy).toBe("verified by XMD5");
  });

  test("--no-verify asks for no digest", async () => {
    fake = startFakeServer({ files: new Map([["/f.bin", payload()]]), feat: HASH_FEAT });
    const r = await getFile(`ftp://u:p@127.0.0.1:${fake.port}/f.bin`, join(work, "f"), opts({ verify: false }));
    expect(r.verifiedBy).toBe("size verified, digest not requested");
    expect(fake.commands.some((c) => c.startsWith("HASH"))).toBe(false);
  });

  test("a flipped byte is detected; the bad data is set aside and a good file is never replaced", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, flipByteAt: 12345 });
    writeFileSync(join(work, "f.bin"), "the good old file");
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "f.bin"], { cwd: work });
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/sha256 mismatch/);
    expect(r.stderr).toContain("f.bin.ftpkit-corrupt");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(readFileSync(join(work, "f.bin"), "utf8")).toBe("the good old file");
    const bad = readFileSync(join(work, "f.bin.ftpkit-corrupt"));
    expect(bad.length).toBe(data.length);
    expect(digest(bad)).not.toBe(digest(data));
    expect(existsSync(join(work, "f.bin.ftpkit-part"))).toBe(false);
    expect(existsSync(join(work, ".ftpkit"))).toBe(false); // no record, and no empty journal left
  });

  test("a server that stays down after the drop: once --retries fail to reach it, the error still says what was kept and to resume", async () => {
    fake = startFakeServer({ files: new Map([["/f.bin", payload()]]), feat: HASH_FEAT, dropRetrAfter: 50_000, goneAfterDrop: true });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "1"], { cwd: work });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/connection refused; gave up after 2 attempts \(--retries 1\); 50000 bytes kept, run `ftpkit resume` to continue/);
    expect(readFileSync(join(work, "f.bin.ftpkit-part")).length).toBe(50_000);
    writeFileSync(join(work, "u.bin"), payload());
    fake.stop();
    fake = startFakeServer({ feat: HASH_FEAT, dropStorAfter: 50_000, goneAfterDrop: true });
    const up = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "1"], { cwd: work });
    expect(up.code).toBe(4);
    expect(up.stderr).toMatch(/connection refused; gave up after 2 attempts \(--retries 1\); run `ftpkit resume` to continue the upload/);
    expect(readdirSync(join(work, ".ftpkit", "transfers"))).toHaveLength(2); // both records kept
  });

  test("--json of a single get or put that fails after moving data reports the bytes it moved", async () => {
    fake = startFakeServer({ files: new Map([["/f.bin", payload()]]), feat: HASH_FEAT, dropRetrAfter: 50_000, goneAfterDrop: true });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0", "--json"], { cwd: work });
    expect(r.code).toBe(4);
    const got = JSON.parse(r.stdout);
    expect(got).toMatchObject({ copied: 0, failed: 1, bytesMoved: 50_000 });
    expect(got.files[0]).toMatchObject({ path: join(work, "f.bin"), bytes: 50_000 });
    expect(got.files[0].result).toMatch(/^failed: .*50000 bytes kept/);
    writeFileSync(join(work, "u.bin"), payload());
    fake.stop();
    fake = startFakeServer({ feat: HASH_FEAT, dropStorAfter: 50_000, goneAfterDrop: true });
    const up = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "0", "--json"], { cwd: work });
    expect(up.code).toBe(4);
    const put = JSON.parse(up.stdout);
    // What the socket took before the drop: at least what the server kept, at most the file.
    expect(put.files[0].bytes).toBeGreaterThanOrEqual(50_000);
    expect(put.files[0].bytes).toBeLessThanOrEqual(200_000);
    expect(put.bytesMoved).toBe(put.files[0].bytes);
  });

  test("--hash crc32: verified by HASH CRC32, and a flipped byte is detected", async () => {
    const data = payload();
    const feat = ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*;MD5;CRC32"];
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat });
    const good = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "good.bin", "--hash", "crc32"], { cwd: work });
    expect(good.code).toBe(0);
    expect(good.stderr).toContain(`crc32 ${digest(data, "crc32")} (verified by HASH)`);
    expect(fake.commands).toContain("OPTS HASH CRC32");
    fake.stop();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat, flipByteAt: 4321 });
    const bad = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "bad.bin", "--hash", "crc32"], { cwd: work });
    expect(bad.code).toBe(9);
    expect(bad.stderr).toMatch(/crc32 mismatch/);
    expect(existsSync(join(work, "bad.bin"))).toBe(false);
    expect(existsSync(join(work, "bad.bin.ftpkit-corrupt"))).toBe(true);
  });

  test("a server with neither HASH nor SIZE: the note says not verified, as the file's line does, not \"verified size only\"", async () => {
    // The scripted server answers 502 to SIZE and HASH: only RETR is scripted.
    const scripted = startScriptedServer({ feat: ["UTF8"], on: { RETR: sendsFile(payload()) } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${scripted.port}/f.bin`], { cwd: work }).finally(() => scripted.stop());
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server offers no hash; not verified (no size either)");
    expect(r.stderr).toContain("200000 bytes");
    expect(r.stderr).toContain("not verified");
    expect(r.stderr).not.toContain("verified size only");
  });

  test("--hash crc32 against a server without CRC32 checks the size and names the digests it has", async () => {
    fake = startFakeServer({ files: new Map([["/f.bin", payload()]]), feat: HASH_FEAT });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--hash", "crc32"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server offers no crc32 hash (HASH SHA-256*;MD5); verified size only");
    expect(fake.commands.some((c) => c.startsWith("HASH "))).toBe(false);
  });

  test("a flipped byte is detected with legacy XMD5 too", async () => {
    fake = startFakeServer({ files: new Map([["/f.bin", payload()]]), feat: [], legacyHash: true, flipByteAt: 0 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--hash", "md5"], { cwd: work });
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/md5 mismatch/);
    expect(existsSync(join(work, "f.bin"))).toBe(false);
  });

  test("a dropped connection is retried and continues from the last byte (REST)", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, dropRetrAfter: 70_000 });
    const r = await getFile(`ftp://u:p@127.0.0.1:${fake.port}/f.bin`, join(work, "f.bin"), opts({ retries: 2 }));
    expect(r.verifiedBy).toBe("verified by HASH");
    expect(digest(readFileSync(join(work, "f.bin")))).toBe(digest(data));
    expect(fake.retrBytes[0]).toBe(70_000);
    expect(fake.retrBytes[1]).toBe(data.length - 70_000);
    expect(fake.commands).toContain("REST 70000");
  });

  test("without retries a dropped connection fails and leaves the partial file for resume", async () => {
    fake = startFakeServer({ files: new Map([["/f.bin", payload()]]), feat: HASH_FEAT, dropRetrAfter: 50_000 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: work });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("ftpkit resume");
    expect(readFileSync(join(work, "f.bin.ftpkit-part")).length).toBe(50_000);
    expect(readdirSync(join(work, ".ftpkit", "transfers"))).toHaveLength(1);
    // resume verifies the prefix with a ranged HASH and moves only the rest
    const again = await runFtpkit(["resume"], { cwd: work, env: { FTPKIT_PASSWORD: "p" } });
    expect(again.stderr).toContain("partial data verified");
    expect(again.code).toBe(0);
    expect(fake.commands).toContain("RANG 0 49999"); // the first 50,000 bytes, END inclusive
    expect(fake.retrBytes.at(-1)).toBe(200_000 - 50_000);
    expect(existsSync(join(work, ".ftpkit"))).toBe(false); // no record, and no empty journal left
  });
});

describe("a HASH the server lists but does not answer", () => {
  test("421 (shutting down) after the last byte: the HASH is asked again on a new connection, and the download ends verified without moving a byte twice", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, refuseHash: { reply: "421 Server shutting down", times: 1 } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("HASH /f.bin: Server shutting down (421); reconnecting (attempt 1 of 3)");
    expect(r.stderr).toContain("(verified by HASH)");
    expect(digest(readFileSync(join(work, "f.bin")))).toBe(digest(data));
    expect(fake.commands.filter((c) => c.startsWith("RETR"))).toHaveLength(1);
    expect(fake.commands.filter((c) => c.startsWith("HASH"))).toHaveLength(2);
  });

  test("421 (shutting down) after the last byte with --retries 0: not called verified; kept, and resume verifies it without moving it again", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, refuseHash: { reply: "421 Server shutting down", times: 1 } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("HASH /f.bin: Server shutting down (421)");
    expect(r.stderr).toContain("run `ftpkit resume` to continue");
    expect(existsSync(join(work, "f.bin"))).toBe(false);
    const again = await runFtpkit(["resume"], { cwd: work, env: { FTPKIT_PASSWORD: "p" } });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("(verified by HASH)");
    expect(digest(readFileSync(join(work, "f.bin")))).toBe(digest(data));
    // The resume checked the part by a ranged HASH and asked for nothing before its end.
    expect(fake.commands).toContain(`REST ${data.length}`);
    expect(again.stderr).toContain("(0 moved in this run)");
  });

  test("an upload whose check gets 421 from a server that then stays down says all bytes were sent and only the check is missing", async () => {
    fake = startFakeServer({ feat: HASH_FEAT, refuseHash: { reply: "421 Server shutting down", times: 1 }, goneAfterDrop: true });
    writeFileSync(join(work, "u.bin"), payload());
    const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "1"], { cwd: work });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("all 200000 bytes were sent, only their check is missing: run `ftpkit resume` to verify the upload");
    expect(fake.files.get("/u.bin")?.length).toBe(200_000);
  });

  test("a permanent refusal (504) is quoted in the note, not taken for a server without that digest", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, refuseHash: { reply: "504 Not for this file", times: 1 } });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server did not give the sha256 digest (HASH: Not for this file (504)); verified size only");
    expect(r.stderr).not.toContain("offers no");
  });
});

describe("no digest to compare with", () => {
  test("a server without HASH or XSHA256 is probed once at login (bare XSHA256), and no local digest is computed", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: ["SIZE"] });
    const r = await getFile(`ftp://u:p@127.0.0.1:${fake.port}/f.bin`, join(work, "f.bin"), opts());
    expect(r.verifiedBy).toBe("size verified only");
    expect(r.digest).toBe("");
    expect(digest(readFileSync(join(work, "f.bin")))).toBe(digest(data));
    // Asked once, bare, before the transfer; not again with the file's name after it.
    expect(fake.commands.filter((c) => c.startsWith("XSHA256"))).toEqual(["XSHA256"]);
    expect(fake.commands.indexOf("XSHA256")).toBeLessThan(fake.commands.findIndex((c) => c.startsWith("RETR")));
  });

  test("get -r --json: each file's entry says why it is not verified by digest", async () => {
    fake = startFakeServer({ files: new Map([["/t/a.bin", payload()], ["/t/b.bin", payload()]]), feat: ["SIZE"] });
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "t", "--json"], { cwd: work });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { files: { path: string; result: string; whyUnverified?: string }[] };
    const why = "the server offers no hash; verified size only";
    expect(report.files.map((f) => [f.path, f.result, f.whyUnverified]).sort()).toEqual([["a.bin", "size verified only", why], ["b.bin", "size verified only", why]]);
  });

  test("a server with XSHA256 that FEAT does not list still verifies by it", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: ["SIZE"], legacyHash: true });
    const r = await getFile(`ftp://u:p@127.0.0.1:${fake.port}/f.bin`, join(work, "f.bin"), opts());
    expect(r.verifiedBy).toBe("verified by XSHA256");
    expect(r.digest).toBe(digest(data));
  });

  test("--hash given: an interrupted download resumed with `ftpkit resume` still reports the digest", async () => {
    const data = payload();
    fake = startFakeServer({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "REST STREAM"], dropRetrAfter: 50_000 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0", "--hash", "sha256"], { cwd: work });
    expect(r.code).toBe(4);
    const again = await runFtpkit(["resume"], { cwd: work, env: { FTPKIT_PASSWORD: "p" } });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`sha256 ${digest(data)} (size verified only)`);
    expect(digest(readFileSync(join(work, "f.bin")))).toBe(digest(data));
  });
});

describe("upload verification", () => {
  test("put -r to a server without SITE CHMOD: executables are uploaded, SITE CHMOD is tried once per connection and the job says so once", async () => {
    fake = startFakeServer({ feat: HASH_FEAT });
    const local = join(work, "tree");
    mkdirSync(local);
    for (const n of ["a.sh", "b.sh"]) {
      writeFileSync(join(local, n), payload());
      chmodSync(join(local, n), 0o755);
    }
    writeFileSync(join(local, "c.txt"), payload());
    const r = await runFtpkit(["put", "-r", local, `ftp://u:p@127.0.0.1:${fake.port}/dst`, "--parallel", "1"], { cwd: work });
    expect(r.code).toBe(0);
    expect(fake.commands.filter((c) => c.startsWith("SITE"))).toEqual(["SITE CHMOD 755 /dst/a.sh"]);
    expect(r.stderr.split("did not make uploaded executables executable").length - 1).toBe(1);
    for (const n of ["a.sh", "b.sh", "c.txt"]) expect(digest(fake.files.get(`/dst/${n}`)!)).toBe(digest(readFileSync(join(local, n))));
  });

  test("verifies with HASH", async () => {
    fake = startFakeServer({ feat: HASH_FEAT });
    const data = payload();
    writeFileSync(join(work, "u.bin"), data);
    const r = await putFile(join(work, "u.bin"), `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, opts());
    expect(r.verifiedBy).toBe("verified by HASH");
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
  });

  test("after the upload, HASH alone checks it (no SIZE); without a digest, SIZE does", async () => {
    writeFileSync(join(work, "u.bin"), payload());
    const after = () => fake!.commands.slice(fake!.commands.indexOf("STOR /u.bin") + 1);
    fake = startFakeServer({ feat: HASH_FEAT });
    expect((await putFile(join(work, "u.bin"), `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, opts())).verifiedBy).toBe("verified by HASH");
    expect(after()).toContain("HASH /u.bin");
    expect(after()).not.toContain("SIZE /u.bin");
    fake.stop();
    fake = startFakeServer({ feat: ["SIZE", "MDTM", "REST STREAM"] });
    expect((await putFile(join(work, "u.bin"), `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, opts())).verifiedBy).toBe("size verified only");
    expect(after()).toContain("SIZE /u.bin");
  });

  test("a dropped upload is retried: SIZE, ranged HASH of the remote prefix, REST + STOR", async () => {
    fake = startFakeServer({ feat: HASH_FEAT, dropStorAfter: 60_000 });
    const data = payload();
    writeFileSync(join(work, "u.bin"), data);
    const r = await putFile(join(work, "u.bin"), `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, opts({ retries: 2 }));
    expect(r.verifiedBy).toBe("verified by HASH");
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    expect(fake.commands).toContain("RANG 0 59999");
    expect(fake.commands).toContain("REST 60000");
    expect(r.moved).toBeLessThan(2 * data.length);
  });

  test("an upload the server closes between two writes (FIN, as a killed server's sockets end) is retried and ends verified", async () => {
    fake = startFakeServer({ feat: HASH_FEAT, dropStorAfter: 100_000, dropStorGently: true });
    // Paced by the rate limit (64 KiB every 125 ms), so a write comes after the close.
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(600_000)));
    writeFileSync(join(work, "u.bin"), data);
    const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "2", "--limit-rate", "512K"], { cwd: work });
    expect(r.stderr).toMatch(/connection lost after \d+ bytes: connection closed; reconnecting \(attempt 1 of 2\)/);
    expect(r.code).toBe(0);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
  });

  test("a digest mismatch after an upload is reported with a non-zero exit", async () => {
    fake = startFakeServer({ feat: HASH_FEAT, lieAboutHashOf: "/u.bin" });
    writeFileSync(join(work, "u.bin"), payload());
    const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`], { cwd: work });
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/upload verification failed/);
  });

  test("an upload whose connection drops while the server computes its digest reconnects, sends nothing again and ends verified", async () => {
    fake = startFakeServer({ feat: HASH_FEAT, dropOnFirstHash: true });
    const data = payload();
    writeFileSync(join(work, "u.bin"), data);
    const r = await putFile(join(work, "u.bin"), `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, opts({ retries: 2 }));
    expect(r.verifiedBy).toBe("verified by HASH");
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    expect(r.moved).toBe(data.length);
    // Verified where it is: its digest vouches for every byte, so no REST at the end and STOR of nothing.
    expect(fake.commands.filter((c) => /^(STOR|REST)/.test(c))).toEqual(["STOR /u.bin"]);
  });

  test("a tree upload reports the one file whose digest mismatches, verifies the files after it on the same connection, and exits non-zero", async () => {
    fake = startFakeServer({ feat: HASH_FEAT, lieAboutHashOf: "/dst/b.bin" });
    const { r, bytes } = await putTree(fake, work);
    expect(r.code).toBe(9);
    const report = JSON.parse(r.stdout) as { files: { path: string; result: string }[] };
    const result = new Map(report.files.map((f) => [f.path, f.result]));
    expect(result.get("a.bin")).toBe("verified by HASH");
    expect(result.get("b.bin")).toMatch(/^failed: upload verification failed/);
    expect(result.get("c.bin")).toBe("verified by HASH");
    for (const [n, data] of bytes) expect(digest(fake.files.get(`/dst/${n}`)!)).toBe(digest(data));
  });

  test("resuming an upload on a server that refuses REST appends with APPE", async () => {
    const data = payload();
    fake = startFakeServer({ feat: ["SIZE", "HASH SHA-256*;MD5"], noRest: true });
    fake.files.set("/u.bin", data.subarray(0, 80_000));
    writeFileSync(join(work, "u.bin"), data);
    // Fabricate the journal record an interrupted `put` leaves behind.
    const first = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "0"], { cwd: work });
    expect(first.code).toBe(0); // a fresh put starts from zero with STOR
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    // Now cut the remote file and resume through the API.
    fake.files.set("/u.bin", data.subarray(0, 80_000));
    const { runUpload } = await import("../../client/operations.ts");
    const { parseFtpUrl } = await import("../../protocol/url.ts");
    const st = Bun.file(join(work, "u.bin"));
    const stat = await st.stat();
    const { saveRecord } = await import("../../client/journal.ts");
    const rec = {
      id: "x",
      direction: "put",
      url: `ftp://u@127.0.0.1:${fake.port}/u.bin`,
      local: join(work, "u.bin"),
      remoteSize: null,
      remoteMtime: null,
      localSize: stat.size,
      localMtimeMs: stat.mtimeMs,
      hash: "sha256",
      verify: true,
      startedAt: new Date().toISOString(),
    } as const;
    // In the journal, as an interrupted put leaves it (a resume reads it again before it runs).
    saveRecord(rec, opts().journal);
    const r = await runUpload(parseFtpUrl(`ftp://u:p@127.0.0.1:${fake.port}/u.bin`), rec, opts(), true);
    expect(r.verifiedBy).toBe("verified by HASH");
    expect(fake.commands.filter((c) => c.startsWith("APPE"))).toHaveLength(1);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    expect(r.moved).toBe(data.length - 80_000);
  });
});
