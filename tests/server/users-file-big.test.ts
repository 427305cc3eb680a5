// A big users file (thousands of users): read as the `ini` package reads each line, and edited by
// `ftpkit user` in place, the other users' lines untouched. Speed is not timed here (measured in the
// commits: a 50,000-user file); these pin what the faster paths must still do.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ini from "ini";
import { decodeLine } from "../../server/auth/ini-lines.ts";
import { loadUsers } from "../../server/auth/ini-store.ts";
import { FTPKIT } from "../helpers/peers.ts";

const HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$J3mP7m7BXpSvHEbDPAJm3N4aJKu4pnNGtNgfzbIOyVc";

/** `n` users as `ftpkit user add` writes them, with a precomputed hash (no 27 ms argon2id each). */
function bigUsersText(n: number): string {
  let s = "; a big users file\n";
  for (let i = 0; i < n; i++) s += `\n[user${i}]\npassword = "${HASH}"\nhome = home/user${i}\nquota = 0\nperm = read,write,modify\nrequire_tls = false\n`;
  return s;
}

/** The line decoding before the fast path: the `ini` package, with a quoted value's comment cut. */
function iniDecode(raw: string): Array<[string, unknown]> {
  const eq = raw.indexOf("=");
  const quoted = eq > 0 ? /^(\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'))\s*[;#]/.exec(raw.slice(eq + 1)) : null;
  return Object.entries(ini.parse(quoted ? raw.slice(0, eq + 1) + quoted[1] : raw));
}

describe("decodeLine", () => {
  test("reads every line built of hostile pieces as the ini package does", () => {
    // Line breaks inside a line (which trim() would hide), quotes, escapes, comments, JSON words,
    // `[]` keys, __proto__, control characters and Unicode blanks, around one "=".
    const pieces = ["a", " ", "\t", "\"", "'", "\\", ";", "#", "[]", "]", "\u2028", "\u2029", "\r", "\n", "\x01", "\u00a0", "\ufeff", "true", "false", "null", "__proto__", "mount./a b", "=", "é"];
    const mismatches: string[] = [];
    let checked = 0;
    for (const k of pieces) for (const k2 of ["", ...pieces]) for (const v of ["", ...pieces]) for (const v2 of ["", ...pieces]) {
      const line = `${k}${k2}=${v}${v2}`;
      let want: string;
      try {
        want = JSON.stringify(iniDecode(line));
      } catch {
        continue; // ini itself throws on a few keys (a quoted "null"): not a line to compare
      }
      checked++;
      if (JSON.stringify(decodeLine(line)) !== want && mismatches.push(JSON.stringify(line)) > 20) break;
    }
    expect(checked).toBeGreaterThan(300_000);
    expect(mismatches).toEqual([]);
  });
});

describe("ftpkit user on a big users file", () => {
  let dir = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ftpkit-big-users-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  async function user(args: string[], stdin = ""): Promise<{ code: number; stderr: string }> {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), NO_COLOR: "1" };
    delete env.FTPKIT_USERS;
    const proc = Bun.spawn(["bun", FTPKIT, "user", ...args, "--users", join(dir, "users.ini")], { cwd: dir, stdin: new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe", env });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    return { code, stderr };
  }

  test("add, quota and del change only their own lines of a 5,000-user file", async () => {
    const file = join(dir, "users.ini");
    const text = bigUsersText(5000);
    writeFileSync(file, text);
    expect(await user(["add", "newbie", "--password-stdin"], "pw\n")).toMatchObject({ code: 0 });
    const added = readFileSync(file, "utf8");
    expect(added.startsWith(text)).toBe(true);
    expect(added.slice(text.length)).toStartWith("\n[newbie]\n");

    expect(await user(["quota", "user2500", "5GB"])).toMatchObject({ code: 0 });
    const quota = readFileSync(file, "utf8");
    expect(quota).toBe(added.replace("[user2500]\n" + `password = "${HASH}"\nhome = home/user2500\nquota = 0\n`, "[user2500]\n" + `password = "${HASH}"\nhome = home/user2500\nquota = 5GB\n`));

    expect(await user(["del", "user10"])).toMatchObject({ code: 0 });
    const users = await loadUsers(file);
    expect(users.size).toBe(5000);
    expect(users.has("user10")).toBe(false);
    expect(users.get("user2500")!.quota).toBe(5e9);
    expect(users.get("newbie")!.hash).toStartWith("$argon2id$");
    expect(users.get("user4999")!.hash).toBe(HASH);
  }, 60_000);
});
