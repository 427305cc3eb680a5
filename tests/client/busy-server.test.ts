// A job (a tree job, a single get) whose very first connection is refused with 421 (the server's
// per-address limit used up by other clients): the client backs off and tries again, bounded by
// --retries, against a real `ftpkit serve --max-per-ip 1` whose one slot a raw control connection holds.
import { afterEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir } from "../helpers/peers.ts";
import { snapshot } from "../helpers/trees.ts";
import { Wire } from "../helpers/wire.ts";
import { startFakeServer } from "./fake-server.ts";

setDefaultTimeout(60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function busyServer() {
  const srv = await startFtpkitServer({ args: ["--max-per-ip", "1"] });
  cleanups.push(() => srv.stop());
  for (let i = 0; i < 5; i++) writeFileSync(join(srv.home, `f${i}.txt`), `file ${i}\n`.repeat(100));
  mkdirSync(join(srv.home, "sub"));
  writeFileSync(join(srv.home, "sub/g.txt"), "g\n");
  const holder = await Wire.connect(srv.port);
  cleanups.push(() => holder.close());
  expect((await holder.read())?.code).toBe(220); // the one allowed connection is taken
  const work = tempDir("ftpkit-busy-");
  cleanups.push(() => removeDir(work));
  return { srv, holder, work };
}

/** Runs ftpkit with `args`, closing `holder` (freeing the server's slot) once it said it will retry. */
async function runFreeingSlotOnRetry(args: string[], holder: { close(): void }, work: string): Promise<{ code: number; stderr: string }> {
  const proc = spawnFtpkit(args, { cwd: work });
  cleanups.push(() => void proc.kill(9));
  let stderr = "";
  const reader = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) {
      stderr += dec.decode(chunk, { stream: true });
      // Free the slot only after the client was refused and said it will retry.
      if (/retrying \(attempt 1 of 6\)/.test(stderr)) holder.close();
    }
  })();
  const code = await proc.exited;
  await reader;
  return { code, stderr };
}

describe("421 on the first connection of a job (a tree job's, a single get's)", () => {
  test("backs off and retries; once the slot is free the whole tree arrives", async () => {
    const { srv, holder, work } = await busyServer();
    const { code, stderr } = await runFreeingSlotOnRetry(["get", "-r", srv.url("/"), "out", "--retries", "6"], holder, work);
    expect(stderr).toMatch(/421/);
    expect(code).toBe(0);
    expect(snapshot(join(work, "out"))).toEqual(snapshot(srv.home));
  });

  test("gives up after --retries with one clear line when the server stays full", async () => {
    const { srv, work } = await busyServer();
    const r = await runFtpkit(["get", "-r", srv.url("/"), "out", "--retries", "2"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/retrying \(attempt 2 of 2\)/);
    expect(r.stderr).toMatch(/\(421\); gave up after 3 attempts \(--retries 2\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test("a single get backs off the same way: once the slot is free the file arrives", async () => {
    const { srv, holder, work } = await busyServer();
    const { code, stderr } = await runFreeingSlotOnRetry(["get", srv.url("/f3.txt"), "--retries", "6"], holder, work);
    expect(stderr).toMatch(/\(421\); retrying \(attempt 1 of 6\)/);
    expect(code).toBe(0);
    expect(readFileSync(join(work, "f3.txt"), "utf8")).toBe(readFileSync(join(srv.home, "f3.txt"), "utf8"));
  });

  test("a tree job's extra connections are tried once: the job goes on with fewer, no retry lines", async () => {
    const { srv, holder, work } = await busyServer();
    holder.close(); // the one slot is the job's first connection; each extra one gets 421
    const r = await runFtpkit(["get", "-r", srv.url("/"), "out", "--parallel", "4", "--retries", "3"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the server refused more connections (421); continuing with fewer");
    expect(r.stderr).not.toMatch(/retrying \(attempt/);
    expect(snapshot(join(work, "out"))).toEqual(snapshot(srv.home));
  });
});

describe("a refused EPSV with the transfer command pipelined behind it", () => {
  test("a server that never answers that RETR (it tries the default data port, as ProFTPD does): the session is dropped at once and the tree completes", async () => {
    const files = new Map([0, 1, 2, 3].map((i) => [`/t/f${i}.txt`, Buffer.from(`file ${i}\n`.repeat(50))] as [string, Buffer]));
    const fake = startFakeServer({ files, feat: ["SIZE"], epsv425After: 2 });
    cleanups.push(() => fake.stop());
    const work = tempDir("ftpkit-epsv425-");
    cleanups.push(() => removeDir(work));
    // Within the 30 s bound, half the client's reply timeout: waiting for that RETR's reply failed it.
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "out", "--parallel", "1"], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).toContain("EPSV: Unable to build data connection: no port free (425); the server did not refuse the RETR sent behind it, so the session was dropped");
    expect(r.code).toBe(0);
    for (const [path, data] of files) expect(readFileSync(join(work, "out", path.slice(3))).toString()).toBe(data.toString());
  });
});

describe("a refused EPSV whose pipelined command is refused at once (503 'use PORT or PASV first', as vsftpd)", () => {
  test("the transfer is set up again on the same session, without a reconnection", async () => {
    const files = new Map([0, 1, 2].map((i) => [`/t/f${i}.txt`, Buffer.from(`file ${i}\n`)] as [string, Buffer]));
    const fake = startFakeServer({ files, feat: ["SIZE"], epsv425RefusedAfter: 2 });
    cleanups.push(() => fake.stop());
    const work = tempDir("ftpkit-epsv503-");
    cleanups.push(() => removeDir(work));
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "out", "--parallel", "1", "--no-verify"], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).not.toContain("reconnecting");
    expect(r.code).toBe(0);
    expect(fake.commands.filter((c) => c === "USER u")).toHaveLength(1);
    for (const [path, data] of files) expect(readFileSync(join(work, "out", path.slice(3))).toString()).toBe(data.toString());
  });
});

describe("a listing refused for now (450)", () => {
  test("get -r tries the listing again, as it does a file's transfer, and the whole tree arrives", async () => {
    const files = new Map(["/t/a.txt", "/t/sub/b.txt", "/t/sub/c.txt"].map((p) => [p, Buffer.from(`${p}\n`)] as [string, Buffer]));
    const fake = startFakeServer({ files, feat: ["SIZE"], listing450Once: "/t/sub" });
    cleanups.push(() => fake.stop());
    const work = tempDir("ftpkit-list450-");
    cleanups.push(() => removeDir(work));
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "out", "--no-verify"], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).toMatch(/Transient failure, try again\. \(450\); reconnecting \(attempt 1 of 3\)/);
    expect(r.code).toBe(0);
    for (const [path, data] of files) expect(readFileSync(join(work, "out", path.slice(3))).toString()).toBe(data.toString());
  });
});

describe("a listing refused for now (450) beyond --retries", () => {
  test("fails that directory alone: the rest of the tree is copied, the job exits 8 and resume is left to move it", async () => {
    const files = new Map(["/t/a.txt", "/t/sub/b.txt"].map((p) => [p, Buffer.from(`${p}\n`)] as [string, Buffer]));
    const fake = startFakeServer({ files, feat: ["SIZE"], listing450Always: "/t/sub" });
    cleanups.push(() => fake.stop());
    const work = tempDir("ftpkit-list450-always-");
    cleanups.push(() => removeDir(work));
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "out", "--no-verify", "--retries", "1", "--json"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(8);
    const report = JSON.parse(r.stdout) as { files: { path: string; result: string }[] };
    expect(report.files.find((f) => f.path === "a.txt")?.result).toBe("size verified, digest not requested");
    expect(report.files.find((f) => f.path === "sub")?.result).toMatch(/^failed: .*Transient failure, try again\. \(450\)/);
    expect(readFileSync(join(work, "out", "a.txt"), "utf8")).toBe("/t/a.txt\n");
    const pending = await runFtpkit(["resume", "--list", "--json"], { cwd: work });
    expect(JSON.parse(pending.stdout)).toHaveLength(1);
  });
});

describe("a connection dropped while put -r creates its directories", () => {
  test("is reconnected and the MKD tried again: every directory and file arrives", async () => {
    const fake = startFakeServer({ files: new Map(), feat: ["SIZE"], dropOnMkd: 2 });
    cleanups.push(() => fake.stop());
    const work = tempDir("ftpkit-mkd-drop-");
    cleanups.push(() => removeDir(work));
    for (const d of ["a", "b", "c"]) {
      mkdirSync(join(work, "src", d), { recursive: true });
      writeFileSync(join(work, "src", d, "f.txt"), `${d}\n`);
    }
    const r = await runFtpkit(["put", "-r", "src", `ftp://u:p@127.0.0.1:${fake.port}/dst`, "--no-verify"], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).toMatch(/reconnecting \(attempt 1 of 3\)/);
    expect(r.code).toBe(0);
    for (const d of ["a", "b", "c"]) expect(fake.files.get(`/dst/${d}/f.txt`)?.toString()).toBe(`${d}\n`);
  });
});

describe("a connection dropped while put -r creates its destination (the root)", () => {
  async function putTree(opts: Parameters<typeof startFakeServer>[0]) {
    const fake = startFakeServer({ files: new Map(), feat: ["SIZE"], ...opts });
    cleanups.push(() => fake.stop());
    const work = tempDir("ftpkit-root-drop-");
    cleanups.push(() => removeDir(work));
    for (const d of ["a", "b"]) {
      mkdirSync(join(work, "src", d), { recursive: true });
      writeFileSync(join(work, "src", d, "f.txt"), `${d}\n`);
    }
    const r = await runFtpkit(["put", "-r", "src", `ftp://u:p@127.0.0.1:${fake.port}/dst`, "--no-verify"], { cwd: work, timeoutMs: 30_000 });
    return { fake, r };
  }

  test("the root's own MKD dropped: reconnected and tried again, as a subdirectory's is", async () => {
    const { fake, r } = await putTree({ dropOnMkd: 1 });
    expect(r.stderr).toMatch(/reconnecting \(attempt 1 of 3\)/);
    expect(r.code).toBe(0);
    for (const d of ["a", "b"]) expect(fake.files.get(`/dst/${d}/f.txt`)?.toString()).toBe(`${d}\n`);
  });

  test("the server hangs up while the parent is listed to see whether the root exists (pyftpdlib does on a failed data TLS handshake): reconnected, the tree arrives", async () => {
    const { fake, r } = await putTree({ dropListingOnce: "both" });
    expect(r.code).toBe(0);
    for (const d of ["a", "b"]) expect(fake.files.get(`/dst/${d}/f.txt`)?.toString()).toBe(`${d}\n`);
  });
});

describe("a connection dropped while get -r asks the parent whether an empty root exists", () => {
  test("is reconnected and asked again: the empty directory is copied (exit 0), not called missing (exit 8)", async () => {
    // vsftpd lists a missing directory as empty, so an empty root is looked for in its parent's listing.
    const fake = startFakeServer({ files: new Map(), feat: ["SIZE"], emptyDirs: ["/empty"], dropListingOf: "/" });
    cleanups.push(() => fake.stop());
    const work = tempDir("ftpkit-parent-drop-");
    cleanups.push(() => removeDir(work));
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/empty`, "out"], { cwd: work, timeoutMs: 30_000 });
    expect(r.stderr).toMatch(/reconnecting \(attempt 1 of 3\)/);
    expect(r.code).toBe(0);
    expect(snapshot(join(work, "out"))).toEqual({});
  });
});

describe("a connection dropped while a sync down over LIST asks MDTM for the times to the second", () => {
  test("is reconnected and the times asked again: every file gets the server's second, and a sync after it copies nothing", async () => {
    const files = new Map(["a", "b", "c"].map((n) => [`/t/${n}.txt`, Buffer.from(`${n}\n`)]));
    const fake = startFakeServer({ files, feat: ["SIZE", "MDTM", "REST STREAM"], mdtm: "20260101120042", dropOnMdtm: 2 });
    cleanups.push(() => fake.stop());
    const work = tempDir("ftpkit-mdtm-drop-");
    cleanups.push(() => removeDir(work));
    const url = `ftp://u:p@127.0.0.1:${fake.port}/t`;
    const r = await runFtpkit(["sync", url, "local", "--no-verify"], { cwd: work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    for (const n of ["a", "b", "c"]) expect(statSync(join(work, "local", `${n}.txt`)).mtime.toISOString()).toBe("2026-01-01T12:00:42.000Z");
    expect(r.stderr).toMatch(/reconnecting \(attempt 1 of 3\)/);
    const again = await runFtpkit(["sync", url, "local", "--dry-run"], { cwd: work, timeoutMs: 30_000 });
    expect(again.stdout).toMatch(/^dry run: 0 to copy/m);
  });
});
