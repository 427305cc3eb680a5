// A file that changes while it moves. A local file uploaded (a log still being written): the
// server's copy is the file as it was read, verified against that, no longer the file. The upload
// fails (exit 9, as a download whose remote file changed), says so, and leaves nothing to resume:
// the next put sends it. A remote file downloaded from a server without a digest (vsftpd): its time
// is asked again after the transfer, so a rewrite of the same size is not taken for a whole file.
import { expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsFile, sendsListing, useScriptedServerWork } from "./scripted-server.ts";

setDefaultTimeout(60_000);
const t = useScriptedServerWork();

/** A server that appends "more\n" to the local file `grows` when its upload's STOR arrives, and stores uploads. */
function server(grows: string) {
  const stored = new Map<string, Buffer>();
  const s = t.start({
    feat: ["MLST type*;size*;modify*;", "MLSD", "REST STREAM", "SIZE"],
    on: {
      MODE: (c) => c.reply(504, "Bad MODE command"),
      MKD: (c, arg) => c.reply(257, `"${arg}" created`),
      MLSD: (c) => c.reply(550, "No such directory"),
      SIZE: (c, arg) => (stored.has(arg) ? c.reply(213, String(stored.get(arg)!.length)) : c.reply(550, "Could not get file size")),
      STOR: async (c, arg) => {
        if (arg.endsWith("/grows.log")) appendFileSync(grows, "more\n");
        const d = await c.data();
        c.reply(150, "Ok to send data");
        await d.closing();
        stored.set(arg, d.received());
        c.reply(226, "Transfer complete");
      },
    },
  });
  return { stored, url: (p: string) => `ftp://u:p@127.0.0.1:${s.port}${p}` };
}

test("put of a file that grows while it is sent exits 9, says what changed, and leaves nothing to resume", async () => {
  const file = join(t.work, "grows.log");
  writeFileSync(file, "line\n".repeat(1000));
  const srv = server(file);
  const r = await runFtpkit(["put", "grows.log", srv.url("/in/grows.log")], { cwd: t.work });
  expect(r.code).toBe(9);
  expect(r.stderr).toContain(`[error] the local file ${file} changed while it was uploaded (5000 → 5005 bytes): the server's copy is the file as it was read; put it again`);
  expect(srv.stored.get("/in/grows.log")?.length).toBe(5000);
  const resume = await runFtpkit(["resume", "--list"], { cwd: t.work });
  expect(resume.stdout + resume.stderr).not.toContain("grows.log");
});

test("put -r: a file that grows while it is sent fails alone (exit 9); the others are copied", async () => {
  const src = join(t.work, "src");
  mkdirSync(src);
  writeFileSync(join(src, "grows.log"), "line\n");
  writeFileSync(join(src, "still.txt"), "still\n");
  const srv = server(join(src, "grows.log"));
  const r = await runFtpkit(["put", "-r", "--parallel", "1", src, srv.url("/up")], { cwd: t.work });
  expect(r.code).toBe(9);
  expect(r.stderr).toMatch(/grows\.log: the local file \S+grows\.log changed while it was uploaded \(5 → 10 bytes\)/);
  expect(srv.stored.get("/up/still.txt")?.toString()).toBe("still\n");
});

/**
 * A server without HASH (as vsftpd) that serves `name` with `body` and answers MDTM with T0, or with
 * T1 once a RETR has begun when `rewrittenDuringRetr` (the file rewritten, same size, while it went out).
 */
function noHashSource(name: string, body: Buffer, rewrittenDuringRetr: boolean) {
  let retrieved = false;
  return t.start({
    feat: ["MDTM", "REST STREAM", "SIZE"],
    on: {
      MODE: (c) => c.reply(504, "Bad MODE command"),
      CWD: (c) => c.reply(250, "Directory successfully changed"),
      SIZE: (c) => c.reply(213, String(body.length)),
      MDTM: (c) => c.reply(213, retrieved && rewrittenDuringRetr ? "20260101120007" : "20260101120000"),
      LIST: sendsListing([`-rw-r--r--    1 1000     1000     ${String(body.length).padStart(8)} Jan 01 12:00 ${name}`]),
      RETR: (c) => {
        retrieved = true;
        return sendsFile(body)(c);
      },
    },
  });
}

for (const rewritten of [true, false]) {
  test(`get from a server without a digest, the file ${rewritten ? "rewritten (same size) while it came: exit 9, what came kept aside" : "unchanged: exit 0, size verified"}`, async () => {
    const body = Buffer.from("x".repeat(10_000));
    const s = noHashSource("f.bin", body, rewritten);
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${s.port}/d/f.bin`], { cwd: t.work });
    if (!rewritten) {
      expect(r.code).toBe(0);
      expect(readFileSync(join(t.work, "f.bin"))).toEqual(body);
      return;
    }
    expect(r.code).toBe(9);
    expect(r.stderr).toContain("the remote file changed during the download (modified 20260101120000 → 20260101120007); the 10000 bytes that came are kept in");
    expect(existsSync(join(t.work, "f.bin"))).toBe(false);
    expect(existsSync(join(t.work, "f.bin.ftpkit-corrupt"))).toBe(true);
  });
}

test("get -r from a server without a digest: a file rewritten while it came fails alone (exit 9)", async () => {
  const body = Buffer.from("y".repeat(5_000));
  const s = noHashSource("f.bin", body, true);
  const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${s.port}/d`, "out"], { cwd: t.work });
  expect(r.code).toBe(9);
  expect(r.stderr).toMatch(/f\.bin: the remote file changed during the download \(modified 20260101120000 → 20260101120007\)/);
  expect(existsSync(join(t.work, "out", "f.bin"))).toBe(false);
});

test("get -r from a server without a digest whose MDTM answers an hour off its MLSD times (local time): nothing is taken for a change", async () => {
  const body = Buffer.from("z".repeat(4_000));
  const s = t.start({
    feat: ["MLST type*;size*;modify*;", "MLSD", "MDTM", "REST STREAM", "SIZE"],
    on: {
      MODE: (c) => c.reply(504, "Bad MODE command"),
      MLSD: sendsListing([`type=file;size=${body.length};modify=20260101120000; f.bin`]),
      MDTM: (c) => c.reply(213, "20260101130000"),
      RETR: (c) => sendsFile(body)(c),
    },
  });
  const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${s.port}/d`, "out"], { cwd: t.work });
  expect(r.stderr).not.toContain("changed during the download");
  expect(r.code).toBe(0);
  expect(readFileSync(join(t.work, "out", "f.bin"))).toEqual(body);
});
