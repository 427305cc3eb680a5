// A name of the source that is not valid UTF-8 (Latin-1) cannot be sent over FTP, and is left out;
// the destination may hold that very file under its UTF-8 spelling (a mirror made by a tool that
// converted it, such as lftp with ftp:charset): sync --delete removes nothing in that directory.
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit, startFtpkitServer } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { sendsFile, startScriptedServer } from "./scripted-server.ts";

setDefaultTimeout(60_000);

const owned = useCleanups("ftpkit-undecodable-");

test("sync --delete down: a remote Latin-1 name keeps the local café and every other local file of that directory", async () => {
  const srv = startScriptedServer({
    feat: ["SIZE", "MLST type*;size*;modify*;"],
    on: {
      MLSD: async (c) => {
        const d = await c.data();
        c.reply(150, "listing");
        await d.send(Buffer.concat([Buffer.from("type=file;size=1;modify=20260101120000; caf"), Buffer.from([0xe9]), Buffer.from("\r\ntype=file;size=1;modify=20260101120000; a.txt\r\n")]));
        d.end();
        c.reply(226, "ok");
      },
      SIZE: (c) => c.reply(213, "1"),
      RETR: sendsFile(Buffer.from("a")),
    },
  });
  owned.later(() => srv.stop());
  const work = owned.workDir();
  mkdirSync(join(work, "l"));
  writeFileSync(join(work, "l", "café"), "the mirror's copy\n");
  writeFileSync(join(work, "l", "old.txt"), "old\n");
  const r = await runFtpkit(["sync", `ftp://u:p@127.0.0.1:${srv.port}/d`, "l", "--delete"], { cwd: work });
  expect(r.code).toBe(0);
  expect(r.stderr).toContain(".: 1 name(s) in its listing are not valid UTF-8, which FTP commands cannot carry: left out; nothing in it is deleted");
  // Before: both deleted ("not in source").
  expect(readFileSync(join(work, "l", "café"), "utf8")).toBe("the mirror's copy\n");
  expect(readFileSync(join(work, "l", "old.txt"), "utf8")).toBe("old\n");
  expect(readFileSync(join(work, "l", "a.txt"), "utf8")).toBe("a");
});

test("sync --delete up: a local Latin-1 name keeps the remote café and every other remote file of its directory; other directories still lose theirs", async () => {
  const srv = await startFtpkitServer();
  owned.later(() => srv.stop());
  const work = owned.workDir();
  const src = join(work, "src");
  mkdirSync(join(src, "mixed"), { recursive: true });
  mkdirSync(join(src, "clean"), { recursive: true });
  writeFileSync(join(src, "mixed", "a.txt"), "a\n");
  writeFileSync(Buffer.concat([Buffer.from(`${src}/mixed/caf`), Buffer.from([0xe9])]), "latin-1 name\n");
  writeFileSync(join(src, "clean", "k.txt"), "k\n");
  mkdirSync(join(srv.home, "dst", "mixed"), { recursive: true });
  mkdirSync(join(srv.home, "dst", "clean"), { recursive: true });
  writeFileSync(join(srv.home, "dst", "mixed", "café"), "uploaded before, converted\n");
  writeFileSync(join(srv.home, "dst", "mixed", "old.txt"), "old\n");
  writeFileSync(join(srv.home, "dst", "clean", "gone.txt"), "gone\n");
  writeFileSync(join(srv.home, "dst", "root-gone.txt"), "gone\n");
  const r = await runFtpkit(["sync", "src", srv.url("/dst"), "--delete"], { cwd: work });
  expect(r.code).toBe(0);
  expect(r.stderr).toContain("mixed: 1 name(s) in it are not valid UTF-8, which FTP cannot carry: left out; nothing in it is deleted");
  // Before: both deleted ("not in source").
  expect(readFileSync(join(srv.home, "dst", "mixed", "café"), "utf8")).toBe("uploaded before, converted\n");
  expect(readFileSync(join(srv.home, "dst", "mixed", "old.txt"), "utf8")).toBe("old\n");
  expect(readFileSync(join(srv.home, "dst", "mixed", "a.txt"), "utf8")).toBe("a\n");
  expect(existsSync(join(srv.home, "dst", "clean", "gone.txt"))).toBe(false);
  expect(existsSync(join(srv.home, "dst", "root-gone.txt"))).toBe(false);
  expect(readFileSync(join(srv.home, "dst", "clean", "k.txt"), "utf8")).toBe("k\n");
});
