// A server without a digest (vsftpd, pyftpdlib) whose control connection drops right after a
// transfer's 226 (vsftpd's "500 OOPS" and its close): the check that follows (SIZE after an upload,
// MDTM after a download) is not answered, and that is no answer: it is asked again on a new
// connection, or the job ends resumable (exit 4), never "verified" or "unchanged" by default.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

setDefaultTimeout(60_000); // CLI processes

const t = useFakeServerWork();
const payload = () => Buffer.from(crypto.getRandomValues(new Uint8Array(200_000)));
/** vsftpd's: no digest command, so the size (and the time) are the only checks. */
const SIZE_FEAT = ["SIZE", "MDTM", "REST STREAM"];

describe("a server without a digest that drops the connection after an upload's 226", () => {
  test("put checks the size on a new connection (exit 0, size verified), not 'not verified' as if the server had no SIZE", async () => {
    const data = payload();
    writeFileSync(join(t.work, "u.bin"), data);
    // Which SIZE follows the 226: the ones before it (the remote file's state) are answered.
    const probe = t.start({ feat: SIZE_FEAT });
    await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${probe.port}/u.bin`], { cwd: t.work });
    const nth = probe.commands.filter((c) => c.startsWith("SIZE")).length;
    const fake = t.start({ feat: SIZE_FEAT, dropOnSize: nth });
    const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u2.bin`, "--retries", "2"], { cwd: t.work });
    // Before: "the server offers no hash; not verified (no size either)", exit 0, and nothing to resume.
    expect(r.stderr).not.toContain("no size either");
    expect(r.stderr).toContain("reconnecting (attempt 1 of 2)");
    expect(r.code).toBe(0);
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(2);
    expect(digest(fake.files.get("/u2.bin")!)).toBe(digest(data));
  });
});

describe("a server without a digest that drops the connection before the time asked after a download's 226", () => {
  test("get does not take the missing answer for 'unchanged': exit 4, resume checks again and ends verified by size", async () => {
    const data = payload();
    const files = new Map([["/d.bin", data]]);
    const probe = t.start({ files: new Map(files), feat: SIZE_FEAT });
    await runFtpkit(["get", `ftp://u:p@127.0.0.1:${probe.port}/d.bin`, "probe.bin"], { cwd: t.work });
    const nth = probe.commands.filter((c) => c.startsWith("MDTM")).length; // the last one: after the 226
    const fake = t.start({ files, feat: SIZE_FEAT, dropOnMdtm: nth });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/d.bin`, "d.bin", "--retries", "0"], { cwd: t.work });
    // Before: exit 0, "size verified only", the time never compared.
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("ftpkit resume");
    const resumed = await runFtpkit(["resume"], { cwd: t.work });
    expect(resumed.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "d.bin")))).toBe(digest(data));
  });
});


// vsftpd whose privileged process died during the transfer: 226, then "500 OOPS" unasked, read as
// the check's reply before the close. A refusal counts only on a session that goes on (a NOOP).
describe("a refusal read as the check's reply, the server hanging up after it (vsftpd's 500 OOPS)", () => {
  test("put checks the size on a new connection (exit 0, size verified), not 'not verified (no size either)'", async () => {
    const data = payload();
    writeFileSync(join(t.work, "u.bin"), data);
    const fake = t.start({ feat: SIZE_FEAT, oopsAfterTransfer: 1 });
    const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "2"], { cwd: t.work });
    // Before: exit 0, "the server offers no hash; not verified (no size either)", one connection.
    expect(r.stderr).not.toContain("no size either");
    expect(r.stderr).toContain("its reply to SIZE was a refusal, then it hung up); reconnecting (attempt 1 of 2)");
    expect(r.stderr).toContain("size verified only");
    expect(r.code).toBe(0);
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(2);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
  });

  test("get compares the time on a new connection (exit 0), not 'no time to compare' on the dying one", async () => {
    const data = payload();
    const fake = t.start({ files: new Map([["/d.bin", data]]), feat: SIZE_FEAT, oopsAfterTransfer: 1 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/d.bin`, "d.bin", "--retries", "2"], { cwd: t.work });
    // Before: exit 0 on one connection, the file's time after the download never compared.
    expect(r.stderr).toContain("its reply to MDTM was a refusal, then it hung up); reconnecting (attempt 1 of 2)");
    expect(r.code).toBe(0);
    const afterLogin = fake.commands.slice(fake.commands.lastIndexOf("USER u"));
    expect(afterLogin).toContain("MDTM /d.bin");
    expect(afterLogin.some((c) => c.startsWith("RETR"))).toBe(false); // only the check, not the data again
    expect(digest(readFileSync(join(t.work, "d.bin")))).toBe(digest(data));
  });
});
