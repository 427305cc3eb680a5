// What `ftpkit get` writes into and what `ftpkit resume` trusts: a device or FIFO is written into
// (not replaced), a working directory that cannot be written keeps its journal in the state
// directory, a record ftpkit did not seal is never acted on, a saved password goes only to the server
// it was given for, and a tree upload resumed after a local file changed sends that file whole.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { saveRecord, transferId, type TransferRecord } from "../../client/journal.ts";
import { savePassword } from "../../client/state.ts";
import { parseFtpUrl } from "../../protocol/url.ts";
import { digest, runFtpkit, spawnFtpkit, startFtpkitServer, waitFor, type FtpkitPeer } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { startFakeServer } from "./fake-server.ts";

setDefaultTimeout(60_000);

const owned = useCleanups("ftpkit-resume-safety-");
const workDir = owned.workDir;

describe("what get writes into", () => {
  test("a character device and a FIFO are written into, not replaced by a regular file", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = workDir();
    writeFileSync(join(srv.home, "f.txt"), "to the stream\n");
    expect(Bun.spawnSync(["mknod", "-m", "666", join(work, "null"), "c", "1", "3"]).exitCode).toBe(0);
    const toNull = await runFtpkit(["get", srv.url("/f.txt"), "null"], { cwd: work });
    expect(toNull.code).toBe(0);
    expect(statSync(join(work, "null")).isCharacterDevice()).toBe(true);
    expect(Bun.spawnSync(["mkfifo", join(work, "fifo")]).exitCode).toBe(0);
    const reader = Bun.spawn(["cat", join(work, "fifo")], { stdout: "pipe" });
    const toFifo = await runFtpkit(["get", srv.url("/f.txt"), "fifo"], { cwd: work });
    expect(toFifo.code).toBe(0);
    expect(await new Response(reader.stdout).text()).toBe("to the stream\n");
    expect(statSync(join(work, "fifo")).isFIFO()).toBe(true);
    expect(readdirSync(work).filter((n) => n.includes("ftpkit-part"))).toEqual([]);
  });
});

describe("a destination that is a link or read-only", () => {
  test("a symbolic link is written through to its target, as curl -o and cp do; the link stays", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = workDir();
    writeFileSync(join(srv.home, "f.txt"), "new content\n");
    mkdirSync(join(work, "releases"));
    writeFileSync(join(work, "releases", "target.txt"), "old\n");
    symlinkSync("releases/target.txt", join(work, "current.txt"));
    const r = await runFtpkit(["get", srv.url("/f.txt"), "current.txt"], { cwd: work });
    expect(r.code).toBe(0);
    expect(lstatSync(join(work, "current.txt")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(work, "releases", "target.txt"), "utf8")).toBe("new content\n");
    expect(readdirSync(join(work, "releases"))).toEqual(["target.txt"]); // no part file left beside it
  });

  test("an existing file the user may not write is refused, not replaced (run as nobody)", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = workDir();
    writeFileSync(join(srv.home, "f.txt"), "new content\n");
    chmodSync(work, 0o777);
    writeFileSync(join(work, "ro.txt"), "keep me\n", { mode: 0o444 });
    chownSync(join(work, "ro.txt"), 65534, 65534);
    const state = join(work, "nobody-state");
    mkdirSync(state, { mode: 0o700 });
    chownSync(state, 65534, 65534);
    const p = Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, join(import.meta.dir, "../../cli/ftpkit.ts"), "get", srv.url("/f.txt"), "ro.txt"], {
      cwd: work,
      env: { PATH: process.env.PATH ?? "", HOME: state, XDG_STATE_HOME: state, NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => p.kill(9), 30_000);
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    expect(stderr).toContain("ro.txt is read-only: not replaced (make it writable, or remove it)");
    expect(code).toBe(3);
    expect(readFileSync(join(work, "ro.txt"), "utf8")).toBe("keep me\n");
  });
});

describe("the journal", () => {
  test("a saved password whose journal was deleted by hand is removed by the next resume, wherever it runs", async () => {
    const fake = startFakeServer({ files: new Map([["/f.bin", Buffer.alloc(200_000, 7)]]), feat: ["SIZE", "REST STREAM"], dropRetrAfter: 50_000 });
    owned.later(() => fake.stop());
    const started = workDir();
    expect((await runFtpkit(["get", `ftp://u:secret-pw@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: started })).code).toBe(4);
    const credentials = join(process.env.XDG_STATE_HOME!, "ftpkit", "credentials");
    const [record] = readdirSync(join(started, ".ftpkit", "transfers")).filter((n) => n.endsWith(".json"));
    expect(readFileSync(join(credentials, record!), "utf8")).toContain("secret-pw");
    rmSync(join(started, ".ftpkit"), { recursive: true });
    expect((await runFtpkit(["resume", "--list"], { cwd: workDir() })).code).toBe(0);
    expect(existsSync(join(credentials, record!))).toBe(false);
  });

  test("resume run in another directory says where the interrupted job waits, resumes it there when named, and then no longer points to it", async () => {
    const fake = startFakeServer({ files: new Map([["/f.bin", Buffer.alloc(200_000, 7)]]), feat: ["SIZE", "REST STREAM"], dropRetrAfter: 50_000 });
    owned.later(() => fake.stop());
    const started = workDir();
    const other = workDir();
    expect((await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/f.bin`, "--retries", "0"], { cwd: started })).code).toBe(4);
    const pointer = `${started} (1): run \`ftpkit resume\` there`;
    const away = await runFtpkit(["resume"], { cwd: other });
    expect(away.code).toBe(0);
    expect(away.stderr).toContain("nothing to resume here; interrupted transfers are recorded in ");
    expect(away.stderr).toContain(pointer);
    const listed = await runFtpkit(["resume", "--list"], { cwd: other });
    expect(listed.stdout).toMatch(/^nothing to resume here\n/);
    expect(listed.stdout).toContain(pointer);
    const json = await runFtpkit(["resume", "--list", "--json"], { cwd: other });
    expect(JSON.parse(json.stdout)).toEqual([]); // stdout: this directory's jobs only
    expect(json.stderr).toContain(pointer);
    // Named, the job is listed and resumed from where it waits.
    const namedList = JSON.parse((await runFtpkit(["resume", join(started, "f.bin"), "--list", "--json"], { cwd: other })).stdout) as { local: string }[];
    expect(namedList.map((p) => p.local)).toEqual([join(started, "f.bin")]);
    // Named by its part file, as `resume` itself accepts it.
    const byPart = JSON.parse((await runFtpkit(["resume", join(started, "f.bin.ftpkit-part"), "--list", "--json"], { cwd: other })).stdout) as { local: string }[];
    expect(byPart.map((p) => p.local)).toEqual([join(started, "f.bin")]);
    const named = await runFtpkit(["resume", join(started, "f.bin")], { cwd: other, env: { FTPKIT_PASSWORD: "p" } });
    expect(named.stderr).toContain(`the interrupted transfer of ${join(started, "f.bin")} is recorded in ${started}: resuming it from there`);
    expect(named.code).toBe(0);
    expect(readFileSync(join(started, "f.bin")).length).toBe(200_000);
    expect((await runFtpkit(["resume", "--list"], { cwd: other })).stdout).not.toContain(started);
    expect((await runFtpkit(["resume", "--list"], { cwd: started })).stdout).toBe("nothing to resume\n");
  });

  test("a job whose login name came from ~/.netrc resumes as that user once the netrc is gone (not as anonymous)", async () => {
    const srv = await startFtpkitServer({ maxRate: "256K" });
    owned.later(() => srv.stop());
    const work = workDir();
    const home = workDir();
    writeFileSync(join(home, ".netrc"), `machine 127.0.0.1 login user password secret\n`, { mode: 0o600 });
    writeFileSync(join(srv.home, "n.bin"), Buffer.alloc(900_000, 5));
    const url = `ftp://127.0.0.1:${srv.port}/n.bin`;
    const proc = spawnFtpkit(["get", url], { cwd: work, env: { HOME: home } });
    try {
      await waitFor(() => existsSync(join(work, "n.bin.ftpkit-part")) && statSync(join(work, "n.bin.ftpkit-part")).size > 100_000, 15_000, "bytes to land");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    rmSync(join(home, ".netrc"));
    const listed = await runFtpkit(["resume", "--list"], { cwd: work, env: { HOME: home } });
    expect(listed.stdout).toContain(`ftp://user@127.0.0.1:${srv.port}/n.bin`);
    const r = await runFtpkit(["resume"], { cwd: work, env: { HOME: home } });
    expect(r.code).toBe(0);
    expect(readFileSync(join(work, "n.bin"))).toEqual(Buffer.alloc(900_000, 5));
  });

  test("a working directory this user cannot write: get and put work, the journal goes to the state directory", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = workDir();
    writeFileSync(join(srv.home, "f.txt"), "data\n");
    const ro = join(work, "ro");
    const out = join(work, "out");
    mkdirSync(ro);
    mkdirSync(out);
    chmodSync(work, 0o755);
    chmodSync(ro, 0o555);
    chownSync(out, 65534, 65534);
    writeFileSync(join(out, "up.txt"), "up\n");
    const asNobody = (args: string[]) =>
      Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", `HOME=${out}`, `XDG_STATE_HOME=${join(out, "state")}`, "bun", join(import.meta.dir, "../../cli/ftpkit.ts"), ...args], { cwd: ro, stderr: "pipe" });
    const get = asNobody(["get", srv.url("/f.txt"), join(out, "f.txt")]);
    expect(get.stderr.toString()).not.toContain("EACCES");
    expect(get.exitCode).toBe(0);
    expect(readFileSync(join(out, "f.txt"), "utf8")).toBe("data\n");
    const put = asNobody(["put", join(out, "up.txt"), srv.url("/up.txt")]);
    expect(put.exitCode).toBe(0);
    expect(readFileSync(join(srv.home, "up.txt"), "utf8")).toBe("up\n");
    expect(existsSync(join(ro, ".ftpkit"))).toBe(false);
  });

  test("a record ftpkit did not write (no seal) is skipped, its server never contacted, and resume exits 1", async () => {
    const fake = startFakeServer({ files: new Map([["/x.bin", Buffer.from("x")]]), feat: ["SIZE"] });
    owned.later(() => fake.stop());
    const work = workDir();
    const local = join(work, "secret-home");
    mkdirSync(local);
    writeFileSync(join(local, "id_rsa"), "private\n");
    const journal = join(work, ".ftpkit", "transfers");
    mkdirSync(journal, { recursive: true });
    const url = `ftp://anonymous@127.0.0.1:${fake.port}/exfil`;
    const id = "00000000000000aa";
    const forged = { id, direction: "put", kind: "tree", url, local, remoteSize: null, remoteMtime: null, hash: "sha256", verify: true, tree: { mode: "copy" }, startedAt: new Date().toISOString() };
    writeFileSync(join(journal, `${id}.json`), JSON.stringify(forged));
    const r = await runFtpkit(["resume"], { cwd: work });
    expect(r.stderr).toContain("not sealed by ftpkit for this user");
    expect(fake.commands).toEqual([]);
    // Not "nothing to resume" with exit 0: a script must not take an unusable journal for done.
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nothing could be resumed");
  });

  test("a record whose seal is 64 characters but not hex is skipped as not sealed by ftpkit, said in words", async () => {
    const fake = startFakeServer({ files: new Map([["/x.bin", Buffer.from("x")]]), feat: ["SIZE"] });
    owned.later(() => fake.stop());
    const work = workDir();
    const journal = join(work, ".ftpkit", "transfers");
    mkdirSync(journal, { recursive: true });
    const id = "00000000000000ab";
    const url = `ftp://anonymous@127.0.0.1:${fake.port}/x.bin`;
    const forged = { id, direction: "get", kind: "file", url, local: join(work, "x.bin"), part: join(work, "x.bin.ftpkit-part"), remoteSize: null, remoteMtime: null, hash: "sha256", verify: true, startedAt: new Date().toISOString(), seal: "z".repeat(64) };
    writeFileSync(join(journal, `${id}.json`), JSON.stringify(forged));
    const r = await runFtpkit(["resume"], { cwd: work });
    expect(r.stderr).toContain("not sealed by ftpkit for this user");
    expect(r.stderr).not.toContain("byte length");
    expect(fake.commands).toEqual([]);
    expect(r.code).toBe(1);
  });

  test("a saved password is sent only to the user and server it was given for", async () => {
    const fake = startFakeServer({ files: new Map([["/x.bin", Buffer.from("x")]]), feat: ["SIZE"] });
    owned.later(() => fake.stop());
    const work = workDir();
    const local = join(work, "x.bin");
    // The password of a transfer to another server, under the id a record for this fake server has.
    const url = `ftp://u@127.0.0.1:${fake.port}/x.bin`;
    const id = transferId("get", url, local);
    savePassword(id, "the-real-secret", parseFtpUrl(`ftp://u@127.0.0.1:${fake.port + 1}/x.bin`));
    const rec: TransferRecord = { id, direction: "get", kind: "file", url, local, part: `${local}.ftpkit-part`, remoteSize: null, remoteMtime: null, hash: "sha256", verify: true, startedAt: new Date().toISOString() };
    saveRecord(rec, join(work, ".ftpkit", "transfers"));
    const r = await runFtpkit(["resume"], { cwd: work });
    expect(r.code).toBe(6);
    expect(r.stderr).toContain("no password");
    expect(fake.commands.some((c) => c.startsWith("PASS"))).toBe(false);
  });
});

describe("a password changed since the transfer began", () => {
  test("resume tries the kept password, then the one given in $FTPKIT_PASSWORD", async () => {
    const fake = startFakeServer({ files: new Map([["/x.bin", Buffer.from("payload\n")]]), feat: ["SIZE"], password: "new-pw" });
    owned.later(() => fake.stop());
    const work = workDir();
    const local = join(work, "x.bin");
    const url = `ftp://u@127.0.0.1:${fake.port}/x.bin`;
    const id = transferId("get", url, local);
    savePassword(id, "old-pw", parseFtpUrl(url));
    const rec: TransferRecord = { id, direction: "get", kind: "file", url, local, part: `${local}.ftpkit-part`, remoteSize: null, remoteMtime: null, hash: "sha256", verify: false, startedAt: new Date().toISOString() };
    saveRecord(rec, join(work, ".ftpkit", "transfers"));
    // Nothing else to try (no terminal): the error says the kept password was refused, and where a new one goes.
    const without = await runFtpkit(["resume"], { cwd: work, stdin: new Uint8Array(0) });
    expect(without.code).toBe(6);
    expect(without.stderr).toContain(`the server refused the password kept for this transfer of u@127.0.0.1 (changed since?): give the new one in $FTPKIT_PASSWORD or ~/.netrc`);
    const passes = () => fake.commands.filter((c) => c.startsWith("PASS")).length;
    const before = passes();
    const r = await runFtpkit(["resume"], { cwd: work, env: { FTPKIT_PASSWORD: "new-pw" } });
    expect(r.code).toBe(0);
    expect(readFileSync(local, "utf8")).toBe("payload\n");
    expect(passes() - before).toBe(2); // the kept one, refused; then the new one
  });
});

describe("a pending download whose part file is gone", () => {
  test("the local file that stands there now is kept, not replaced by a download from scratch", async () => {
    const srv = await startFtpkitServer({ maxRate: "256K" });
    owned.later(() => srv.stop());
    const work = workDir();
    writeFileSync(join(srv.home, "r.bin"), Buffer.alloc(2_000_000, 0x61));
    const proc = spawnFtpkit(["get", srv.url("/r.bin")], { cwd: work });
    const part = join(work, "r.bin.ftpkit-part");
    try {
      await waitFor(() => existsSync(part) && statSync(part).size > 0, 20_000, "part of the download");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    rmSync(part);
    writeFileSync(join(work, "r.bin"), "my newer file\n");
    const r = await runFtpkit(["resume"], { cwd: work });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("exists and its partial download is gone");
    expect(readFileSync(join(work, "r.bin"), "utf8")).toBe("my newer file\n");
    expect((await runFtpkit(["resume", "--list"], { cwd: work })).stdout).toMatch(/^nothing to resume( here)?\n/);
  });
});

describe("a pending upload whose local file is gone", () => {
  /** A put killed once the server holds part of it, and its local file deleted since: the record and password stay behind. */
  async function putKilledAndDeleted(srv: FtpkitPeer, work: string): Promise<{ id: string; remote: string }> {
    writeFileSync(join(work, "m.bin"), Buffer.alloc(2_000_000, 0x6d));
    const remote = join(srv.home, "m.bin");
    const proc = spawnFtpkit(["put", "m.bin", srv.url("/m.bin")], { cwd: work });
    try {
      await waitFor(() => existsSync(remote) && statSync(remote).size > 0, 20_000, "part of the upload");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    // The server logs the upload once it has ended it (the killed client's bytes are on disk).
    await waitFor(() => /transfer .*verb=STOR path=\/m\.bin /.test(srv.log()), 10_000, "the server ends the killed upload");
    rmSync(join(work, "m.bin"));
    const [record] = readdirSync(join(work, ".ftpkit", "transfers")).filter((n) => n.endsWith(".json"));
    expect(existsSync(join(credentialsDir(), record!))).toBe(true);
    return { id: record!.replace(/\.json$/, ""), remote };
  }
  const credentialsDir = () => join(process.env.XDG_STATE_HOME!, "ftpkit", "credentials");
  const gone = (work: string, url: string) =>
    `the upload of ${join(work, "m.bin")} can never continue: the local file is gone; the partial remote file ${url} is left as it is, and the interrupted transfer is forgotten`;

  test("resume says the upload can never continue and exits 3 once, the other job still resumes; the record and saved password are gone, the partial remote file is left, and the next resume has nothing to do", async () => {
    const srv = await startFtpkitServer({ maxRate: "256K" });
    owned.later(() => srv.stop());
    const work = workDir();
    const { id, remote } = await putKilledAndDeleted(srv, work);
    // Another job pending in the same directory: a killed get.
    writeFileSync(join(srv.home, "g.bin"), Buffer.alloc(600_000, 0x67));
    const get = spawnFtpkit(["get", srv.url("/g.bin")], { cwd: work });
    try {
      await waitFor(() => existsSync(join(work, "g.bin.ftpkit-part")) && statSync(join(work, "g.bin.ftpkit-part")).size > 0, 20_000, "part of the download");
    } finally {
      get.kill(9);
      await get.exited;
    }
    const partial = statSync(remote).size;
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).toContain(gone(work, srv.url("/m.bin", { password: false })));
    expect(r.stderr).toContain("1 of 2 transfers could not be resumed");
    expect(r.code).toBe(3);
    expect(readFileSync(join(work, "g.bin"))).toEqual(Buffer.alloc(600_000, 0x67));
    expect(statSync(remote).size).toBe(partial);
    expect(existsSync(join(credentialsDir(), `${id}.json`))).toBe(false);
    expect((await runFtpkit(["resume", "--list"], { cwd: work })).stdout).toMatch(/^nothing to resume( here)?\n/);
    const again = await runFtpkit(["resume"], { cwd: work });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("nothing to resume");
  });

  test("put --restart of the deleted file says the interrupted upload can never continue, exits 3, and forgets it", async () => {
    const srv = await startFtpkitServer({ maxRate: "256K" });
    owned.later(() => srv.stop());
    const work = workDir();
    const { id } = await putKilledAndDeleted(srv, work);
    const r = await runFtpkit(["put", "--restart", "m.bin", srv.url("/m.bin")], { cwd: work });
    expect(r.stderr.trim()).toBe(`[error] ${gone(work, srv.url("/m.bin", { password: false }))}`);
    expect(r.code).toBe(3);
    expect(existsSync(join(credentialsDir(), `${id}.json`))).toBe(false);
    expect((await runFtpkit(["resume"], { cwd: work })).stderr).toContain("nothing to resume");
  });
});

describe("a tree upload resumed after a local file changed", () => {
  test("the changed file is sent whole, not appended to what the interrupted run sent", async () => {
    const srv = await startFtpkitServer({ maxRate: "256K" });
    owned.later(() => srv.stop());
    const work = workDir();
    const src = join(work, "src");
    mkdirSync(src);
    const big = Buffer.alloc(1_500_000, 0x41);
    writeFileSync(join(src, "big.bin"), big);
    const proc = spawnFtpkit(["put", "-r", "src", srv.url("/up"), "--no-verify"], { cwd: work });
    try {
      await waitFor(() => existsSync(join(srv.home, "up")) && readdirSync(join(srv.home, "up")).length > 0 && statSync(join(srv.home, "up", readdirSync(join(srv.home, "up"))[0]!)).size > 200_000, 30_000, "part of the upload");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    const changed = Buffer.alloc(1_500_000, 0x42);
    writeFileSync(join(src, "big.bin"), changed);
    const r = await runFtpkit(["resume"], { cwd: work, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(srv.home, "up/big.bin")))).toBe(digest(changed));
  });
});
