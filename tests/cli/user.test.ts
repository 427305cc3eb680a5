import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadUsers } from "../../server/auth/ini-store.ts";

const CLI = join(import.meta.dir, "../../cli/ftpkit.ts");
const CORRUPT = join(import.meta.dir, "../../fixtures/users/corrupt.ini");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Non-empty stderr lines, without consola's decoration. */
  lines: string[];
}

/** Run `ftpkit user …` in `cwd`; stdin is the given text, else /dev/null (never a TTY). */
async function ftpkit(cwd: string, args: string[], stdin?: string, env: Record<string, string> = {}): Promise<Run> {
  const baseEnv: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...env };
  if (!("FTPKIT_USERS" in env)) delete baseEnv.FTPKIT_USERS;
  const proc = Bun.spawn(["bun", CLI, "user", ...args], {
    cwd,
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: baseEnv,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const lines = stderr.split("\n").map((l) => l.replace(/^\s*(ERROR|WARN|✔|ℹ|⚠|\[\w+\])\s*/, "").trim()).filter(Boolean);
  return { code, stdout, stderr, lines };
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ftpkit-cli-user-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
async function freshDir(): Promise<string> {
  const d = join(root, `t${++n}`);
  await mkdir(d, { recursive: true });
  return d;
}

async function tempFiles(d: string): Promise<string[]> {
  return (await readdir(d)).filter((f) => f.endsWith(".tmp"));
}

describe("ftpkit user (success paths)", () => {
  test("add reads the password from stdin, creates the file, the home and stores it relative", async () => {
    const d = await freshDir();
    const r = await ftpkit(d, ["add", "alice", "--password-stdin"], "s3cret pw \r\n");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("added user alice");
    const file = join(d, "users.ini");
    const text = await readFile(file, "utf8");
    expect(text).toMatch(/^; Managed by `ftpkit user`/);
    expect(text).toContain("[alice]\n");
    expect(text).toContain("home = home/alice\n");
    expect(text).not.toContain("s3cret");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(d, "home/alice"))).isDirectory()).toBe(true);
    const alice = (await loadUsers(file)).get("alice")!;
    expect(alice).toMatchObject({ home: join(d, "home/alice"), quota: 0, perms: ["read", "write", "modify"], mounts: [], requireTls: false });
    expect(alice.hash).toStartWith("$argon2id$");
    // Trailing spaces are part of the password; only the line ending is not.
    expect(await Bun.password.verify("s3cret pw ", alice.hash!)).toBe(true);
    expect(await Bun.password.verify("s3cret pw", alice.hash!)).toBe(false);
    expect(await tempFiles(d)).toEqual([]);
  });

  test("add with every option, and --home relative to the working directory", async () => {
    const d = await freshDir();
    const r = await ftpkit(d, ["add", "bob", "--home", "elsewhere/bob", "--quota", "10GB", "--perm", "read", "--require-tls", "--password-stdin", "--users", "conf/u.ini"], "pw\n");
    expect(r.code).toBe(1); // conf/ does not exist: nothing to write into
    expect(r.lines).toHaveLength(1);
    await mkdir(join(d, "conf"));
    const r2 = await ftpkit(d, ["add", "bob", "--home", "elsewhere/bob", "--quota", "10GB", "--perm", "read", "--require-tls", "--password-stdin", "--users", "conf/u.ini"], "pw\n");
    expect(r2.code).toBe(0);
    const bob = (await loadUsers(join(d, "conf/u.ini"))).get("bob")!;
    expect(bob).toMatchObject({ home: join(d, "elsewhere/bob"), quota: 1e10, perms: ["read"], requireTls: true });
    expect((await stat(join(d, "elsewhere/bob"))).isDirectory()).toBe(true);
    expect(await readFile(join(d, "conf/u.ini"), "utf8")).toContain(`home = ${join(d, "elsewhere/bob")}\n`);
  });

  test("--no-password really creates a user without a password (anonymous)", async () => {
    const d = await freshDir();
    const r = await ftpkit(d, ["add", "anonymous", "--no-password", "--perm", "read"]);
    expect(r.code).toBe(0);
    const anon = (await loadUsers(join(d, "users.ini"))).get("anonymous")!;
    expect(anon.hash).toBeUndefined();
    expect(anon.perms).toEqual(["read"]);
    expect(await readFile(join(d, "users.ini"), "utf8")).not.toContain("password");
    // For anyone else it works but warns that the account cannot log in yet.
    const r2 = await ftpkit(d, ["add", "locked", "--no-password"]);
    expect(r2.code).toBe(0);
    expect(r2.stderr).toMatch(/cannot log in/);
    expect((await loadUsers(join(d, "users.ini"))).get("locked")!.hash).toBeUndefined();
  });

  test("FTPKIT_USERS picks the file when --users is absent", async () => {
    const d = await freshDir();
    const r = await ftpkit(d, ["add", "eve", "--no-password"], undefined, { FTPKIT_USERS: join(d, "env.ini") });
    expect(r.code).toBe(0);
    expect((await loadUsers(join(d, "env.ini"))).has("eve")).toBe(true);
  });

  test("passwd, quota, mount (add, replace, remove), list and del", async () => {
    const d = await freshDir();
    const file = join(d, "users.ini");
    expect((await ftpkit(d, ["add", "alice", "--password-stdin"], "one\n")).code).toBe(0);
    expect((await ftpkit(d, ["add", "anonymous", "--no-password", "--perm", "read"])).code).toBe(0);

    expect((await ftpkit(d, ["passwd", "alice", "--password-stdin"], "two\n")).code).toBe(0);
    const hash = (await loadUsers(file)).get("alice")!.hash!;
    expect(await Bun.password.verify("two", hash)).toBe(true);
    expect(await Bun.password.verify("one", hash)).toBe(false);

    const fiveGB = await ftpkit(d, ["quota", "alice", "5GB"]);
    expect(fiveGB.lines).toEqual(["quota of alice: 5GB"]); // it said "4.7 GiB"
    // Said in the largest exact unit, as given: it printed "5120B" for 5K, and user list "quota=1536MiB" for 1.5GiB.
    expect((await ftpkit(d, ["quota", "alice", "5K"])).lines).toEqual(["quota of alice: 5KiB"]);
    expect((await ftpkit(d, ["quota", "alice", "1.5GiB"])).lines).toEqual(["quota of alice: 1.5GiB"]);
    expect((await ftpkit(d, ["list"])).stdout.split("\n").find((l) => l.startsWith("alice "))).toContain("quota=1.5GiB");
    expect((await ftpkit(d, ["quota", "alice", "5MiB"])).code).toBe(0);
    expect((await loadUsers(file)).get("alice")!.quota).toBe(5 * 1024 ** 2);
    expect((await ftpkit(d, ["quota", "alice", "none"])).code).toBe(0);
    expect((await loadUsers(file)).get("alice")!.quota).toBe(0);

    await mkdir(join(d, "pub"));
    await mkdir(join(d, "pub2"));
    expect((await ftpkit(d, ["mount", "alice", "/x/../pub/", "pub"])).code).toBe(0);
    expect((await loadUsers(file)).get("alice")!.mounts).toEqual([{ vpath: "/pub", dir: join(d, "pub"), perms: ["read"], quota: 0 }]);
    const re = await ftpkit(d, ["mount", "alice", "/pub", "pub2", "--perm", "read,write", "--quota", "1GB"]);
    expect(re.code).toBe(0);
    expect(re.stderr).toContain("replaced");
    expect((await loadUsers(file)).get("alice")!.mounts).toEqual([{ vpath: "/pub", dir: join(d, "pub2"), perms: ["read", "write"], quota: 1e9 }]);
    expect((await ftpkit(d, ["mount", "alice", "/drop", "pub"])).code).toBe(0);

    const list = await ftpkit(d, ["list"]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith("alice ");
    expect(lines[0]).toContain(`home=${join(d, "home/alice")}`);
    expect(lines[0]).toContain("quota=unlimited");
    expect(lines[0]).toContain("perm=read,write,modify");
    expect(lines[0]).toContain("tls=optional");
    expect(lines[0]).toContain(`/pub=${join(d, "pub2")}(read,write,1GB)`); // as given: it was shown as 954MiB
    expect(lines[1]).toStartWith("anonymous ");
    expect(lines[1]).toContain("password=none");
    expect(list.stdout).not.toContain("argon2");

    const json = await ftpkit(d, ["list", "--json"]);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.map((u: { name: string }) => u.name)).toEqual(["alice", "anonymous"]);
    expect(parsed[0]).toMatchObject({ quota: 0, perms: ["read", "write", "modify"], requireTls: false, password: true });
    expect(parsed[0].mounts).toHaveLength(2);
    expect(json.stdout).not.toContain("argon2");

    expect((await ftpkit(d, ["mount", "alice", "/drop", "--remove"])).code).toBe(0);
    expect((await loadUsers(file)).get("alice")!.mounts.map((m) => m.vpath)).toEqual(["/pub"]);

    const del = await ftpkit(d, ["del", "alice"]);
    expect(del.code).toBe(0);
    expect((await loadUsers(file)).has("alice")).toBe(false);
    expect((await stat(join(d, "home/alice"))).isDirectory()).toBe(true); // never deleted
    expect(await tempFiles(d)).toEqual([]);
  });
});

test("user list prints one line per user when a home or mount directory holds a line break or an escape; --json gives them exactly", async () => {
  const d = await freshDir();
  const home = join(d, "x\nmallory home=/ quota=unlimited perm=read,write,modify");
  expect((await ftpkit(d, ["add", "eve", "--password-stdin", "--home", home], "pw\n")).code).toBe(0);
  const pub = join(d, "pub\u001b[2J\u202e");
  await mkdir(pub);
  expect((await ftpkit(d, ["mount", "eve", "/pub", pub])).code).toBe(0);
  const r = await ftpkit(d, ["list"]);
  expect(r.code).toBe(0);
  const lines = r.stdout.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith(`eve home=${d}/x\\x0amallory home=/ `);
  expect(lines[0]).toContain(`/pub=${d}/pub\\x1b[2J\\u202e(read)`);
  expect(r.stdout).not.toMatch(/[\x1b\u202e]/);
  const json = await ftpkit(d, ["list", "--json"]);
  expect(json.stdout).not.toMatch(/[\u202e]/);
  const [eve] = JSON.parse(json.stdout) as Array<{ home: string; mounts: Array<{ dir: string }> }>;
  expect(eve!.home).toBe(home);
  expect(eve!.mounts[0]!.dir).toBe(pub);
}, 30_000);

test("user list says which password hashes no password can match (carried over from /etc/shadow, cut short), as the server does at load", async () => {
  const d = await freshDir();
  const good = await Bun.password.hash("pw", { algorithm: "bcrypt", cost: 4 });
  const argon = await Bun.password.hash("pw");
  await writeFile(
    join(d, "users.ini"),
    `[ok]\npassword = "${good}"\n[argon]\npassword = "${argon}"\n[shadow]\npassword = "$6$salt$hash"\n[cut]\npassword = "${argon.slice(0, 40)}"\n[nopw]\n`,
  );
  const r = await ftpkit(d, ["list"]);
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split("\n").map((l) => `${l.split(" ")[0]} ${/password=\S+/.exec(l)![0]}`)).toEqual([
    "ok password=set",
    "argon password=set",
    "shadow password=unusable",
    "cut password=unusable",
    "nopw password=none",
  ]);
  const json = JSON.parse((await ftpkit(d, ["list", "--json"])).stdout) as Array<{ name: string; password: boolean; passwordUsable: boolean }>;
  expect(json.map((u) => [u.name, u.password, u.passwordUsable])).toEqual([
    ["ok", true, true],
    ["argon", true, true],
    ["shadow", true, false],
    ["cut", true, false],
    ["nopw", false, false],
  ]);
}, 30_000);

test.skipIf(!Bun.which("script"))("--password-stdin from a terminal asks twice without echo: the typed password never shows", async () => {
  const d = await freshDir();
  expect((await ftpkit(d, ["add", "alice", "--password-stdin"], "old\n")).code).toBe(0);
  // script(1) gives the command a terminal: what it echoes comes back on script's stdout.
  const cmd = `bun '${CLI}' user passwd alice --password-stdin --users '${join(d, "users.ini")}'`;
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], { cwd: d, stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const timer = setTimeout(() => proc.kill(9), 10_000);
  let seen = "";
  const reader = proc.stdout.getReader();
  const until = async (text: string) => {
    while (!seen.includes(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`ended before ${JSON.stringify(text)}: ${JSON.stringify(seen)}`);
      seen += new TextDecoder().decode(value);
    }
  };
  try {
    await until("Password: ");
    proc.stdin.write("Typed-Secret-42\r");
    proc.stdin.flush();
    await until("Repeat password: ");
    proc.stdin.write("Typed-Secret-42\r");
    proc.stdin.flush();
    await until("password of alice changed");
    proc.stdin.end();
    expect(await proc.exited).toBe(0);
  } finally {
    clearTimeout(timer);
    proc.kill(9);
  }
  expect(seen).not.toContain("Typed-Secret");
  expect(await Bun.password.verify("Typed-Secret-42", (await loadUsers(join(d, "users.ini"))).get("alice")!.hash!)).toBe(true);
}, 30_000);

describe("ftpkit user keeps a hand-annotated users file", () => {
  const HASH_A = "$argon2id$v=19$m=19456,t=2,p=1$YWxpY2VzYWx0$YWxpY2VoYXNo";
  const HASH_B = "$argon2id$v=19$m=19456,t=2,p=1$Ym9ic2FsdA$Ym9iaGFzaA";
  // As a vsftpd/ProFTPD admin keeps a file: notes at the top, between and inside sections.
  const TEXT = [
    "# FTP accounts of the build farm -- ops@example.com",
    "",
    "; alice runs the nightly uploads",
    "[alice]",
    `password = "${HASH_A}"`,
    "home = home/alice   ; her share",
    "; raised for the migration, ticket OPS-12",
    "quota = 10GB",
    "mount./drop = /srv/drop|write|1GB",
    "",
    "; bob: contractor until June",
    "[bob]",
    `password = "${HASH_B}"`,
    "perm = read",
    "; end of the contractors",
    "",
  ].join("\n");

  async function annotated(): Promise<{ d: string; file: string }> {
    const d = await freshDir();
    const file = join(d, "users.ini");
    await writeFile(file, TEXT);
    return { d, file };
  }
  const hashOf = async (file: string, name: string) => (await loadUsers(file)).get(name)!.hash!;

  test("add appends the new user's section and changes nothing else", async () => {
    const { d, file } = await annotated();
    const r = await ftpkit(d, ["add", "carol", "--password-stdin", "--users", file], "pw\n");
    expect(r.code).toBe(0);
    const carol = ["[carol]", `password = "${await hashOf(file, "carol")}"`, "home = home/carol", "quota = 0", "perm = read,write,modify", "require_tls = false", ""];
    expect(await readFile(file, "utf8")).toBe(TEXT + ["", ...carol].join("\n"));
  });

  test("passwd rewrites only the password line, in place", async () => {
    const { d, file } = await annotated();
    expect((await ftpkit(d, ["passwd", "alice", "--password-stdin", "--users", file], "new pw\n")).code).toBe(0);
    const hash = await hashOf(file, "alice");
    expect(hash).not.toBe(HASH_A);
    expect(await readFile(file, "utf8")).toBe(TEXT.replace(`password = "${HASH_A}"`, `password = "${hash}"`));
  });

  test("del removes the user's lines and the comment right above it; the other comments stay", async () => {
    const { d, file } = await annotated();
    expect((await ftpkit(d, ["del", "bob", "--users", file])).code).toBe(0);
    expect(await readFile(file, "utf8")).toBe(TEXT.replace(`; bob: contractor until June\n[bob]\npassword = "${HASH_B}"\nperm = read\n`, ""));
  });

  test("quota, mount, mount --remove and tls each touch only their own line", async () => {
    const { d, file } = await annotated();
    await mkdir(join(d, "pub"));
    let expected = TEXT;
    const step = async (args: string[], from: string, to: string) => {
      expect((await ftpkit(d, [...args, "--users", file])).code).toBe(0);
      expected = expected.replace(from, to);
      expect(await readFile(file, "utf8")).toBe(expected);
    };
    await step(["quota", "alice", "5GB"], "quota = 10GB\n", "quota = 5GB\n");
    await step(["mount", "alice", "/pub", "pub"], "mount./drop = /srv/drop|write|1GB\n", `mount./drop = /srv/drop|write|1GB\nmount./pub = ${join(d, "pub")}|read|0\n`);
    await step(["mount", "alice", "/drop", "--remove"], "mount./drop = /srv/drop|write|1GB\n", "");
    await step(["tls", "bob", "on"], "perm = read\n", "perm = read\nrequire_tls = true\n");
    expect((await loadUsers(file)).get("bob")!.requireTls).toBe(true);
  });

  for (const secret of ["hunter2", "hunter2#42 ; set by hand", "abc;def"]) {
    test(`a plaintext password typed by hand (${secret}) is refused, and the passwd command the error names replaces that whole line alone`, async () => {
      const { d, file } = await annotated();
      const typed = TEXT.replace(`password = "${HASH_B}"`, `password = ${secret}`);
      await writeFile(file, typed);
      const other = await ftpkit(d, ["quota", "alice", "5GB", "--users", file]);
      expect(other.code).not.toBe(0);
      expect(other.lines.join("\n")).toContain("`ftpkit user passwd bob`");
      expect(await readFile(file, "utf8")).toBe(typed);
      expect((await ftpkit(d, ["passwd", "bob", "--password-stdin", "--users", file], "new pw\n")).code).toBe(0);
      expect(await readFile(file, "utf8")).toBe(typed.replace(`password = ${secret}`, `password = "${await hashOf(file, "bob")}"`));
    });
  }
});

describe("ftpkit user (bad input leaves the file byte-for-byte unchanged)", () => {
  let d: string;
  let file: string;
  let before: string; // hex of the bytes
  beforeAll(async () => {
    d = await freshDir();
    file = join(d, "users.ini");
    expect((await ftpkit(d, ["add", "alice", "--password-stdin"], "pw\n")).code).toBe(0);
    await mkdir(join(d, "pubdir"));
    await writeFile(join(d, "afile"), "x");
    await symlink("/nonexistent/dir", join(d, "dangling"));
    await symlink(join(d, "self"), join(d, "self"));
    before = (await readFile(file)).toString("hex");
  });

  const cases: Array<[string, string[], string | undefined, RegExp]> = [
    ["duplicate user", ["add", "alice", "--password-stdin"], "pw\n", /user "alice" already exists/],
    ["traversal name", ["add", "../x", "--no-password"], undefined, /invalid user name "\.\.\/x"/],
    ["name with a space", ["add", "a b", "--no-password"], undefined, /invalid user name "a b"/],
    ["name with a slash", ["add", "a/b", "--no-password"], undefined, /invalid user name "a\/b"/],
    ["empty name", ["add", "", "--no-password"], undefined, /user name is empty/],
    ["too long name", ["add", "x".repeat(33), "--no-password"], undefined, /longer than 32/],
    ["reserved name ftp", ["add", "ftp", "--no-password"], undefined, /reserved/],
    ["bad size", ["add", "bob", "--no-password", "--quota", "12XB"], undefined, /invalid size unit in "12XB"/],
    ["home that is a dangling symlink", ["add", "bob", "--no-password", "--home", "dangling"], undefined, /home .*dangling is a symlink to \/nonexistent\/dir, which does not exist/],
    ["home that is a link to itself", ["add", "bob", "--no-password", "--home", "self"], undefined, /home .*self is a loop of symbolic links \(it leads to .*self\): make it a directory or choose another home/],
    ["unknown perm", ["add", "bob", "--no-password", "--perm", "read,delete"], undefined, /unknown permission "delete"/],
    // `--perm "$PERMS"` with the variable unset: no rights at all, said as a success.
    ["empty perm", ["add", "bob", "--no-password", "--perm", ""], undefined, /^--perm is empty: give read, write and\/or modify \(comma-separated\), or none for no permissions$/],
    ["mount with empty perm", ["mount", "alice", "/pub", "pubdir", "--perm", " "], undefined, /^--perm is empty: .* or none for no permissions$/],
    ["no terminal and no password flag", ["add", "bob"], undefined, /--password-stdin/],
    ["empty password on stdin", ["add", "bob", "--password-stdin"], "\n", /empty password/],
    ["no stdin at all", ["add", "bob", "--password-stdin"], "", /empty password/],
    // A CR inside the line (its final CR, before LF, is the line's end and is dropped).
    ["a CR inside the password on stdin", ["add", "bob", "--password-stdin"], "p\rw\n", /^password with CR, LF or NUL refused: no FTP client can send it$/],
    ["a NUL in the new password on stdin", ["passwd", "alice", "--password-stdin"], "p\0w\n", /password with CR, LF or NUL refused/],
    ["conflicting password flags", ["add", "bob", "--password-stdin", "--no-password"], "pw\n", /exclude each other/],
    ["unknown option", ["add", "bob", "--no-password", "--qouta", "5GB"], undefined, /unknown option --qouta/],
    ["extra argument", ["del", "alice", "bob"], undefined, /unexpected argument "bob"/],
    ["missing name", ["del"], undefined, /NAME/],
    ["passwd of unknown user", ["passwd", "nobody", "--password-stdin"], "pw\n", /no user "nobody"/],
    ["passwd of unknown user, said before any prompt", ["passwd", "nobody"], undefined, /no user "nobody"/],
    ["passwd with empty password", ["passwd", "alice", "--password-stdin"], "\r\n", /empty password/],
    ["quota of unknown user", ["quota", "nobody", "1GB"], undefined, /no user "nobody"/],
    ["quota with bad size", ["quota", "alice", "12XB"], undefined, /invalid size/],
    ["quota with negative size", ["quota", "alice", "-5"], undefined, /size "-5" is negative: for no limit, write 0, none or unlimited/],
    // citty read a positional -1 as the option "-1": "Missing required positional argument: SIZE".
    ["quota -1 (no limit in other tools): the spelling to use is named", ["quota", "alice", "-1"], undefined, /size "-1" is negative: for no limit, write 0, none or unlimited/],
    ["quota -5GB followed by a flag", ["quota", "alice", "-5GB", "--users", "users.ini"], undefined, /size "-5GB" is negative: for no limit/],
    ["quota -1 after --", ["quota", "alice", "--", "-1"], undefined, /size "-1" is negative: for no limit/],
    ["add --quota -1", ["add", "bob", "--no-password", "--quota", "-1"], undefined, /size "-1" is negative: for no limit, write 0, none or unlimited/],
    // A mount's 0 leaves the user's quota in charge: "for no limit, write unlimited" would mislead there.
    ["mount --quota -1", ["mount", "alice", "/pub", "pubdir", "--quota", "-1"], undefined, /size "-1" is negative: 0 or none = the user's quota applies to the mount \(a mount has no unlimited quota\)/],
    ["mount --quota unlimited", ["mount", "alice", "/pub", "pubdir", "--quota", "unlimited"], undefined, /--quota unlimited: 0 or none = the user's quota applies to the mount/],
    ["tls with a negative state", ["tls", "alice", "-1"], undefined, /state must be on or off, got "-1"/],
    ["mount on /", ["mount", "alice", "/", "pubdir"], undefined, /cannot mount on "\/"/],
    ["mount of a missing dir", ["mount", "alice", "/pub", "nope"], undefined, /does not exist/],
    ["mount of a file", ["mount", "alice", "/pub", "afile"], undefined, /is not a directory/],
    ["mount with unknown perm", ["mount", "alice", "/pub", "pubdir", "--perm", "rwx"], undefined, /unknown permission "rwx"/],
    ["mount with bad quota", ["mount", "alice", "/pub", "pubdir", "--quota", "lots"], undefined, /invalid size/],
    ["mount without REALDIR", ["mount", "alice", "/pub"], undefined, /missing REALDIR/],
    ["mount on a name the server reserves", ["mount", "alice", "/pub/.ftpkit-tmp", "pubdir"], undefined, /names starting with ".ftpkit-" are reserved/],
    ["mount path the file cannot hold", ["mount", "alice", "/a=b", "pubdir"], undefined, /cannot store user "alice"/],
    ["unmount of nothing", ["mount", "alice", "/pub", "--remove"], undefined, /no mount at \/pub/],
    ["mount for unknown user", ["mount", "nobody", "/pub", "pubdir"], undefined, /no user "nobody"/],
    ["del of unknown user", ["del", "nobody"], undefined, /no user "nobody"/],
    ["unknown subcommand", ["frobnicate"], undefined, /unknown command frobnicate \(see ftpkit user --help\)/],
  ];
  test.each(cases)("%s", async (_label, args, stdin, re) => {
    const r = await ftpkit(d, args, stdin);
    expect(r.code).not.toBe(0);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(re);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe("");
    expect((await readFile(file)).toString("hex")).toBe(before);
    expect(await tempFiles(d)).toEqual([]);
  });
});

describe("ftpkit user (broken or missing users file)", () => {
  const commands: Array<[string, string[], string | undefined]> = [
    ["add", ["add", "bob", "--password-stdin"], "pw\n"],
    ["passwd", ["passwd", "alice", "--password-stdin"], "pw\n"],
    ["quota", ["quota", "alice", "1GB"], undefined],
    ["mount", ["mount", "alice", "/pub", join(import.meta.dir, "../../fixtures/homes")], undefined],
    ["list", ["list"], undefined],
    ["del", ["del", "alice"], undefined],
  ];

  test.each(commands)("%s refuses a corrupt users file, naming the file and line", async (_label, args, stdin) => {
    const d = await freshDir();
    const file = join(d, "users.ini");
    await cp(CORRUPT, file);
    const before = await readFile(file);
    const r = await ftpkit(d, [...args, "--users", file], stdin);
    expect(r.code).not.toBe(0);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toContain(file);
    expect(r.lines[0]).toMatch(/line 6: expected "key = value"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await readFile(file)).toEqual(before);
  });

  test.each(commands.filter(([name]) => name !== "add"))("%s requires the users file to exist", async (_label, args, stdin) => {
    const d = await freshDir();
    const r = await ftpkit(d, args, stdin);
    expect(r.code).not.toBe(0);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/users\.ini: not found/);
    expect(await readdir(d)).toEqual([]);
  });

  test("a users file that cannot be read is one clear error", async () => {
    const d = await freshDir();
    await mkdir(join(d, "users.ini"));
    const r = await ftpkit(d, ["list"]);
    expect(r.code).not.toBe(0);
    expect(r.lines).toEqual([`users file ${join(d, "users.ini")}: is a directory`]);
    if (process.getuid?.() !== 0) {
      // Root reads anything, so mode 000 only means something for other users.
      const file = join(d, "locked.ini");
      await writeFile(file, "[a]\n");
      await chmod(file, 0);
      const r2 = await ftpkit(d, ["list", "--users", file]);
      expect(r2.code).not.toBe(0);
      expect(r2.lines[0]).toMatch(/cannot read it \(permission denied\)/);
    }
    // A users file that is a link to itself: words, as the rest of the CLI says them (it was "(ELOOP)").
    const loop = join(d, "loop.ini");
    await symlink(loop, loop);
    const r3 = await ftpkit(d, ["list", "--users", loop]);
    expect(r3.code).toBe(1);
    expect(r3.lines).toEqual([`users file ${loop}: cannot read it (a loop of symbolic links)`]);
  });
});
