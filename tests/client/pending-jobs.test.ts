// Jobs that must not stay pending, or be overwritten, for nothing: a resumed upload that ProFTPD will
// not let continue (451 "Append/Restart not permitted") is sent whole; a get into a file whose part
// another URL's job keeps, or a put of another file to the remote file an interrupted upload is
// writing, is refused, not silently mixed; a tree job refused everything and
// moved nothing leaves no record and no saved password.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { digest, randomFile, runFtpkit, spawnFtpkit, startFtpkitServer, waitFor } from "../helpers/peers.ts";
import { proftpdBinary, proftpdSpeaksFrench, startProftpd } from "../helpers/system-ftpd.ts";
import { ClientError, restartNotPermitted } from "../../client/errors.ts";
import { useFakeServerWork } from "./fake-server.ts";

setDefaultTimeout(60_000);

const t = useFakeServerWork();
const HASH_FEAT = ["SIZE", "MDTM", "HASH SHA-256*;MD5"];

const records = (cwd: string) => {
  const d = join(cwd, ".ftpkit", "transfers");
  return existsSync(d) ? readdirSync(d).filter((n) => n.endsWith(".json") && !n.endsWith(".plan.json")) : [];
};
const credentialsDir = () => join(process.env.XDG_STATE_HOME!, "ftpkit", "credentials");
const savedPasswords = (ids: string[]) => ids.filter((id) => existsSync(join(credentialsDir(), `${id}.json`)));
const savedAll = () => (existsSync(credentialsDir()) ? readdirSync(credentialsDir()).sort() : []);
const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);
const listed = async (cwd: string) => (await runFtpkit(["resume", "--list"], { cwd })).stdout;

describe("a resumed upload the server will not let continue (ProFTPD's 451 Append/Restart not permitted)", () => {
  const WHOLE = (path: string) => `[warn] the server does not let an upload continue at a byte (STOR ${path}: ${path}: Append/Restart not permitted, try again (451)); uploading ${path} again from byte 0`;

  test("put, then ftpkit resume: one line says it is sent whole, REST+STOR is tried once, the file arrives verified and nothing stays pending", async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(t.work, "u.bin"), data);
    const fake = t.start({ feat: HASH_FEAT, noStoreRestart: true, dropStorAfter: 100_000 });
    const first = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "0"], { cwd: t.work });
    expect(first.code).toBe(4);
    expect(fake.files.get("/u.bin")?.length).toBe(100_000);
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.stderr).toContain(WHOLE("/u.bin"));
    expect(r.stderr).not.toContain("run `ftpkit resume`");
    expect(r.code).toBe(0);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    expect(fake.commands.filter((c) => /^(STOR|APPE|REST)/.test(c))).toEqual(["STOR /u.bin", "REST 100000", "STOR /u.bin", "STOR /u.bin"]);
    expect(records(t.work)).toEqual([]);
    expect(await listed(t.work)).toMatch(/^nothing to resume/);
  });

  test("a connection lost during the checks after the last byte: the file is verified where it is, not sent again (no REST+STOR of nothing for the server to refuse)", async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(t.work, "u.bin"), data);
    const fake = t.start({ feat: HASH_FEAT, noStoreRestart: true, dropOnFirstHash: true });
    const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the remote file is complete (300000 bytes, sha256 via HASH): nothing left to send");
    expect(r.stderr).not.toContain("uploading /u.bin again from byte 0");
    // Before: STOR, then REST 300000 + STOR refused (451), then the whole file again.
    expect(fake.commands.filter((c) => /^(STOR|APPE|REST)/.test(c))).toEqual(["STOR /u.bin"]);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    expect(records(t.work)).toEqual([]);
  });

  test("APPE refused the same way after a REST the server lacks: sent whole too", async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(t.work, "u.bin"), data);
    const fake = t.start({ feat: HASH_FEAT, noRest: true, noStoreRestart: true, dropStorAfter: 100_000 });
    expect((await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.stderr).toContain("[warn] the server does not let an upload continue at a byte (APPE /u.bin: /u.bin: Append/Restart not permitted, try again (451)); uploading /u.bin again from byte 0");
    expect(r.code).toBe(0);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    expect(records(t.work)).toEqual([]);
  });

  test("the refusal translated (ProFTPD's NLS: French): decided by the 451 and the command it refused, sent whole the same way", async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(t.work, "u.bin"), data);
    const fake = t.start({ feat: HASH_FEAT, noStoreRestart: true, noStoreRestartText: " : ajout/reprise non permis, veuillez recommencer", dropStorAfter: 100_000 });
    expect((await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${fake.port}/u.bin`, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.stderr).toContain("[warn] the server does not let an upload continue at a byte (STOR /u.bin: /u.bin : ajout/reprise non permis, veuillez recommencer (451)); uploading /u.bin again from byte 0");
    expect(r.code).toBe(0);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(data));
    expect(fake.commands.filter((c) => /^(STOR|APPE|REST)/.test(c))).toEqual(["STOR /u.bin", "REST 100000", "STOR /u.bin", "STOR /u.bin"]);
    expect(records(t.work)).toEqual([]);
  });

  test("what counts as that refusal: a 451 refusing APPE, or STOR past byte 0, outright; not its text, not a 451 once the transfer began", () => {
    const refusal = (code: number, refused?: string) => new ClientError(`x: whatever words (${code})`, { code, retryable: true, ...(refused ? { refused } : {}) });
    expect(restartNotPermitted(refusal(451, "STOR"), "STOR", 100)).toBe(true);
    expect(restartNotPermitted(refusal(451, "APPE"), "APPE", 100)).toBe(true);
    expect(restartNotPermitted(refusal(451, "APPE"), "APPE", 0)).toBe(true);
    expect(restartNotPermitted(refusal(451, "STOR"), "STOR", 0)).toBe(false); // a plain STOR refused for now
    expect(restartNotPermitted(refusal(451, "REST"), "STOR", 100)).toBe(false); // REST itself refused
    expect(restartNotPermitted(refusal(451), "STOR", 100)).toBe(false); // after the 150: the transfer failed
    expect(restartNotPermitted(refusal(450, "STOR"), "STOR", 100)).toBe(false);
    expect(restartNotPermitted(refusal(452, "STOR"), "STOR", 100)).toBe(false); // out of space
    expect(restartNotPermitted(new Error("451 Append/Restart not permitted, try again"), "STOR", 100)).toBe(false);
  });

  test("put -r whose connection dropped: ftpkit resume sends the file whole and the job is done", async () => {
    const data = randomBytes(300_000);
    mkdirSync(join(t.work, "src"));
    writeFileSync(join(t.work, "src", "big.bin"), data);
    const fake = t.start({ feat: HASH_FEAT, noStoreRestart: true, dropStorAfter: 100_000 });
    const first = await runFtpkit(["put", "-r", "src", `ftp://u:p@127.0.0.1:${fake.port}/up`, "--retries", "0"], { cwd: t.work });
    expect(first.code).toBe(4);
    const r = await runFtpkit(["resume"], { cwd: t.work });
    expect(r.stderr).toContain(WHOLE("/up/big.bin"));
    expect(r.stderr).toMatch(/1 copied .* 0 failed/);
    expect(r.code).toBe(0);
    expect(digest(fake.files.get("/up/big.bin")!)).toBe(digest(data));
    expect(records(t.work)).toEqual([]);
  });

  const proftpdLangs = [
    { lang: undefined, label: "", skip: proftpdBinary() === null, refused: "Append\\/Restart not permitted, try again" },
    { lang: "fr_FR" as const, label: ", answering in French (LangDefault fr_FR)", skip: !proftpdSpeaksFrench(), refused: "ajout\\/reprise non permis, veuillez recommencer" },
  ];
  for (const { lang, label, skip, refused } of proftpdLangs) test.skipIf(skip)(`ProFTPD (AllowStoreRestart off, its default)${label}: a put killed mid-way is finished by one ftpkit resume, whole and verified by HASH`, async () => {
    const pro = await startProftpd({ lang });
    try {
      const data = randomFile(join(t.work, "b8.bin"), 3 * 1024 * 1024);
      const remote = join(pro.home, "b8.bin");
      const proc = spawnFtpkit(["put", "b8.bin", pro.url("/b8.bin"), "--limit-rate", "1M"], { cwd: t.work });
      try {
        await waitFor(() => sizeOf(remote) >= 256 * 1024, 20_000, "part of the upload on the server");
      } finally {
        proc.kill(9);
        await proc.exited;
      }
      expect(records(t.work)).toHaveLength(1);
      const r = await runFtpkit(["resume"], { cwd: t.work });
      expect(r.stderr).toMatch(new RegExp(`\\[warn\\] the server does not let an upload continue at a byte \\(STOR .*b8\\.bin ?: ${refused} \\(451\\)\\); uploading .*b8\\.bin again from byte 0`));
      expect(r.stderr).toContain("(verified by HASH)");
      expect(r.code).toBe(0);
      expect(digest(readFileSync(remote))).toBe(digest(data));
      expect(records(t.work)).toEqual([]);
      expect(await listed(t.work)).toMatch(/^nothing to resume/);
    } finally {
      await pro.stop();
    }
  });
});

describe("a get into a file whose part another URL's interrupted download keeps", () => {
  async function pendingSeg() {
    const seg = randomBytes(300_000);
    const other = randomBytes(50_000);
    const fake = t.start({ files: new Map([["/seg.bin", seg], ["/other.bin", other]]), feat: HASH_FEAT, dropRetrAfter: 100_000 });
    const url = (p: string) => `ftp://u:p@127.0.0.1:${fake.port}${p}`;
    expect((await runFtpkit(["get", url("/seg.bin"), "gx.bin", "--retries", "0"], { cwd: t.work })).code).toBe(4);
    const part = join(t.work, "gx.bin.ftpkit-part");
    expect(sizeOf(part)).toBe(100_000);
    return { seg, other, fake, url, part };
  }

  test("is refused with exit 1, naming the pending job and the ways out; the part file and the job stay, and resume finishes it", async () => {
    const { seg, fake, url, part } = await pendingSeg();
    const retrs = fake.commands.filter((c) => c.startsWith("RETR")).length;
    const r = await runFtpkit(["get", url("/other.bin"), "gx.bin"], { cwd: t.work });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `[error] an interrupted download of ftp://u@127.0.0.1:${fake.port}/seg.bin to ${join(t.work, "gx.bin")} is pending (its partial file ${part}): finish it with \`ftpkit resume\`, or add --restart to discard it and download ftp://u@127.0.0.1:${fake.port}/other.bin instead`,
    );
    expect(fake.commands.filter((c) => c.startsWith("RETR")).length).toBe(retrs);
    expect(sizeOf(part)).toBe(100_000);
    expect(await listed(t.work)).toContain("seg.bin");
    const resumed = await runFtpkit(["resume"], { cwd: t.work });
    expect(resumed.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "gx.bin")))).toBe(digest(seg));
  });

  test("with --restart the other job is discarded (its record and saved password too) and the new URL lands", async () => {
    const { other, url, part } = await pendingSeg();
    const [before] = records(t.work);
    const id = before!.replace(/\.json$/, "");
    expect(savedPasswords([id])).toEqual([id]);
    const r = await runFtpkit(["get", url("/other.bin"), "gx.bin", "--restart"], { cwd: t.work });
    expect(r.stderr).toContain("/seg.bin to ");
    expect(r.stderr).toContain("was discarded");
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(t.work, "gx.bin")))).toBe(digest(other));
    expect(existsSync(part)).toBe(false);
    expect(records(t.work)).toEqual([]);
    expect(savedPasswords([id])).toEqual([]);
    expect(await listed(t.work)).toMatch(/^nothing to resume/);
  });
});

describe("a new tree job that moved nothing", () => {
  const files = (dir: string, n: number) => {
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`);
  };

  test("every file refused (550): no record, no saved password, and the line says to run the command again", async () => {
    files(join(t.work, "lm"), 5);
    const fake = t.start({ feat: HASH_FEAT, refuseStor: "550 Permission denied." });
    const passwordsBefore = savedAll();
    const r = await runFtpkit(["put", "-r", "lm", `ftp://u:p@127.0.0.1:${fake.port}/many`], { cwd: t.work });
    expect(r.code).toBe(8);
    expect(r.stderr.trim().split("\n").at(-1)).toBe("[error] 5 of 5 items failed, each refused (see above): once that is fixed, run the command again");
    expect(r.stderr).not.toContain("ftpkit resume");
    expect(records(t.work)).toEqual([]);
    expect(savedAll()).toEqual(passwordsBefore);
    expect(await listed(t.work)).toMatch(/^nothing to resume/);
  });

  test("a read-only account on ftpkit's server: every STOR refused, nothing pending afterwards", async () => {
    const srv = await startFtpkitServer({ dropBox: true });
    try {
      mkdirSync(join(srv.dir, "home", "anon", "many"), { recursive: true });
      files(join(t.work, "lm"), 20);
      const r = await runFtpkit(["put", "-r", "lm", `ftp://anonymous@127.0.0.1:${srv.port}/many`], { cwd: t.work });
      expect(r.code).toBe(8);
      expect(r.stderr).toContain("20 of 20 items failed, each refused (see above): once that is fixed, run the command again");
      expect(records(t.work)).toEqual([]);
      expect(await listed(t.work)).toMatch(/^nothing to resume/);
    } finally {
      await srv.stop();
    }
  });

  test("every file refused for a while (450): the job stays pending for ftpkit resume, as before", async () => {
    files(join(t.work, "lm"), 3);
    const fake = t.start({ feat: HASH_FEAT, refuseStor: "450 Try again later." });
    const r = await runFtpkit(["put", "-r", "lm", `ftp://u:p@127.0.0.1:${fake.port}/many`, "--retries", "0"], { cwd: t.work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("run `ftpkit resume` to retry them");
    expect(records(t.work)).toHaveLength(1);
    expect(await listed(t.work)).toContain("many");
  });
});

describe("a put of another local file to the remote file an interrupted upload is writing", () => {
  async function pendingUpload() {
    const first = randomBytes(300_000);
    const second = randomBytes(50_000);
    writeFileSync(join(t.work, "a.bin"), first);
    writeFileSync(join(t.work, "b.bin"), second);
    const fake = t.start({ feat: HASH_FEAT, dropStorAfter: 100_000 });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/u.bin`;
    expect((await runFtpkit(["put", "a.bin", url, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    expect(fake.files.get("/u.bin")?.length).toBe(100_000);
    return { first, second, fake, url };
  }
  const stors = (fake: { commands: string[] }) => fake.commands.filter((c) => /^(STOR|APPE|REST)/.test(c));

  test("is refused with exit 1, naming the pending job and the ways out; the remote file and the job stay, and resume finishes it", async () => {
    const { first, fake, url } = await pendingUpload();
    const before = stors(fake).length;
    const r = await runFtpkit(["put", "b.bin", url], { cwd: t.work });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `[error] an interrupted upload of ${join(t.work, "a.bin")} to ftp://u@127.0.0.1:${fake.port}/u.bin is pending: finish it with \`ftpkit resume\`, or add --restart to discard it and upload ${join(t.work, "b.bin")} instead`,
    );
    expect(stors(fake).length).toBe(before);
    expect(fake.files.get("/u.bin")?.length).toBe(100_000);
    expect(await listed(t.work)).toContain("a.bin");
    const resumed = await runFtpkit(["resume"], { cwd: t.work });
    expect(resumed.code).toBe(0);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(first));
  });

  test("with --restart the other job is discarded (its record and saved password too) and the new file is sent from byte 0", async () => {
    const { second, fake, url } = await pendingUpload();
    const [before] = records(t.work);
    const id = before!.replace(/\.json$/, "");
    expect(savedPasswords([id])).toEqual([id]);
    const storsBefore = stors(fake).length;
    const r = await runFtpkit(["put", "b.bin", url, "--restart"], { cwd: t.work });
    expect(r.stderr).toContain(`the interrupted upload of ${join(t.work, "a.bin")} to ftp://u@127.0.0.1:${fake.port}/u.bin was discarded`);
    expect(r.code).toBe(0);
    expect(stors(fake).slice(storsBefore)).toEqual(["STOR /u.bin"]);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(second));
    expect(records(t.work)).toEqual([]);
    expect(savedPasswords([id])).toEqual([]);
    expect(await listed(t.work)).toMatch(/^nothing to resume/);
  });
});

describe("a conflicting job run from another directory than the one that recorded the pending job", () => {
  /** `args` run from a new directory A under the work dir, killed (-9) once `started` says bytes moved; returns A. */
  async function killedIn(args: string[], started: (a: string) => boolean, settleMs = 0): Promise<string> {
    const a = join(t.work, "A");
    mkdirSync(a, { recursive: true });
    const proc = spawnFtpkit([...args, "--limit-rate", "20K", "--retries", "0"], { cwd: a });
    try {
      await waitFor(() => started(a) && records(a).length === 1, 15_000, "the job to record itself and move bytes");
      await Bun.sleep(settleMs);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    return a;
  }
  const dirB = () => {
    const b = join(t.work, "B");
    mkdirSync(b, { recursive: true });
    return b;
  };

  test("get: another URL into the same file, and the same job, are refused naming the job and where to resume it; --restart discards it there", async () => {
    const seg = randomBytes(300_000);
    const other = randomBytes(50_000);
    const fake = t.start({ files: new Map([["/seg.bin", seg], ["/other.bin", other]]), feat: HASH_FEAT });
    const url = (p: string) => `ftp://u:p@127.0.0.1:${fake.port}${p}`;
    const a = await killedIn(["get", url("/seg.bin"), "gx.bin"], (a) => sizeOf(join(a, "gx.bin.ftpkit-part")) > 0);
    const target = join(a, "gx.bin");
    const part = `${target}.ftpkit-part`;
    const kept = sizeOf(part);
    const b = dirB();
    const retrs = fake.commands.filter((c) => c.startsWith("RETR")).length;
    const r = await runFtpkit(["get", url("/other.bin"), target], { cwd: b });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `[error] an interrupted download of ftp://u@127.0.0.1:${fake.port}/seg.bin to ${target} is pending (its partial file ${part}): finish it with \`ftpkit resume\` in ${a}, or add --restart to discard it and download ftp://u@127.0.0.1:${fake.port}/other.bin instead`,
    );
    // The very job, from B (which has no record of it): refused the same way, not started over.
    const same = await runFtpkit(["get", url("/seg.bin"), target], { cwd: b });
    expect(same.code).toBe(1);
    expect(same.stderr).toContain(`an interrupted download of ftp://u@127.0.0.1:${fake.port}/seg.bin to ${target} is pending (its partial file ${part}): finish it with \`ftpkit resume\` in ${a}`);
    expect(fake.commands.filter((c) => c.startsWith("RETR")).length).toBe(retrs);
    expect(sizeOf(part)).toBe(kept);
    expect(records(b)).toEqual([]);
    expect(await listed(a)).toContain("seg.bin");
    const restarted = await runFtpkit(["get", url("/other.bin"), target, "--restart"], { cwd: b });
    expect(restarted.stderr).toContain("was discarded");
    expect(restarted.code).toBe(0);
    expect(digest(readFileSync(target))).toBe(digest(other));
    expect(records(a)).toEqual([]);
    expect(savedAll()).toEqual([]);
  });

  test("put: another local file to the same remote file is refused naming the job and where to resume it; resume there finishes it", async () => {
    const first = randomBytes(80_000);
    const fake = t.start({ feat: HASH_FEAT });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/u.bin`;
    mkdirSync(join(t.work, "A"), { recursive: true });
    writeFileSync(join(t.work, "A", "a.bin"), first);
    // The fake keeps an upload's bytes when its data connection ends: STOR seen, some sent, then the kill.
    const a = await killedIn(["put", "a.bin", url], () => fake.commands.includes("STOR /u.bin"), 500);
    await waitFor(() => (fake.files.get("/u.bin")?.length ?? 0) > 0, 5_000, "the partial upload");
    const b = dirB();
    writeFileSync(join(b, "b.bin"), randomBytes(50_000));
    const before = fake.commands.filter((c) => /^(STOR|APPE|REST)/.test(c)).length;
    const r = await runFtpkit(["put", "b.bin", url], { cwd: b });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `[error] an interrupted upload of ${join(a, "a.bin")} to ftp://u@127.0.0.1:${fake.port}/u.bin is pending: finish it with \`ftpkit resume\` in ${a}, or add --restart to discard it and upload ${join(b, "b.bin")} instead`,
    );
    expect(fake.commands.filter((c) => /^(STOR|APPE|REST)/.test(c)).length).toBe(before);
    expect(records(b)).toEqual([]);
    const resumed = await runFtpkit(["resume"], { cwd: a });
    expect(resumed.code).toBe(0);
    expect(digest(fake.files.get("/u.bin")!)).toBe(digest(first));
  });
});
