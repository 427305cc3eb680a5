// A server without REST (500, 502 or 504: unknown, not implemented, not for that parameter), or one
// that answers it 350 and sends from byte 0 anyway, must not dead-end the client: --segments falls
// back to one stream, a resumed or retried download starts over, an upload with neither REST nor
// APPE is sent whole. And a resumed download whose remote file is gone is forgotten once, its part
// file kept.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startPyftpd, tempDir, waitFor } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { startScriptedServer } from "./scripted-server.ts";

setDefaultTimeout(60_000);

const t = useFakeServerWork();
const HASH_FEAT = ["SIZE", "MDTM", "HASH SHA-256*;MD5"];

const records = (cwd: string) => {
  const d = join(cwd, ".ftpkit", "transfers");
  return existsSync(d) ? readdirSync(d).filter((n) => n.endsWith(".json")) : [];
};
const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);

describe("get --segments against a server without REST", () => {
  for (const code of [500, 502, 504] as const) {
    test(`REST answered ${code}: one stream instead (the file's bytes sent once), one line on stderr, verified`, async () => {
      const data = randomBytes(5 * 1024 * 1024 + 3);
      const fake = t.start({ files: new Map([["/big.bin", data]]), feat: HASH_FEAT, noRest: code });
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/big.bin`, "--segments", "3"], { cwd: t.work });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`the server does not support REST (REST not implemented (${code})): downloading in one stream instead of 3 segments`);
      expect(r.stderr).toContain("(verified by HASH)");
      // Every segment asks REST first, the one at byte 0 too: no segment streamed before the refusal.
      expect(fake.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR /big.bin"]);
      expect(digest(readFileSync(join(t.work, "big.bin")))).toBe(digest(data));
      expect(records(t.work)).toEqual([]);
      expect(existsSync(join(t.work, "big.bin.ftpkit-part"))).toBe(false);
    });
  }

  test("pyftpdlib without REST (500 Command not understood): one stream, size-checked, byte-identical", async () => {
    const py = await startPyftpd({ noRest: true });
    try {
      const data = randomFile(join(py.root, "seg.bin"), 5 * 1024 * 1024 + 1);
      const r = await runFtpkit(["get", py.url("/seg.bin"), "--segments", "3"], { cwd: t.work });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("downloading in one stream instead of 3 segments");
      expect(r.stderr).toContain("size verified only");
      expect(digest(readFileSync(join(t.work, "seg.bin")))).toBe(digest(data));
    } finally {
      await py.stop();
      removeDir(py.root);
    }
  });
});

describe("a download that cannot continue at a byte starts over", () => {
  test("ftpkit resume after a killed get: the part file is fetched again from byte 0, verified", async () => {
    const data = randomBytes(400_000);
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, noRest: true, stallRetrAfter: 150_000 });
    const part = join(t.work, "f.bin.ftpkit-part");
    const proc = spawnFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`], { cwd: t.work });
    try {
      await waitFor(() => sizeOf(part) >= 150_000, 15_000, "the first bytes to land");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    expect(records(t.work)).toHaveLength(1);
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server does not support REST (REST not implemented (502)): downloading /f.bin again from byte 0 instead of continuing at byte 150000");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
    expect(fake.retrBytes.at(-1)).toBe(data.length); // the whole file, not a tail spliced onto the old head
    expect(records(t.work)).toEqual([]);
  });

  test("a connection dropped mid-download is retried from byte 0 in the same run", async () => {
    const data = randomBytes(300_000);
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, noRest: 504, dropRetrAfter: 100_000 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "2"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("downloading /f.bin again from byte 0 instead of continuing at byte 100000");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
    expect(fake.retrBytes).toEqual([100_000, data.length]);
  });
});

describe("a server that answers REST with 350 and sends from byte 0 anyway", () => {
  test("a download cut short is retried from byte 0 in the same run, one line saying why, byte-identical", async () => {
    const data = randomBytes(300_000);
    let retrs = 0;
    const srv = startScriptedServer({
      feat: ["SIZE", "REST STREAM"],
      on: {
        SIZE: (c) => c.reply(213, String(data.length)),
        REST: (c) => c.reply(350, "Restarting"),
        RETR: async (c) => {
          const d = await c.data();
          c.reply(150, "Opening data connection");
          // The first: 100,000 bytes and an end the client sees as cut short; then the whole file each time.
          await d.send(retrs++ === 0 ? data.subarray(0, 100_000) : data);
          d.end();
          c.reply(retrs === 1 ? 426 : 226, retrs === 1 ? "Connection closed; transfer aborted" : "Transfer complete");
        },
      },
    });
    try {
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/f.bin`, "--retries", "2"], { cwd: t.work });
      // Before: exit 7, "the server sent more than the 200000 bytes it reported for /f.bin (is the file still growing?)".
      expect(r.stderr).toContain("[warn] the server ignores REST (after REST 100000 it sent more than the file's 200000 bytes from there): downloading /f.bin again from byte 0");
      expect(r.code).toBe(0);
      expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
      expect(srv.commands.filter((c) => /^(REST|RETR)/.test(c))).toEqual(["RETR /f.bin", "REST 100000", "RETR /f.bin", "RETR /f.bin"]);
    } finally {
      srv.stop();
    }
  });
});

describe("what a resumed transfer says against a server without REST: only what happens, in one line", () => {
  /** stderr without the last line (the file's summary: "f.bin: 300000 bytes in …"). */
  const messages = (stderr: string) => stderr.trim().split("\n").filter((l) => !/^[fu]\.bin: \d+ bytes/.test(l));
  const NO_REST = "the server does not support REST (REST not implemented (502))";
  const SIZE_ONLY = "[info] the server offers no hash; verified size only";
  for (const [what, feat] of [["with a ranged HASH", HASH_FEAT], ["without a hash", ["SIZE", "MDTM"]]] as const) {
    test(`resume of a get ${what}: the one line says it starts over, none says it resumes at a byte`, async () => {
      const data = randomBytes(300_000);
      const fake = t.start({ files: new Map([["/f.bin", data]]), feat: [...feat], noRest: true, dropRetrAfter: 100_000 });
      const first = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: t.work });
      expect(first.code).toBe(4);
      const r = await runFtpkit(["resume"], { cwd: t.work });
      expect(r.code).toBe(0);
      const starting = `[warn] ${NO_REST}: downloading /f.bin again from byte 0 instead of continuing at byte 100000`;
      expect(messages(r.stderr)).toEqual(feat === HASH_FEAT ? [starting] : [starting, SIZE_ONLY]);
      expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
      expect(fake.retrBytes.at(-1)).toBe(data.length);
    });

    test(`resume of a put ${what}, APPE offered: one line says it appends at the byte, once APPE took it`, async () => {
      const data = randomBytes(300_000);
      writeFileSync(join(t.work, "u.bin"), data);
      const fake = t.start({ feat: [...feat], noRest: true, dropStorAfter: 100_000 });
      const first = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "0"], { cwd: t.work });
      expect(first.code).toBe(4);
      const r = await runFtpkit(["resume"], { cwd: t.work });
      expect(r.code).toBe(0);
      const checked = feat === HASH_FEAT ? "remote partial data verified (100000 bytes, sha256 via ranged HASH)" : "cannot verify the partial data (the server offers no ranged hash)";
      const appending = `[info] ${checked}; ${NO_REST}: appending at byte 100000 with APPE`;
      expect(messages(r.stderr)).toEqual(feat === HASH_FEAT ? [appending] : [appending, SIZE_ONLY]);
      expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
      expect(fake.commands.filter((c) => /^(STOR|APPE|REST)/.test(c))).toEqual(["STOR /u.bin", "REST 100000", "APPE /u.bin"]);
    });
  }

  test("resume of a put on a server with neither REST nor APPE: one line says it is sent again from byte 0", async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(t.work, "u.bin"), data);
    const fake = t.start({ feat: HASH_FEAT, noRest: true, noAppe: true, dropStorAfter: 100_000 });
    const first = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "0"], { cwd: t.work });
    expect(first.code).toBe(4);
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(messages(r.stderr)).toEqual(["[warn] the server has neither REST nor APPE (APPE /u.bin: Command not implemented (502)); uploading /u.bin again from byte 0"]);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
  });

  test("against a server with REST the resumed get still says where it continues", async () => {
    const data = randomBytes(300_000);
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "MDTM", "REST STREAM"], dropRetrAfter: 100_000 });
    expect((await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(messages(r.stderr)).toEqual(["[info] cannot verify the partial data (the server offers no ranged hash); resuming at byte 100000", SIZE_ONLY]);
    expect(fake.commands).toContain("REST 100000");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
  });
});

describe("get URL - whose connection drops, on a server without REST", () => {
  test("cannot start over (the bytes are out already): one line says how far standard output got, no stack trace, exit 4", async () => {
    const data = randomBytes(300_000);
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, noRest: 500, dropRetrAfter: 100_000 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "-", "--retries", "2"], { cwd: t.work });
    expect(r.out.length).toBe(100_000);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const last = r.stderr.trim().split("\n").at(-1)!;
    expect(last).toBe(
      `[error] the server does not support REST (REST not implemented (500)): standard output has only the first 100000 of 300000 bytes of ftp://u@127.0.0.1:${fake.port}/f.bin, and a stream cannot start over; run the command again`,
    );
    expect(r.code).toBe(4);
  });
});

describe("an upload to a server with neither REST nor APPE is sent whole", () => {
  test("ftpkit resume of an interrupted put: STOR from byte 0, verified", async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(t.work, "u.bin"), data);
    const fake = t.start({ feat: HASH_FEAT, noRest: true, noAppe: true, dropStorAfter: 100_000 });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/u.bin`;
    const first = await runFtpkit(["put", "u.bin", url, "--retries", "0"], { cwd: t.work });
    expect(first.code).toBe(4);
    expect(fake.files.get("/u.bin")?.length).toBe(100_000);
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server has neither REST nor APPE");
    expect(r.stderr).toContain("uploading /u.bin again from byte 0");
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    expect(fake.commands.filter((c) => c.startsWith("STOR"))).toEqual(["STOR /u.bin", "STOR /u.bin"]);
    expect(records(t.work)).toEqual([]);
  });

  test("a put whose connection drops is retried whole in the same run", async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(t.work, "u.bin"), data);
    const fake = t.start({ feat: HASH_FEAT, noRest: 500, noAppe: true, dropStorAfter: 100_000 });
    const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "2"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server has neither REST nor APPE");
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
  });
});

describe("a resumed download whose remote file is gone", () => {
  test("is forgotten once with exit 8; the part file is kept and a second resume leaves it alone", async () => {
    const data = randomBytes(300_000);
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: HASH_FEAT, dropRetrAfter: 100_000 });
    const first = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: t.work });
    expect(first.code).toBe(4);
    const part = join(t.work, "f.bin.ftpkit-part");
    expect(sizeOf(part)).toBe(100_000);
    fake.files.delete("/f.bin");
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.code).toBe(8);
    const lines = r.stderr.trim().split("\n");
    expect(lines.at(-1)).toContain("the remote file is gone");
    expect(lines.at(-1)).toContain(`the partial file ${part} is kept, and the interrupted transfer is forgotten`);
    expect(sizeOf(part)).toBe(100_000);
    expect(records(t.work)).toEqual([]);
    const commandsBefore = fake.commands.length;
    const again = await runFtpkit(["resume"], { cwd: t.work });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("nothing to resume");
    expect(fake.commands.length).toBe(commandsBefore); // not asked again
    expect(sizeOf(part)).toBe(100_000);
  });
});

describe("what a resumed transfer says under --no-verify", () => {
  test("resume --no-verify against a server with a ranged HASH says the partial data goes unchecked because of --no-verify, not the server", async () => {
    const data = randomBytes(300_000);
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: [...HASH_FEAT, "REST STREAM"], dropRetrAfter: 100_000 });
    expect((await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    const r = await runFtpkit(["resume", "--no-verify"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("[info] cannot verify the partial data (--no-verify); resuming at byte 100000");
    expect(r.stderr).not.toContain("the server offers no ranged hash");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
  });
});
