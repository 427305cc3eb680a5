// --stall-timeout bounds every wait on a silent server, not only a data connection that moves
// nothing: the reply to RETR, STOR, MLSD or HASH that never comes ends the command in seconds (it
// was a fixed 60 s no flag changed), with one line naming the flag; a reply that is slow but within
// the bound still succeeds.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { digest, runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

const t = useFakeServerWork();
const DATA = randomBytes(30_000);
const FILES = () => new Map([["/d/f.bin", DATA], ["/d/g.bin", DATA]]);
const FEAT = ["SIZE", "MDTM", "REST STREAM", "MLST type*;size*;modify*;", "HASH SHA-256*"];

/** The last line of stderr: the one a user reads. */
const lastLine = (stderr: string) => stderr.trim().split("\n").at(-1) ?? "";

const cases: { name: string; verb: string; args: (url: string) => string[] }[] = [
  { name: "get", verb: "RETR", args: (url) => ["get", `${url}/d/f.bin`] },
  { name: "get -r (a tree job)", verb: "RETR", args: (url) => ["get", "-r", `${url}/d`, "tree"] },
  { name: "put", verb: "STOR", args: (url) => ["put", "local.bin", `${url}/d/up.bin`] },
  { name: "ls", verb: "MLSD", args: (url) => ["ls", `${url}/d/`] },
  { name: "sync", verb: "MLSD", args: (url) => ["sync", `${url}/d/`, "mirror"] },
  { name: "get (the verifying HASH)", verb: "HASH", args: (url) => ["get", `${url}/d/f.bin`] },
];

describe("a reply that never comes is given up after --stall-timeout", () => {
  for (const c of cases) {
    test(`${c.name}: no reply to ${c.verb} → exit 4 in seconds, one line naming ${c.verb} and --stall-timeout`, async () => {
      writeFileSync(join(t.work, "local.bin"), DATA);
      const fake = t.start({ files: FILES(), feat: FEAT, neverAnswer: [c.verb] });
      const started = performance.now();
      const r = await runFtpkit([...c.args(`ftp://u:p@127.0.0.1:${fake.port}`), "--stall-timeout", "1", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
      expect(r.code).toBe(4);
      // A tree job says each file's failure, then a summary line.
      const said = c.name.includes("tree") ? r.stderr : lastLine(r.stderr);
      expect(said).toContain(`timed out waiting for the server's reply to ${c.verb} (127.0.0.1:${fake.port}): no reply in 1 s (--stall-timeout)`);
      expect(r.stderr).not.toContain("    at "); // no stack trace
      expect(performance.now() - started).toBeLessThan(15_000); // the point: not 60 s
      expect(fake.commands.some((l) => l.startsWith(c.verb))).toBe(true);
    }, 30_000);
  }

  test("resume: a pending download whose server then never answers RETR is given up in seconds", async () => {
    const first = t.start({ files: FILES(), feat: ["SIZE", "REST STREAM"], dropRetrAfter: 10_000, goneAfterDrop: true });
    const port = first.port;
    const dropped = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${port}/d/f.bin`, "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
    expect(dropped.code).toBe(4);
    first.stop();
    const fake = t.start({ port, files: FILES(), feat: ["SIZE", "REST STREAM"], neverAnswer: ["RETR"] });
    const started = performance.now();
    const r = await runFtpkit(["resume", "--stall-timeout", "1", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`timed out waiting for the server's reply to RETR (127.0.0.1:${fake.port}): no reply in 1 s (--stall-timeout)`);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(existsSync(join(t.work, "f.bin.ftpkit-part"))).toBe(true); // still resumable
  }, 60_000);

  test("get -r --retries 1: each try of a frozen file costs the stall timeout, not a minute", async () => {
    const fake = t.start({ files: FILES(), feat: FEAT, neverAnswer: ["RETR"] });
    mkdirSync(join(t.work, "tree"));
    const started = performance.now();
    const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/d`, "tree", "--stall-timeout", "1", "--retries", "1", "--parallel", "1"], { cwd: t.work, timeoutMs: 40_000 });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("no reply in 1 s (--stall-timeout)");
    expect(performance.now() - started).toBeLessThan(25_000);
  }, 45_000);
});

describe("get --segments: a whole-file HASH that never comes", () => {
  test("is said as a reply not given within --stall-timeout (exit 4), not as a connection the server closed; the segments are kept for resume", async () => {
    const fake = t.start({ files: FILES(), feat: FEAT, neverAnswer: ["HASH"] });
    const r = await runFtpkit(["get", "--segments", "3", `ftp://u:p@127.0.0.1:${fake.port}/d/f.bin`, "--stall-timeout", "1", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
    // Before: "the server closed the control connection", after the early HASH was given up.
    expect(r.stderr).toContain(`timed out waiting for the server's reply to HASH (127.0.0.1:${fake.port}): no reply in 1 s (--stall-timeout)`);
    expect(r.stderr).not.toContain("closed the control connection");
    expect(r.code).toBe(4);
    expect(existsSync(join(t.work, "f.bin.ftpkit-part"))).toBe(true);
  }, 30_000);
});

describe("a slow reply within --stall-timeout is waited for", () => {
  test("a HASH answered after 3 s under --stall-timeout 5: the download is verified by HASH", async () => {
    const fake = t.start({ files: FILES(), feat: FEAT, slowHashMs: 3_000 });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/d/f.bin`, "--stall-timeout", "5", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stderr.trim()).toEndWith("(verified by HASH)");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(DATA));
    expect(fake.commands).toContain("HASH /d/f.bin");
  }, 30_000);
});
