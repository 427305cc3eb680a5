// Storage failures answered in words that fit them: a mount whose folder is a loop of links says so
// (it said "Permission denied", while the same loop inside a home said "Too many levels of symbolic
// links"); an upload past the server's file size limit (EFBIG) is 552 "file too large", and a
// failing disk (EIO) 451 "I/O error on the server's storage" (both were 451/450 "try again later",
// which no retry could fix).
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { replyForError } from "../../server/commands/errors.ts";
import { storageError } from "../../server/storage/local-errors.ts";
import { tempDir, waitFor } from "../helpers/peers.ts";
import { random, startUpload } from "../helpers/quota.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

const t = cleanedAfterEach();
let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.stop();
  srv = null;
});

test("a mount whose folder is a link to itself answers 'Too many levels of symbolic links', as a loop inside the home does", async () => {
  srv = await startTestServer({
    setup: (root) => symlinkSync(join(root, "self"), join(root, "self")),
    users: [{ name: "alice", password: "alice-pw", mounts: [{ vpath: "/m", dir: "self", perms: ["read"], quota: 0 }] }],
  });
  const w = await Wire.connect(srv.port);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  expect(await w.cmd("CWD /m")).toEqual({ code: 550, lines: ["Too many levels of symbolic links"] });
  expect((await w.cmd("PWD")).lines[0]).toBe('"/" is the current directory');
  w.close();
}, 30_000);

test("an upload past the server's file size limit (ulimit -f) is 552 'file too large' after its 150, and a WARN with EFBIG", async () => {
  t.dir = tempDir("ftpkit-efbig-");
  const root = join(t.dir, "root");
  mkdirSync(root);
  t.srv = await spawnServe(["--root", root, "--user", "u:pw", "--write"], { cwd: t.dir, fileSizeLimit: 100_000 });
  const w = await Wire.connect(t.srv.port);
  t.wires.push(w);
  expect((await w.login("u", "pw")).code).toBe(230);
  await w.cmd("TYPE I");
  const up = await startUpload(w, "STOR big.bin");
  await up.send(random(300_000)).catch(() => {});
  up.data.end();
  expect(await w.read(10_000)).toEqual({ code: 552, lines: ["Insufficient storage space: file too large for the server"] });
  // The server lives on (Bun ignores SIGXFSZ), and says why in its log.
  expect((await w.cmd("NOOP")).code).toBe(200);
  await waitFor(() => t.srv!.stdout().includes(" transfer "), 5000, "the transfer line");
  expect(t.srv.stdout()).toMatch(/ WARN  transfer session=\S+ user=u verb=STOR path=\/big\.bin .*result=error error=EFBIG/);
}, 30_000);

test("EIO is a local error no retry fixes, EFBIG out of room, each with its errno for the log", () => {
  const io = storageError(Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" }));
  expect([io.kind, io.message]).toEqual(["io", "EIO"]);
  expect(replyForError(io)).toEqual({ code: 451, text: "I/O error on the server's storage", unexpected: false });
  const big = storageError(Object.assign(new Error("EFBIG: file too large, write"), { code: "EFBIG" }));
  expect([big.kind, big.message]).toEqual(["no-space", "EFBIG"]);
  expect(replyForError(big).code).toBe(452); // 552 once the upload's 150 is out
});
