// ftpkit user: what it refuses of its input, and how it says so (one line, exit status, file unchanged).
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type FtpServer } from "../../server/index.ts";
import { Wire } from "../helpers/wire.ts";

const CLI = join(import.meta.dir, "../../cli/ftpkit.ts");

/** Run `ftpkit user …` in `cwd` with `stdin` (a pipe); stderr's non-empty lines without consola's tag. */
async function ftpkit(cwd: string, args: string[], stdin?: string): Promise<{ code: number; lines: string[] }> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  delete env.FTPKIT_USERS;
  const proc = Bun.spawn(["bun", CLI, "user", ...args], { cwd, stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe", env });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { code, lines: stderr.split("\n").map((l) => l.replace(/^\s*(ERROR|WARN|✔|ℹ|⚠|\[\w+\])\s*/, "").trim()).filter(Boolean) };
}

let root = "";
let n = 0;
let server: FtpServer | null = null;
const wires: Wire[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ftpkit-user-input-"));
});
afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await server?.close(0);
  server = null;
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const d = join(root, `t${++n}`);
  await mkdir(d, { recursive: true });
  return d;
}

async function loginCode(usersFile: string, user: string, password: string): Promise<number> {
  server = createServer({ usersFile, host: "127.0.0.1", port: 0, quiet: true, failedLoginDelayMs: 0 });
  await server.listen();
  const w = await Wire.connect(server.address.port);
  wires.push(w);
  return (await w.login(user, password)).code;
}

const EMOJI = "\u{1F600}"; // one character, two UTF-16 units, four bytes in UTF-8

test("a password's length is counted in characters, and its UTF-8 bytes must fit PASS's command line: the longest that fits logs in", async () => {
  const d = await freshDir();
  // 600 characters (1,200 UTF-16 units): well within 1,024.
  expect(await ftpkit(d, ["add", "emo", "--password-stdin"], `${EMOJI.repeat(600)}\n`)).toMatchObject({ code: 0 });
  // 1,024 characters in 4,090 bytes: "PASS " + it + CR is the server's whole 4,096-byte line.
  const longest = EMOJI.repeat(1022) + "ab";
  expect(await ftpkit(d, ["add", "max", "--password-stdin"], `${longest}\n`)).toMatchObject({ code: 0 });
  expect(await ftpkit(d, ["add", "many", "--password-stdin"], `${"a".repeat(1025)}\n`)).toEqual({ code: 1, lines: ["password longer than 1024 characters refused"] });
  expect(await ftpkit(d, ["add", "big", "--password-stdin"], `${EMOJI.repeat(1023)}\n`)).toEqual({
    code: 1,
    lines: ["password of 4092 bytes in UTF-8 refused: the server's command line carries at most 4090 after PASS, so no client could log in with it"],
  });
  const file = join(d, "users.ini");
  expect(await loginCode(file, "max", longest)).toBe(230);
  const w = await Wire.connect(server!.address.port);
  wires.push(w);
  expect((await w.login("emo", EMOJI.repeat(600))).code).toBe(230);
}, 30_000);

test("a home that cannot be created is one line naming why, and nothing is written", async () => {
  const d = await freshDir();
  await writeFile(join(d, "afile"), "x");
  await symlink(join(d, "nowhere"), join(d, "dangling"));
  const cases: Array<[string, string]> = [
    [join(d, "afile/alice"), "a file stands in its path"],
    [join(d, "dangling/alice"), `${join(d, "dangling")} is a symlink to ${join(d, "nowhere")}, which does not exist`],
  ];
  for (const [home, why] of cases) {
    expect(await ftpkit(d, ["add", "alice", "--home", home, "--password-stdin"], "pw\n")).toEqual({ code: 1, lines: [`cannot create home ${home}: ${why}; nothing was written`] });
  }
  // /proc takes no new directory (ENOENT as root; as another account the kernel may say EACCES first).
  const proc = await ftpkit(d, ["add", "alice", "--home", "/proc/ftpkit-x", "--password-stdin"], "pw\n");
  expect(proc.code).toBe(1);
  expect(proc.lines).toHaveLength(1);
  expect(proc.lines[0]).toStartWith("cannot create home /proc/ftpkit-x: ");
  if (process.getuid?.() === 0) expect(proc.lines[0]).toBe("cannot create home /proc/ftpkit-x: its file system takes no new directory there; nothing was written");
  expect(existsSync(join(d, "users.ini"))).toBe(false);
}, 30_000);

test("user add refuses a home it cannot create or store before it reads the password", async () => {
  const d = await freshDir();
  await writeFile(join(d, "afile"), "x");
  const file = join(d, "users.ini");
  // No password on stdin: a command that asked for it first would say so instead.
  expect(await ftpkit(d, ["add", "alice", "--home", join(d, "afile/alice"), "--password-stdin"], "")).toEqual({
    code: 1,
    lines: [`cannot create home ${join(d, "afile/alice")}: a file stands in its path; nothing was written`],
  });
  const home = join(d, "new", "a\\;b");
  const cannot = `its home ${home} holds a backslash before ";", "#" or another backslash, which the users file's INI format cannot store: rename it, or choose another`;
  expect(await ftpkit(d, ["add", "alice", "--home", home, "--password-stdin"], "")).toEqual({ code: 1, lines: [`users file ${file}: cannot store user "alice": ${cannot}`] });
  // A home that can be made is made only once the password is read: the check leaves nothing.
  expect((await ftpkit(d, ["add", "alice", "--home", join(d, "deep/er/alice"), "--password-stdin"], "")).code).toBe(1);
  expect(existsSync(join(d, "deep"))).toBe(false);
  expect(existsSync(join(d, "new"))).toBe(false);
  expect(existsSync(file)).toBe(false);
}, 30_000);

test("a home or mount directory the users file cannot store is refused saying what in it cannot be stored, and nothing is written", async () => {
  const d = await freshDir();
  expect((await ftpkit(d, ["add", "bob", "--password-stdin"], "pw\n")).code).toBe(0);
  const file = join(d, "users.ini");
  const before = await readFile(file, "utf8");
  const backslash = 'a backslash before ";", "#" or another backslash';
  const cases: Array<[string, string]> = [
    ["a\\;b", backslash],
    ["a\\#b", backslash],
    ["a\\\\b", backslash],
    ["a\u2028b", "a line or paragraph separator (U+2028, U+2029)"],
  ];
  const cannot = "which the users file's INI format cannot store: rename it, or choose another";
  for (const [name, why] of cases) {
    const home = join(d, name);
    const shown = home.replace("\u2028", "\\u2028");
    expect(await ftpkit(d, ["add", "alice", "--home", home, "--password-stdin"], "pw\n")).toEqual({
      code: 1,
      lines: [`users file ${file}: cannot store user "alice": its home ${shown} holds ${why}, ${cannot}`],
    });
    expect(existsSync(home)).toBe(false); // the home it made is removed again
    await mkdir(home);
    expect(await ftpkit(d, ["mount", "bob", "/m", home, "--perm", "read"])).toEqual({
      code: 1,
      lines: [`users file ${file}: cannot store user "bob": its mount /m's directory ${shown} holds ${why}, ${cannot}`],
    });
  }
  expect(await readFile(file, "utf8")).toBe(before);
}, 30_000);
