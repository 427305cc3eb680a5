// `ftpkit get URL DIR/`: a LOCAL ending in "/" names a directory, made if missing, as the README's
// `ftpkit get ftp://host/pub/file.iso ./downloads/` shows (a glob's LOCAL is made so too).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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

test("get -r without LOCAL names its directory after the URL's path with . and .. taken out, never the local parent", async () => {
  const cwd = join(work, "inner-dots");
  mkdirSync(join(server.home, "tree", "sub"), { recursive: true });
  writeFileSync(join(server.home, "tree", "sub", "f.txt"), "f\n");
  mkdirSync(cwd);
  const up = await runFtpkit(["get", "-r", server.url("/tree/sub/.."), "-q"], { cwd });
  expect(up.code).toBe(0);
  expect(readFileSync(join(cwd, "tree", "sub", "f.txt"), "utf8")).toBe("f\n");
  expect(existsSync(join(work, "sub"))).toBe(false);
  const here = await runFtpkit(["get", "-r", server.url("/tree/sub/."), "-q"], { cwd });
  expect(here.code).toBe(0);
  expect(readFileSync(join(cwd, "sub", "f.txt"), "utf8")).toBe("f\n");
  expect(existsSync(join(cwd, "f.txt"))).toBe(false);
});

test("get -r of a URL above the login directory without LOCAL is refused (exit 2), nothing written", async () => {
  const cwd = join(work, "inner-above");
  mkdirSync(cwd);
  const r = await runFtpkit(["get", "-r", server.url("/tree/../..")], { cwd });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("name the local directory (get -r URL LOCALDIR)");
  expect(readdirSync(cwd)).toEqual([]);
  expect(readdirSync(work).sort()).toEqual(["downloads", "inner-above", "inner-dots"]);
});
