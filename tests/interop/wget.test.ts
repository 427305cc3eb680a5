// wget as a real FTP peer: it reads LIST (never MLSD) and gives each file the time its line shows.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { run } from "./run.ts";

let ts: TestServer;
let local: string;

beforeEach(async () => {
  ts = await startTestServer();
  local = tempDir("ftpkit-wget-");
});

afterEach(async () => {
  await ts.stop();
  removeDir(local);
});

test("wget -N dates a file whose time is in the future in its own year, as against vsftpd", async () => {
  // 90 days ahead: a line "Mon DD HH:MM" made wget (and every LIST parser) put it in the past year.
  const ahead = new Date(Date.now() + 90 * 86_400_000);
  const file = join(ts.home("alice"), "future.txt");
  writeFileSync(file, "from a fast clock\n");
  utimesSync(file, ahead, ahead);
  const r = await run(["wget", "-q", "-N", "-P", local, `ftp://alice:alice-pw@127.0.0.1:${ts.port}/future.txt`], { cwd: local });
  expect(r.code).toBe(0);
  const got = statSync(join(local, "future.txt")).mtime;
  // The year column gives the day (wget takes it as local midnight): within a day of the real time.
  expect(Math.abs(got.getTime() - ahead.getTime())).toBeLessThan(2 * 86_400_000);
});

test("wget -c of an ASCII URL (;type=a) over a partial file fetches the whole text, as against ProFTPD", async () => {
  // ProFTPD and pyftpdlib refuse REST in TYPE A (501) and wget then downloads from the start; a 350
  // followed by a 550 to RETR made wget report "No such file" and keep the partial file.
  writeFileSync(join(ts.home("alice"), "notes.txt"), "line1\nline2\nline3\n");
  writeFileSync(join(local, "notes.txt"), "li");
  const r = await run(["wget", "-c", "-nv", "-P", local, `ftp://alice:alice-pw@127.0.0.1:${ts.port}/notes.txt;type=a`], { cwd: local });
  expect(r.stderr).not.toContain("No such file");
  expect(r.code).toBe(0);
  expect(readFileSync(join(local, "notes.txt"), "utf8")).toBe("line1\r\nline2\r\nline3\r\n");
});
