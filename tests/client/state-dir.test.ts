// A client run by an account without a writable home (a cron job's system user with
// HOME=/nonexistent, `docker run --user` with HOME=/): its state directory cannot be created; and
// in a working directory whose .ftpkit it cannot use (another account's, or not a directory).
import { afterAll, afterEach, beforeAll, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FTPKIT, removeDir, runFtpkit, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000);

let srv: FtpkitPeer;
let work: string;

beforeAll(async () => {
  srv = await startFtpkitServer();
  writeFileSync(join(srv.home, "a.txt"), "alpha\n");
  mkdirSync(join(srv.home, "tree"));
  writeFileSync(join(srv.home, "tree", "b.txt"), "beta\n");
});
afterAll(() => srv.stop());
beforeEach(() => {
  work = tempDir("ftpkit-state-dir-");
});
afterEach(() => removeDir(work));

/**
 * The environment of such an account: HOME and XDG_STATE_HOME under a regular file, so mkdir fails
 * (ENOTDIR) for root as for anyone, and a temp directory of the test's own.
 */
function homeless(): Record<string, string> {
  writeFileSync(join(work, "not-a-dir"), "");
  mkdirSync(join(work, "tmp"));
  return { HOME: join(work, "not-a-dir", "home"), XDG_STATE_HOME: join(work, "not-a-dir", "state"), TMPDIR: join(work, "tmp") };
}

test("get, put and get -r run without a state directory: what resume needs goes to a private one in TMPDIR", async () => {
  const env = homeless();
  const cwd = join(work, "cwd");
  mkdirSync(cwd);
  const got = await runFtpkit(["get", srv.url("/a.txt"), "a.txt", "-q"], { cwd, env });
  expect([got.code, got.stderr]).toEqual([0, ""]);
  expect(readFileSync(join(cwd, "a.txt"), "utf8")).toBe("alpha\n");
  const tree = await runFtpkit(["get", "-r", srv.url("/tree"), "tree", "-q"], { cwd, env });
  expect([tree.code, tree.stderr]).toEqual([0, ""]);
  expect(readFileSync(join(cwd, "tree", "b.txt"), "utf8")).toBe("beta\n");
  const put = await runFtpkit(["put", "a.txt", srv.url("/up.txt"), "-q"], { cwd, env });
  expect([put.code, put.stderr]).toEqual([0, ""]);
  expect(readFileSync(join(srv.home, "up.txt"), "utf8")).toBe("alpha\n");
  const state = join(env.TMPDIR!, `ftpkit-state-${process.getuid!()}`);
  expect(statSync(state).mode & 0o777).toBe(0o700);
  expect(statSync(join(state, "journal.key")).mode & 0o777).toBe(0o600);
});

test("a fallback another account could reach is not used: one line says to set $XDG_STATE_HOME, exit 3", async () => {
  const env = homeless();
  const open = join(env.TMPDIR!, `ftpkit-state-${process.getuid!()}`);
  mkdirSync(open, { mode: 0o755 });
  const r = await runFtpkit(["get", srv.url("/a.txt"), "a.txt"], { cwd: work, env });
  expect(r.code).toBe(3);
  expect(r.stderr.trimEnd().split("\n")).toEqual([
    `[error] cannot create ftpkit's state directory ${join(work, "not-a-dir", "state", "ftpkit")} (ENOTDIR), nor use ${open}: set $XDG_STATE_HOME to a directory you can write`,
  ]);
  expect(existsSync(join(open, "journal.key"))).toBe(false);
  expect(existsSync(join(work, "a.txt"))).toBe(false);
});

test("falling back says so once on stderr (not under -q): stdout stays empty, --json keeps its one report", async () => {
  const env = homeless();
  const state = join(env.TMPDIR!, `ftpkit-state-${process.getuid!()}`);
  const notice = `[warn] cannot create ftpkit's state directory ${join(work, "not-a-dir", "state", "ftpkit")} (ENOTDIR): keeping what resume needs in ${state}, which lasts as long as the temp directory; set $XDG_STATE_HOME to keep it elsewhere`;
  const got = await runFtpkit(["get", srv.url("/a.txt"), "a.txt"], { cwd: work, env });
  expect(got.code).toBe(0);
  expect(got.stdout).toBe("");
  expect(got.stderr.trimEnd().split("\n")).toEqual([notice, expect.stringMatching(/^a\.txt: 6 bytes in /)]);
  const tree = await runFtpkit(["get", "-r", srv.url("/tree"), "tree", "--json"], { cwd: work, env });
  expect(tree.code).toBe(0);
  expect(JSON.parse(tree.stdout).files).toHaveLength(1);
  expect(tree.stderr.trimEnd().split("\n").filter((l) => l.includes("state directory"))).toEqual([notice]);
  const quiet = await runFtpkit(["get", srv.url("/a.txt"), "a.txt", "-q"], { cwd: work, env });
  expect([quiet.code, quiet.stderr]).toEqual([0, ""]);
});

test("a command without a transfer says so too: resume --list, once on stderr (not under -q)", async () => {
  const env = homeless();
  const state = join(env.TMPDIR!, `ftpkit-state-${process.getuid!()}`);
  const notice = `[warn] cannot create ftpkit's state directory ${join(work, "not-a-dir", "state", "ftpkit")} (ENOTDIR): keeping what resume needs in ${state}, which lasts as long as the temp directory; set $XDG_STATE_HOME to keep it elsewhere`;
  const list = await runFtpkit(["resume", "--list"], { cwd: work, env });
  expect([list.code, list.stdout, list.stderr.trimEnd().split("\n")]).toEqual([0, "nothing to resume\n", [notice]]);
  const json = await runFtpkit(["resume", "--list", "--json"], { cwd: work, env });
  expect([json.code, JSON.parse(json.stdout), json.stderr.trimEnd().split("\n")]).toEqual([0, [], [notice]]);
  const quiet = await runFtpkit(["resume", "--list", "-q"], { cwd: work, env });
  expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, "nothing to resume\n", ""]);
});

test("a fallback in a temp directory any user may write without the sticky bit is refused: one line, exit 3", async () => {
  const env = homeless();
  chmodSync(env.TMPDIR!, 0o777); // anyone could rename ftpkit-state-UID away and put their own in its place
  const r = await runFtpkit(["get", srv.url("/a.txt"), "a.txt"], { cwd: work, env });
  expect(r.code).toBe(3);
  expect(r.stderr.trimEnd().split("\n")).toEqual([
    `[error] cannot create ftpkit's state directory ${join(work, "not-a-dir", "state", "ftpkit")} (ENOTDIR), and will not use ${join(env.TMPDIR!, `ftpkit-state-${process.getuid!()}`)}: ${env.TMPDIR} may be written by any user and has no sticky bit (chmod +t, as /tmp has); set $XDG_STATE_HOME to a directory you can write`,
  ]);
  expect(readdirSync(env.TMPDIR!)).toEqual([]);
  expect(existsSync(join(work, "a.txt"))).toBe(false);
  // With the sticky bit, as /tmp has, it is used.
  chmodSync(env.TMPDIR!, 0o1777);
  expect((await runFtpkit(["get", srv.url("/a.txt"), "a.txt", "-q"], { cwd: work, env })).code).toBe(0);
});

test("a .ftpkit that is not a directory it can write: the journal goes to the state directory and the job runs", async () => {
  // A file of that name stands for any .ftpkit this account cannot create transfers/ in (root may write anywhere).
  writeFileSync(join(work, ".ftpkit"), "not a directory\n");
  const state = join(work, "state");
  const r = await runFtpkit(["get", srv.url("/a.txt"), "a.txt", "-q"], { cwd: work, env: { XDG_STATE_HOME: state } });
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(readFileSync(join(work, "a.txt"), "utf8")).toBe("alpha\n");
  expect(readFileSync(join(work, ".ftpkit"), "utf8")).toBe("not a directory\n");
  expect(readdirSync(join(state, "ftpkit", "journals"))).toHaveLength(1); // this directory's journal, there
});

// Only root can leave a directory another account cannot write, and run ftpkit as that account.
const asNobody = process.getuid?.() === 0 && Bun.which("setpriv") !== null;

test.skipIf(!asNobody)("a state directory root made in the account's home (sudo keeping HOME): the job runs, its state in TMPDIR", async () => {
  // Open to all, as the account must write there; sticky where the fallback is made, as /tmp is.
  chmodSync(work, 0o1777);
  const home = join(work, "home");
  mkdirSync(join(home, ".local", "state", "ftpkit"), { recursive: true, mode: 0o700 }); // root's
  for (const d of ["tmp", "cwd", "run"]) mkdirSync(join(work, d), { mode: 0o777 });
  for (const d of [home, join(home, ".local"), join(home, ".local", "state"), join(work, "cwd"), join(work, "run")]) chmodSync(d, 0o777);
  chmodSync(join(work, "tmp"), 0o1777);
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, TMPDIR: join(work, "tmp"), XDG_RUNTIME_DIR: join(work, "run"), NO_COLOR: "1" };
  const proc = Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bun", FTPKIT, "get", srv.url("/a.txt"), "a.txt", "-q"], { cwd: join(work, "cwd"), env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  expect([code, stderr]).toEqual([0, ""]);
  expect(readFileSync(join(work, "cwd", "a.txt"), "utf8")).toBe("alpha\n");
  expect(statSync(join(work, "tmp", "ftpkit-state-65534", "journal.key")).uid).toBe(65534);
});

test.skipIf(process.getuid?.() !== 0)("a state directory another account owns is not used even where it lets us write: the job runs, its state in TMPDIR", async () => {
  // Another account's (nobody's), open to all: its owner could read or replace what is kept there.
  const state = join(work, "state");
  mkdirSync(join(state, "ftpkit"), { recursive: true });
  chownSync(join(state, "ftpkit"), 65534, 65534);
  chmodSync(join(state, "ftpkit"), 0o777);
  mkdirSync(join(work, "tmp"));
  const r = await runFtpkit(["get", srv.url("/a.txt"), "a.txt", "-q"], { cwd: work, env: { XDG_STATE_HOME: state, TMPDIR: join(work, "tmp") } });
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(readdirSync(join(state, "ftpkit"))).toEqual([]);
  expect(statSync(join(work, "tmp", "ftpkit-state-0", "journal.key")).uid).toBe(0);
});
