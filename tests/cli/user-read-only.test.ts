// A users file made read-only (chmod 0444) is not changed by `ftpkit user …`: the save wrote a temp
// file and renamed it over the old one (mode kept), which needs only the folder's write bit, and as
// root not even the bits. Each editing subcommand refuses in one line naming the file, exit 1.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, FTPKIT } from "../helpers/peers.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ftpkit-users-read-only-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TEXT = `; kept as it is\n[alice]\nhome = /srv/alice\nquota = 1GB\n`;

/** `ftpkit user ARGS --users FILE` with `stdin`; its exit status and stderr lines. */
async function user(file: string, args: string[], stdin = ""): Promise<{ code: number; lines: string[] }> {
  const proc = Bun.spawn(["bun", FTPKIT, "user", ...args, "--users", file], {
    cwd: dir,
    env: { ...cleanEnv(), NO_COLOR: "1" },
    stdin: new TextEncoder().encode(stdin),
    stdout: "ignore",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, lines: stderr.split("\n").filter(Boolean) };
}

const EDITS: Array<[string, string[], string?]> = [
  ["add", ["add", "bob", "--home", "/srv/bob", "--password-stdin"], "bob-pw\n"],
  ["add --no-password", ["add", "carol", "--home", "/srv/carol", "--no-password"]],
  ["del", ["del", "alice"]],
  ["passwd", ["passwd", "alice", "--password-stdin"], "new-pw\n"],
  ["quota", ["quota", "alice", "5GB"]],
  ["tls", ["tls", "alice", "on"]],
  ["mount", ["mount", "alice", "/pub", "/var"]],
];

for (const [name, args, stdin] of EDITS) {
  for (const mode of [0o444, 0o400]) {
    test(`user ${name} on a users file of mode 0${mode.toString(8)}: one line naming it read-only, exit 1, nothing changed`, async () => {
      const file = join(dir, `${name.replace(/\W+/g, "-")}-${mode.toString(8)}.ini`);
      writeFileSync(file, TEXT);
      chmodSync(file, mode);
      const before = statSync(file);
      const r = await user(file, args, stdin);
      expect(r.lines).toEqual([`[error] users file ${file}: is read-only (mode 0${mode.toString(8)}): nothing was changed; make it writable (chmod u+w) to change it`]);
      expect(r.code).toBe(1);
      const after = statSync(file);
      // The same file (not a copy renamed over it), its text and mode as they were; no temp file or lock left.
      expect([after.ino, after.mode & 0o7777, readFileSync(file, "utf8")]).toEqual([before.ino, mode, TEXT]);
      expect(readdirSync(dir).filter((n) => n.includes(".tmp") || n.endsWith(".lock"))).toEqual([]);
    });
  }
}

test("user passwd on a read-only users file is refused before the password is asked", async () => {
  const file = join(dir, "passwd-first.ini");
  writeFileSync(file, TEXT);
  chmodSync(file, 0o444);
  // No --password-stdin and no terminal: had the prompt come first, it would say there is no terminal.
  const r = await user(file, ["passwd", "alice"]);
  expect(r.lines).toEqual([`[error] users file ${file}: is read-only (mode 0444): nothing was changed; make it writable (chmod u+w) to change it`]);
  expect(r.code).toBe(1);
});

test("a users file with a write bit for anyone (0644, 0604) is still changed, its mode kept", async () => {
  for (const mode of [0o644, 0o604]) {
    const file = join(dir, `writable-${mode.toString(8)}.ini`);
    writeFileSync(file, TEXT);
    chmodSync(file, mode);
    const r = await user(file, ["quota", "alice", "5GB"]);
    expect(r.code).toBe(0);
    expect(readFileSync(file, "utf8")).toContain("quota = 5GB");
    expect(statSync(file).mode & 0o7777).toBe(mode);
  }
});

test("user list reads a read-only users file as ever", async () => {
  const file = join(dir, "list.ini");
  writeFileSync(file, TEXT);
  chmodSync(file, 0o444);
  const proc = Bun.spawn(["bun", FTPKIT, "user", "list", "--users", file], { cwd: dir, env: { ...cleanEnv(), NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  expect(out).toStartWith("alice home=/srv/alice quota=1GB");
});
