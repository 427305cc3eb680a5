// `ftpkit get -r` of a directory on an ftpkit server whose disk holds names that are not UTF-8: the
// server lists them masked ("caf?.txt"), which no command can fetch, and the job must say it could
// not copy them, not "2 copied, 0 failed" (a backup that looks complete).
import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit, startFtpkitServer } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";

setDefaultTimeout(60_000);

const owned = useCleanups("ftpkit-non-utf8-");
const b = (s: string) => Buffer.from(s, "latin1"); // one byte a character

test("get -r reports the masked files and directory it could not copy, and copies the rest", async () => {
  const srv = await startFtpkitServer();
  owned.later(() => srv.stop());
  const d = Buffer.from(join(srv.home, "bad/"));
  mkdirSync(d, { recursive: true });
  writeFileSync(Buffer.concat([d, b("latin\xe9.txt")]), "l");
  writeFileSync(Buffer.concat([d, b("caf\xe9.txt")]), "latin-cafe\n");
  writeFileSync(Buffer.concat([d, b("caf\xef\xbf\xbd.txt")]), "real-fffd\n");
  mkdirSync(Buffer.concat([d, b("sub\xff")]));
  writeFileSync(Buffer.concat([d, b("sub\xff/inner.txt")]), "i");
  writeFileSync(Buffer.concat([d, b("ok.txt")]), "ok\n");
  const work = owned.workDir();
  const r = await runFtpkit(["get", "-r", srv.url("/bad"), "out"], { cwd: work });
  // Before: exit 0, "2 copied, 0 failed", out/caf\uFFFD.txt and out/ok.txt only.
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/[1-9]\d* failed/);
  expect(r.stderr).toContain("caf?.txt");
  expect(r.stderr).toContain("latin?.txt");
  expect(r.stderr).toContain("sub?");
  expect(readFileSync(join(work, "out", "caf\uFFFD.txt"), "utf8")).toBe("real-fffd\n");
  expect(readFileSync(join(work, "out", "ok.txt"), "utf8")).toBe("ok\n");
  expect(readdirSync(join(work, "out")).sort()).toEqual(["caf\uFFFD.txt", "ok.txt"]);
});
