// `ftpkit get URL DIR/`: a LOCAL ending in "/" names a directory, made if missing, as the README's
// `ftpkit get ftp://host/pub/file.iso ./downloads/` shows (a glob's LOCAL is made so too).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // a server and CLI processes; see BUN-NOTES on the preload

let server: FtpkitPeer;
let work: string;

beforeAll(async () => {
  server = await startFtpkitServer();
  writeFileSync(join(server.home, "file.iso"), "iso\n");
  work = tempDir("ftpkit-download-dir-");
});

afterAll(async () => {
  await server.stop();
  removeDir(work);
});

test("get into a missing DIR/ creates it and lands the file inside", async () => {
  const r = await runFtpkit(["get", server.url("/file.iso"), "./downloads/deeper/"], { cwd: work });
  expect(r.stderr).not.toContain("no such directory");
  expect(r.code).toBe(0);
  expect(readFileSync(join(work, "downloads", "deeper", "file.iso"), "utf8")).toBe("iso\n");
});

test("without the trailing slash a missing directory is still refused (exit 3), nothing made", async () => {
  const r = await runFtpkit(["get", server.url("/file.iso"), "./nope/file.iso"], { cwd: work });
  expect(r.code).toBe(3);
  expect(r.stderr).toContain("no such directory");
  expect(existsSync(join(work, "nope"))).toBe(false);
});
