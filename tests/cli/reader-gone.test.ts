// A listing whose reader stops early (`ftpkit user list | head -1`) stops without a word and exits 0,
// as cat, ls and git do: the reader took what it wanted. It said "cannot write to standard output:
// the reader closed it (broken pipe)" and exited 1. (The client's commands: tests/client/stdio.test.ts.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, FTPKIT } from "../helpers/peers.ts";

let dir: string;
let users: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ftpkit-reader-gone-"));
  users = join(dir, "users.ini");
  // ~400 KB of listing: far past what a pipe holds, so ftpkit is still writing when head exits.
  writeFileSync(users, Array.from({ length: 4000 }, (_, i) => `[user${i}]\nhome = ${dir}/homes/user${i}\n`).join("\n"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `ftpkit ARGS | head -1`: what head printed, ftpkit's stderr and its exit status (bash's PIPESTATUS). */
async function intoHeadOne(args: string[], cwd: string): Promise<{ head: string; stderr: string; code: number }> {
  const script = `bun "$0" "$@" 2>"$FTPKIT_ERR" | head -1; echo "\${PIPESTATUS[0]}" >"$FTPKIT_STATUS"`;
  const err = join(cwd, `stderr-${crypto.randomUUID()}`);
  const status = `${err}.status`;
  const proc = Bun.spawn(["bash", "-c", script, FTPKIT, ...args], {
    cwd,
    env: { ...cleanEnv(), NO_COLOR: "1", FTPKIT_ERR: err, FTPKIT_STATUS: status },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  const head = await new Response(proc.stdout).text();
  await proc.exited;
  clearTimeout(timer);
  const read = (p: string) => Bun.file(p).text();
  return { head, stderr: await read(err), code: Number((await read(status)).trim()) };
}

test("user list | head -1: the first user, nothing on stderr, exit 0", async () => {
  const r = await intoHeadOne(["user", "list", "--users", users], dir);
  expect(r.head).toStartWith("user0 home=");
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
});

test("user list --json | head -1: nothing on stderr, exit 0", async () => {
  const r = await intoHeadOne(["user", "list", "--users", users, "--json"], dir);
  expect(r.head.length).toBeGreaterThan(0);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
});

test("user list into /dev/full still says why in one line, exit 1: a full disk is not a reader that had enough", async () => {
  const proc = Bun.spawn(["bash", "-c", `bun "$0" user list --users "$1" >/dev/full`, FTPKIT, users], { cwd: dir, env: { ...cleanEnv(), NO_COLOR: "1" }, stdout: "ignore", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(stderr.trim().split("\n")).toEqual(["[error] cannot write to standard output: disk full"]);
  expect(code).toBe(1);
});
