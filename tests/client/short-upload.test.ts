// An upload the server answers 226 for but stores short (a data connection a relay cut with a FIN):
// continued from the server's size within --retries, as a drop is, not taken for corruption; a longer
// one stays a verification failure.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

setDefaultTimeout(60_000); // CLI processes; see BUN-NOTES on the preload

const t = useFakeServerWork();

const payload = () => Buffer.from(crypto.getRandomValues(new Uint8Array(200_000)));
const HASH_FEAT = ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*;MD5"];
/** vsftpd's: no digest command, so the size is the upload's only check. */
const SIZE_FEAT = ["SIZE", "MDTM", "REST STREAM"];
const CUT = 65_536;

describe("the server's copy after an upload's 226", () => {
  for (const [server, feat] of [
    ["with HASH", HASH_FEAT],
    ["with SIZE only", SIZE_FEAT],
  ] as const) {
    test(`put to a server ${server} continues at the server's size with REST+STOR and exits 0`, async () => {
      const fake = t.start({ feat: [...feat], storeShortOnce: CUT });
      const data = payload();
      writeFileSync(join(t.work, "u.bin"), data);
      const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "2"], { cwd: t.work });
      expect(r.stderr).toContain(`the server stored ${CUT} of the ${data.length} bytes sent (the data connection was cut short); reconnecting (attempt 1 of 2)`);
      expect(r.stderr).not.toContain("verification failed");
      expect(r.code).toBe(0);
      expect(fake.commands).toContain(`REST ${CUT}`);
      expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    });
  }

  test("put with --retries 0 exits 4 and says `ftpkit resume` continues it; resume does", async () => {
    const fake = t.start({ feat: SIZE_FEAT, storeShortOnce: CUT });
    const data = payload();
    writeFileSync(join(t.work, "u.bin"), data);
    const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "0"], { cwd: t.work });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("to continue the upload");
    const resumed = await runFtpkit(["resume"], { cwd: t.work });
    expect(resumed.code).toBe(0);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
  });

  for (const [server, feat] of [
    ["with HASH", HASH_FEAT],
    ["with SIZE only", SIZE_FEAT],
  ] as const) {
    test(`a remote file longer than the one sent, on a server ${server}, stays a verification failure (exit 9, not retried)`, async () => {
      const fake = t.start({ feat: [...feat], storeExtraOnce: 10 });
      writeFileSync(join(t.work, "u.bin"), payload());
      const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "2"], { cwd: t.work });
      expect(r.code).toBe(9);
      expect(r.stderr).toMatch(feat === SIZE_FEAT ? /upload verification failed: the server has 200010 bytes, the local file has 200000/ : /upload verification failed: sent sha256 /);
      expect(fake.commands.filter((c) => c.startsWith("STOR"))).toHaveLength(1);
    });
  }

  for (const verb of ["put -r", "sync"] as const) {
    test(`${verb} of a tree tries the short file again and exits 0`, async () => {
      const fake = t.start({ feat: SIZE_FEAT, storeShortOnce: CUT });
      const local = join(t.work, "tree");
      mkdirSync(local);
      const bytes = new Map(["a.bin", "b.bin"].map((n) => [n, payload()] as const));
      for (const [n, data] of bytes) writeFileSync(join(local, n), data);
      const args = verb === "sync" ? ["sync"] : ["put", "-r"];
      const r = await runFtpkit([...args, local, `ftp://u:p@127.0.0.1:${fake.port}/dst`, "--parallel", "1", "--retries", "2"], { cwd: t.work });
      expect(r.stderr).toMatch(/a\.bin: the server stored 65536 of the 200000 bytes sent \(the data connection was cut short\); trying it again \(attempt 1 of 2\)/);
      expect(r.code).toBe(0);
      for (const [n, data] of bytes) expect(digest(fake.files.get(`/dst/${n}`)!)).toBe(digest(data));
    });
  }
});
