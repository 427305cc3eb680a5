// What an admin must not be surprised by: "ftp"/"anonymous" given a password, anonymous's default
// rights, the users file's owner and mode across `ftpkit user`, sizes that round to "unlimited",
// control characters in mount points, bad --host / --pasv-address, and --workers with --metrics or
// implicit FTPS.
import { afterEach, describe, expect, test } from "bun:test";
import { chownSync, chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadUsers } from "../../server/auth/ini-store.ts";
import { freePort, FTPKIT, runFtpkit } from "../helpers/peers.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";

let dir = "";
let serve: ServeProcess | null = null;
afterEach(async () => {
  await serve?.kill("SIGTERM");
  serve = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

function fresh(): string {
  dir = mkdtempSync(join(tmpdir(), "ftpkit-admin-"));
  return dir;
}

async function user(args: string[], stdin?: string) {
  return runFtpkit(["user", ...args, "--users", join(dir, "users.ini")], { cwd: dir, ...(stdin !== undefined ? { stdin: new TextEncoder().encode(stdin) } : {}) });
}

describe("anonymous", () => {
  test("serve refuses `--user ftp:PASS` and `--user Anonymous:PASS`: such a name takes any password", async () => {
    fresh();
    for (const name of ["ftp", "Anonymous"]) {
      const r = await runFtpkit(["serve", "--root", dir, "--user", `${name}:S3cret`, "--write", "--host", "127.0.0.1", "--port", "0"], { cwd: dir, timeoutMs: 15_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`"${name}" is the anonymous login, which takes any password`);
    }
  });

  test("user add anonymous is read-only unless --perm says otherwise (with a warning); other spellings are refused", async () => {
    fresh();
    expect((await user(["add", "anonymous", "--no-password"])).code).toBe(0);
    expect((await loadUsers(join(dir, "users.ini"))).get("anonymous")!.perms).toEqual(["read"]);
    const upper = await user(["add", "ANONYMOUS", "--password-stdin"], "pw\n");
    expect(upper.code).toBe(2);
    expect(upper.stderr).toContain('"ANONYMOUS" is reserved');
    expect((await user(["del", "anonymous"])).code).toBe(0);
    const writable = await user(["add", "anonymous", "--no-password", "--perm", "read,write"]);
    expect(writable.code).toBe(0);
    expect(writable.stderr).toContain("anonymous may write: anyone who can reach the server can");
    // In a pipe, as a shell runs it (bun test's NODE_ENV=test turns consola's fancy layout off): one
    // plain line per message, no blank lines around the warning (as errors are printed).
    rmSync(join(dir, "users.ini"));
    const piped = await runFtpkit(["user", "add", "anonymous", "--no-password", "--perm", "read,write", "--users", join(dir, "users.ini")], { cwd: dir, env: { NODE_ENV: "" } });
    expect(piped.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^\[success\] added user anonymous /), expect.stringMatching(/^\[warn\] anonymous may write: /)]);
  });
});

/** `ftpkit user ARGS` run by a second account (uid 4242) in the admins' group (4300), `stdin` typed: its stderr and exit status. */
async function asAdmin(args: string[], stdin: string): Promise<{ stderr: string; code: number }> {
  const proc = Bun.spawn(["setpriv", "--reuid=4242", "--regid=4242", "--groups=4300", "bun", FTPKIT, "user", ...args], {
    cwd: dir,
    env: { ...process.env, HOME: dir, NO_COLOR: "1" },
    stdin: new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { stderr, code };
}

describe("the users file", () => {
  test("`ftpkit user` keeps the file's owner, group and mode (a server running as another account still reads it)", async () => {
    fresh();
    expect((await user(["add", "alice", "--password-stdin"], "pw\n")).code).toBe(0);
    const file = join(dir, "users.ini");
    chownSync(file, 65534, 65534);
    chmodSync(file, 0o640);
    expect((await user(["add", "carol", "--password-stdin"], "pw2\n")).code).toBe(0);
    const st = statSync(file);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o640]);
    expect([...(await loadUsers(file)).keys()].sort()).toEqual(["alice", "carol"]);
  });

  // Root only: a second account (setpriv) that may write the folder through a group, as an admin team's member would.
  test.skipIf(process.getuid?.() !== 0)("`ftpkit user` run by another account than the file's owner refuses (nothing written) rather than hand the file to that account", async () => {
    fresh();
    expect((await user(["add", "alice", "--password-stdin"], "pw\n")).code).toBe(0);
    const file = join(dir, "users.ini");
    // The server's account (65534) owns the file; the admins' group (4300) may write the folder and the file.
    chownSync(dir, 0, 4300);
    chmodSync(dir, 0o775);
    chownSync(file, 65534, 4300);
    chmodSync(file, 0o660);
    const before = readFileSync(file);
    const { stderr, code } = await asAdmin(["passwd", "alice", "--password-stdin", "--users", file], "new-pw\n");
    expect(code).toBe(1);
    expect(stderr).toContain("cannot keep its owner (uid 65534): the new file would be uid 4242, gid 4300");
    const st = statSync(file);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 4300, 0o660]);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp") || n.endsWith(".lock"))).toEqual([]);
  });

  test.skipIf(process.getuid?.() !== 0)("a refused `user add` leaves no home behind: the add run next as the file's owner makes it as its own", async () => {
    fresh();
    expect((await user(["add", "alice", "--password-stdin"], "pw\n")).code).toBe(0);
    const file = join(dir, "users.ini");
    chownSync(dir, 0, 4300);
    chmodSync(dir, 0o775);
    chmodSync(join(dir, "home"), 0o775);
    chownSync(join(dir, "home"), 0, 4300);
    chownSync(file, 0, 4300);
    chmodSync(file, 0o660);
    const { stderr, code } = await asAdmin(["add", "bob", "--password-stdin", "--users", file], "bob-pw\n");
    expect(code).toBe(1);
    expect(stderr).toContain("cannot keep its owner (uid 0)");
    expect(readdirSync(join(dir, "home"))).toEqual(["alice"]);
    // Run again as the file's owner: the home is made now, and is its own.
    expect((await user(["add", "bob", "--password-stdin"], "bob-pw\n")).code).toBe(0);
    expect(statSync(join(dir, "home", "bob")).uid).toBe(0);
  });

  test("a symlinked users file is updated where it points, and stays a symlink", async () => {
    fresh();
    mkdirSync(join(dir, "real"));
    mkdirSync(join(dir, "conf"));
    const real = join(dir, "real/users.ini");
    const link = join(dir, "conf/users.ini");
    const run = (args: string[], stdin?: string) =>
      runFtpkit(["user", ...args, "--users", link], { cwd: dir, ...(stdin !== undefined ? { stdin: new TextEncoder().encode(stdin) } : {}) });
    expect((await runFtpkit(["user", "add", "alice", "--password-stdin", "--users", real], { cwd: dir, stdin: new TextEncoder().encode("pw\n") })).code).toBe(0);
    symlinkSync("../real/users.ini", link);
    expect((await run(["add", "bob", "--password-stdin"], "pw\n")).code).toBe(0);
    expect((await run(["quota", "alice", "1GB"])).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect([...(await loadUsers(real)).keys()].sort()).toEqual(["alice", "bob"]);
    expect((await loadUsers(real)).get("alice")!.quota).toBe(1e9);
    expect(readdirSync(join(dir, "conf")).filter((n) => n !== "home")).toEqual(["users.ini"]); // no lock or temp file left beside the link
  });

  test("a symlink to a users file not created yet: the first command creates that file and the link stays; a link into a missing folder is refused", async () => {
    fresh();
    mkdirSync(join(dir, "real"));
    mkdirSync(join(dir, "conf"));
    const link = join(dir, "conf/users.ini");
    symlinkSync("../real/users.ini", link);
    const add = (file: string, name: string) =>
      runFtpkit(["user", "add", name, "--password-stdin", "--users", file], { cwd: dir, stdin: new TextEncoder().encode("pw\n") });
    expect((await add(link, "alice")).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect([...(await loadUsers(join(dir, "real/users.ini"))).keys()]).toEqual(["alice"]);
    expect(statSync(join(dir, "real/users.ini")).mode & 0o777).toBe(0o600);
    // Where the link points there is no folder to make the file in: refused, the link untouched.
    const lost = join(dir, "conf/lost.ini");
    symlinkSync("../gone/users.ini", lost);
    const r = await add(lost, "bob");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`is a symlink to ${join(realpathSync(dir), "gone/users.ini")}, whose directory does not exist`);
    expect(lstatSync(lost).isSymbolicLink()).toBe(true);
    expect(readdirSync(join(dir, "conf")).sort()).toEqual(["home", "lost.ini", "users.ini"]);
    expect(readdirSync(join(dir, "conf/home"))).toEqual(["alice"]);
    // A link's "../" is read from its folder's real place, as the kernel does: etc/x reached through work/conf.
    mkdirSync(join(dir, "etc/x"), { recursive: true });
    mkdirSync(join(dir, "etc/real"));
    mkdirSync(join(dir, "work"));
    symlinkSync("../etc/x", join(dir, "work/conf"));
    symlinkSync("../real/users.ini", join(dir, "etc/x/users.ini"));
    expect((await add(join(dir, "work/conf/users.ini"), "carol")).code).toBe(0);
    expect([...(await loadUsers(join(dir, "etc/real/users.ini"))).keys()]).toEqual(["carol"]);
    expect(lstatSync(join(dir, "etc/x/users.ini")).isSymbolicLink()).toBe(true);
  }, 30_000);

  test("a file with bytes that are not UTF-8 is never rewritten (they would become U+FFFD); such a setting is refused", async () => {
    fresh();
    expect((await user(["add", "alice", "--password-stdin"], "pw\n")).code).toBe(0);
    const file = join(dir, "users.ini");
    // A note typed in a Latin-1 editor: "Müller" with 0xFC. Read fine, but no edit may touch the file.
    const latin1 = Buffer.concat([readFileSync(file), Buffer.from("; Kommentar f\xfcr M\xfcller\n[bob]\nperm = read\n", "latin1")]);
    writeFileSync(file, latin1);
    expect([...(await loadUsers(file)).keys()]).toEqual(["alice", "bob"]);
    const quota = await user(["quota", "alice", "1GB"]);
    expect(quota.code).toBe(1);
    expect(quota.stderr).toContain("line 10 is not valid UTF-8, and rewriting the file would change its bytes");
    expect(readFileSync(file)).toEqual(latin1);
    // A path in Latin-1 is some other directory once read as UTF-8: refused, naming its line.
    writeFileSync(file, Buffer.concat([latin1, Buffer.from("home = /srv/M\xfcller\n", "latin1")]));
    const list = await user(["list"]);
    expect(list.code).toBe(1);
    expect(list.stderr).toContain("line 13 is not valid UTF-8 (written in another encoding?)");
  });

  test("a quota that rounds below one byte is refused, not taken as unlimited; a mount point with a line break is refused", async () => {
    fresh();
    expect((await user(["add", "alice", "--password-stdin"], "pw\n")).code).toBe(0);
    for (const size of ["0.5", "0.3B"]) {
      const r = await user(["quota", "alice", size]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("less than one byte");
    }
    const nl = await user(["mount", "alice", "/nl\nx", dir]);
    expect(nl.code).toBe(2);
    expect(nl.stderr).toContain("line break");
    expect((await loadUsers(join(dir, "users.ini"))).get("alice")!.mounts).toEqual([]);
  });
});

describe("a home or mount that would serve the users file", () => {
  test("an empty --home, or a home or mount holding the users file, is refused and the file is unchanged", async () => {
    fresh();
    expect((await user(["add", "alice", "--password-stdin"], "pw\n")).code).toBe(0);
    const file = join(dir, "users.ini");
    const before = readFileSync(file, "utf8");
    // An unset variable (`--home "$HOME_DIR"`) gave the users file's own directory: its user could
    // download every hash and, with the default rights, replace the file.
    const empty = await user(["add", "bob", "--home", "", "--password-stdin"], "pw\n");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("--home needs a directory");
    mkdirSync(join(dir, "outer"));
    symlinkSync(dir, join(dir, "outer/link"));
    for (const home of [dir, join(dir, ".."), join(dir, "outer/link")]) {
      const r = await user(["add", "bob", "--home", home, "--password-stdin"], "pw\n");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`holds the users file ${file}`);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    const mount = await user(["mount", "alice", "/conf", dir, "--perm", "read"]);
    expect(mount.code).toBe(1);
    expect(mount.stderr).toContain(`holds the users file ${file}`);
    expect(readFileSync(file, "utf8")).toBe(before);
    // A directory beside the users file is fine.
    expect((await user(["add", "bob", "--home", join(dir, "outer"), "--password-stdin"], "pw\n")).code).toBe(0);
    expect((await user(["mount", "alice", "/pub", join(dir, "outer")])).code).toBe(0);
  });
});

describe("a home above the users file's directory named \"..something\"", () => {
  test("is refused like any home holding the users file: '..conf' is a name inside it, not a way out", async () => {
    fresh();
    const file = join(dir, "srv/..conf/users.ini");
    mkdirSync(join(dir, "srv/..conf"), { recursive: true });
    const run = (args: string[], stdin?: string) =>
      runFtpkit(["user", ...args, "--users", file], { cwd: dir, ...(stdin !== undefined ? { stdin: new TextEncoder().encode(stdin) } : {}) });
    expect((await run(["add", "alice", "--home", join(dir, "alice"), "--password-stdin"], "pw\n")).code).toBe(0);
    const before = readFileSync(file, "utf8");
    const home = await run(["add", "bob", "--home", join(dir, "srv"), "--password-stdin"], "pw\n");
    expect(home.code).toBe(1);
    expect(home.stderr).toContain(`holds the users file ${file}`);
    const mount = await run(["mount", "alice", "/srv", join(dir, "srv"), "--perm", "read"]);
    expect(mount.code).toBe(1);
    expect(mount.stderr).toContain(`holds the users file ${file}`);
    expect(readFileSync(file, "utf8")).toBe(before);
  });
});

describe("serve's addresses", () => {
  test("a --host this machine does not have, or an invalid one, is one clear line; so is a --pasv-address that is no IPv4 address", async () => {
    fresh();
    await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const cases: Array<[string[], number, string]> = [
      [["--host", "192.0.2.1"], 1, "cannot listen on 192.0.2.1: not an address of this machine"],
      [["--host", "999.1.1.1"], 2, "--host 999.1.1.1 is not an IPv4 address (four numbers from 0 to 255, e.g. 192.0.2.10)"],
      [["--host", "127.0.0.1", "--pasv-address", "notanip"], 2, '--pasv-address must be an IPv4 address (PASV replies carry one), got "notanip"'],
    ];
    for (const [flags, code, message] of cases) {
      const r = await runFtpkit(["serve", "--users", join(dir, "users.ini"), "--port", "0", ...flags], { cwd: dir, timeoutMs: 15_000 });
      expect(r.code).toBe(code);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  });

  test.each(["::1", "localhost"])("serve --host %s (an IPv6 address; a host name that resolves) still listens there", async (host) => {
    fresh();
    await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    serve = await spawnServe(["--users", join(dir, "users.ini"), "--host", host], { cwd: dir, timeoutMs: 15_000 });
    expect(serve.stdout() + serve.stderr()).toContain(`listening on ftp://${host === "::1" ? "[::1]" : host}:${serve.port} `);
  }, 30_000);
});

describe("--workers 2", () => {
  test("with --metrics each worker serves its own metrics (port, port + 1); with --implicit-tls-port both share it", async () => {
    fresh();
    await makeUsersFile(dir, [{ name: "alice", password: "pw" }]);
    const cert = await runFtpkit(["cert", "--out", dir], { cwd: dir });
    expect(cert.code).toBe(0);
    const metrics = twoFreePorts();
    const implicit = freePort();
    serve = await spawnServe(
      ["--users", join(dir, "users.ini"), "--workers", "2", "--metrics", `127.0.0.1:${metrics}`, "--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem"), "--implicit-tls-port", String(implicit)],
      { cwd: dir, timeoutMs: 30_000 },
    );
    for (const port of [metrics, metrics + 1]) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("# TYPE");
    }
    const greeting = await new Promise<string>((ok, fail) => {
      const s = tlsConnect({ host: "127.0.0.1", port: implicit, rejectUnauthorized: false }, () => s.once("data", (d) => (ok(d.toString()), s.destroy())));
      s.on("error", fail);
    });
    expect(greeting).toStartWith("220");
  });
});

/** A port p with p + 1 free too (each worker's metrics listen on the next port). */
function twoFreePorts(): number {
  for (let tries = 0; tries < 50; tries++) {
    const p = freePort();
    try {
      Bun.listen({ hostname: "127.0.0.1", port: p + 1, socket: { data() {} } }).stop(true);
      return p;
    } catch {
      // p + 1 is taken: another try
    }
  }
  throw new Error("no two adjacent free ports");
}
