// `ftpkit get URL -` with standard output closed (`>&-`): Bun opens /dev/null in its place, and the
// file went there with exit 0. Told from `>/dev/null` by that descriptor's close-on-exec. So did
// every command whose job is its stdout: a listing, a --json report, a dry run's plan, user list, a
// checklist, --help. Refused once the arguments are checked: a usage error is still exit 2.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, FTPKIT, removeDir, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

let srv: FtpkitPeer;
let work: string;
beforeAll(async () => {
  srv = await startFtpkitServer();
  writeFileSync(join(srv.home, "a.txt"), "alpha\n");
  mkdirSync(join(srv.home, "d"));
  writeFileSync(join(srv.home, "d", "b.txt"), "beta\n");
  work = tempDir("ftpkit-closed-stdout-");
  writeFileSync(join(work, "up.txt"), "upload\n");
});
afterAll(async () => {
  await srv.stop();
  removeDir(work);
});

/** `ftpkit ARGS` with standard output as the shell redirection `redirect` leaves it. */
async function withStdout(redirect: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn(["sh", "-c", `exec "$@" ${redirect}`, "sh", "bun", FTPKIT, ...args], { cwd: work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stderr };
}

test("get URL - with standard output closed (>&-) is one line, exit 3", async () => {
  const r = await withStdout(">&-", ["get", srv.url("/a.txt"), "-"]);
  expect(r.stderr.trimEnd()).toBe("[error] cannot write to standard output: it was closed (>&-); give a file name instead of -, or send it to /dev/null");
  expect(r.code).toBe(3);
});

test.each([">/dev/null", "1<>/dev/null"])("get URL - %s still goes there, exit 0", async (redirect) => {
  const r = await withStdout(redirect, ["get", srv.url("/a.txt"), "-", "-q"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
});

test("get URL FILE with standard output closed writes the file, exit 0", async () => {
  const r = await withStdout(">&-", ["get", srv.url("/a.txt"), "a.txt", "-q"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(await Bun.file(join(work, "a.txt")).text()).toBe("alpha\n");
});

/** Commands whose job is their stdout, what the refusal names, and the status a local failure has there. */
const STDOUT_JOBS: [string, (local: string) => string[], string, number][] = [
  ["ls", () => ["ls", srv.url("/")], "the listing", 3],
  ["ls --json", () => ["ls", srv.url("/"), "--json"], "the listing", 3],
  ["get -r --json", (local) => ["get", "-r", srv.url("/d/"), local, "--json"], "the --json report", 3],
  ["put --json", () => ["put", "up.txt", srv.url("/up.txt"), "--json"], "the --json report", 3],
  ["sync --json", (local) => ["sync", srv.url("/d/"), local, "--json"], "the --json report", 3],
  ["get -r --dry-run", (local) => ["get", "-r", srv.url("/d/"), local, "--dry-run"], "the --dry-run plan", 3],
  ["resume --list", () => ["resume", "--list"], "the list of pending transfers", 3],
  ["user list", () => ["user", "list", "--users", join(srv.dir, "users.ini")], "the list of users", 1],
  ["user list --json", () => ["user", "list", "--json", "--users", join(srv.dir, "users.ini")], "the list of users", 1],
  ["test", () => ["test", srv.url("/")], "the checklist", 1],
  ["test --json", () => ["test", srv.url("/"), "--json"], "the --json report", 1],
];

let runs = 0;

test.each(STDOUT_JOBS)("%s with standard output closed (>&-) is refused before it starts: one line, its local-failure status", async (_name, args, what, status) => {
  const local = `out-${++runs}`;
  const r = await withStdout(">&-", args(local));
  expect(r.stderr.trimEnd()).toBe(`[error] cannot write to standard output: it was closed (>&-), and ${what} goes there; send it to /dev/null to discard it`);
  expect(r.code).toBe(status);
  expect(existsSync(join(work, local))).toBe(false);
});

test.each(STDOUT_JOBS)("%s with standard output on /dev/null still runs, exit 0", async (_name, args) => {
  const r = await withStdout(">/dev/null", args(`null-${++runs}`));
  expect(r.stderr).not.toContain("cannot write to standard output");
  expect(r.code).toBe(0);
});

test("get -r without --json, standard output closed, still downloads the tree, exit 0", async () => {
  const r = await withStdout(">&-", ["get", "-r", srv.url("/d/"), "tree", "-q"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(await Bun.file(join(work, "tree", "b.txt")).text()).toBe("beta\n");
});

/** A usage error under a closed standard output: what the same command line says with it open. */
const USAGE_ERRORS: [string, () => string[], string][] = [
  ["get -r --dry-run with an unknown flag", () => ["get", "-r", srv.url("/d/"), "x", "--dry-run", "--bogus"], "[error] unknown option --bogus"],
  ["get --dry-run without its URL", () => ["get", "--dry-run"], "[error] missing required positional argument: URL (see ftpkit get --help)"],
  ["ls of a bad URL", () => ["ls", "notaurl"], '[error] invalid FTP URL "notaurl" (expected ftp://[user[:password]@]host[:port]/path)'],
  ["ls --json --names", () => ["ls", srv.url("/"), "--json", "--names"], "[error] choose one of -l, --names and --json"],
  ["user list with an unknown flag", () => ["user", "list", "--bogus"], "[error] unknown option --bogus"],
  ["test --timeout 0", () => ["test", srv.url("/"), "--timeout", "0"], '[error] --timeout must be a number of seconds from 1 to 600, got "0"'],
];

test.each(USAGE_ERRORS)("%s, standard output closed: the usage error first, exit 2", async (_name, args, line) => {
  const r = await withStdout(">&-", args());
  expect([r.code, r.stderr.trimEnd()]).toEqual([2, line]);
});

/** --help and --version print nothing else: what the refusal names, and the status of an output failure of that command. */
const BUILTINS: [string[], string, number][] = [
  [["--help"], "the help", 1],
  [["get", "--help"], "the help", 3],
  [["ls", "-h"], "the help", 3],
  [["user", "add", "--help"], "the help", 1],
  [["--version"], "the version", 1],
];

test.each(BUILTINS)("%p with standard output closed is refused: one line, the status of an output failure", async (args, what, status) => {
  const r = await withStdout(">&-", args);
  expect([r.code, r.stderr.trimEnd()]).toEqual([status, `[error] cannot write to standard output: it was closed (>&-), and ${what} goes there; send it to /dev/null to discard it`]);
});

test.each(BUILTINS)("%p with standard output on /dev/null, exit 0", async (args) => {
  const r = await withStdout(">/dev/null", args);
  expect([r.code, r.stderr]).toEqual([0, ""]);
});
