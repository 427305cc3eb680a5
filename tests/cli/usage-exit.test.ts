// serve, user, cert and test exit 2 for bad usage (as the client commands do) and 1 for a real failure.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit, tempDir } from "../helpers/peers.ts";

let dir: string;
let users: string;
beforeAll(async () => {
  dir = tempDir("ftpkit-usage-exit-");
  users = join(dir, "users.ini");
  const r = await runFtpkit(["user", "add", "alice", "--password-stdin", "--users", users], { cwd: dir, stdin: new TextEncoder().encode("pw\n") });
  expect(r.code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bad usage: exit 2, one line", () => {
  const cases: Array<[string, string[], string]> = [
    ["user add: an unknown flag", ["user", "add", "bob", "--qouta", "5GB"], "unknown option --qouta"],
    ["user add: a bad name", ["user", "add", "b/ob", "--no-password"], "user name"],
    ["user add: a bad quota", ["user", "add", "bob", "--quota", "lots", "--no-password"], 'invalid size "lots"'],
    ["user add: a bad permission", ["user", "add", "bob", "--perm", "fly", "--no-password"], 'unknown permission "fly"'],
    ["user add: flags that exclude each other", ["user", "add", "bob", "--no-password", "--password-stdin"], "exclude each other"],
    ["user passwd: an extra argument", ["user", "passwd", "alice", "bob"], 'unexpected argument "bob"'],
    ["user quota: a missing SIZE", ["user", "quota", "alice"], "missing required positional argument: SIZE"],
    ["user quota: a negative size", ["user", "quota", "alice", "-5GB"], "negative"],
    ["user mount: no REALDIR", ["user", "mount", "alice", "/pub"], "missing REALDIR"],
    ["user mount: a mount on /", ["user", "mount", "alice", "/", "."], 'cannot mount on "/"'],
    ["user tls: a state other than on or off", ["user", "tls", "alice", "maybe"], 'state must be on or off, got "maybe"'],
    ["user list: an unknown short flag", ["user", "list", "-x"], "unknown option -x"],
    ["user del: no NAME", ["user", "del"], "missing required positional argument: NAME"],
    ["serve: a bad port", ["serve", "--port", "abc"], '--port must be a whole number'],
    ["serve: a bad --log-format", ["serve", "--log-format", "xml"], "--log-format must be text or json"],
    ["serve: --host 999.1.1.1", ["serve", "--host", "999.1.1.1", "--port", "0"], "--host 999.1.1.1 is not an IPv4 address (four numbers from 0 to 255, e.g. 192.0.2.10)"],
    ["serve: --host 1.2.3 (inet_aton's 1.2.0.3)", ["serve", "--host", "1.2.3", "--port", "0"], "--host 1.2.3 is not an IPv4 address"],
    ["serve: --host ::g", ["serve", "--host", "::g", "--port", "0"], "--host ::g is not an IPv6 address (e.g. ::1, or :: for every address)"],
    ["serve: --host [::1] (brackets as --metrics takes them)", ["serve", "--host", "[::1]", "--port", "0"], "--host [::1]: write the IPv6 address without brackets (--host ::1)"],
    ["serve: --host with a space", ["serve", "--host", "a b", "--port", "0"], '--host "a b" is not an address or a host name'],
    ["serve: an empty --host", ["serve", "--host", "", "--port", "0"], "--host needs an address"],
    ["serve: --host a name that does not resolve", ["serve", "--host", "no-such-host.invalid", "--port", "0"], "--host no-such-host.invalid: no such host (the name resolves to no address)"],
    // Every fault of a --hook value is bad usage, as an empty one always was (these four exited 1).
    ["serve: --hook with an unterminated quote", ["serve", "--port", "0", "--hook", "upload=/bin/echo 'open"], "--hook upload: unterminated ' quote"],
    ["serve: --hook naming a program that is not there", ["serve", "--port", "0", "--hook", "upload=/no/such/program --flag"], "--hook upload: command not found or not executable: /no/such/program"],
    ["serve: --hook with an empty program word", ["serve", "--port", "0", "--hook", "upload='' x"], "--hook upload: the command is empty"],
    ["serve: --hook with a URL that is none", ["serve", "--port", "0", "--hook", "upload=https://"], '--hook upload: "https://" is not a valid URL'],
    ["serve: --hook with an empty command", ["serve", "--port", "0", "--hook", "upload="], "--hook upload: the command is empty"],
    ["serve: --state-ttl without --state (as --proxy-from without --proxy-protocol)", ["serve", "--port", "0", "--state-ttl", "30"], "--state-ttl needs --state"],
    ["serve: --metrics 999.1.1.1:9100", ["serve", "--port", "0", "--metrics", "999.1.1.1:9100"], "--metrics 999.1.1.1 is not an IPv4 address"],
    ["cert: a bad --days", ["cert", "--out", "tls", "--days", "0"], "--days must be an integer"],
    ["cert: no --out", ["cert"], "--out DIR is required"],
    ["test: a bad --timeout", ["test", "127.0.0.1:9", "--timeout", "0"], "--timeout must be a number of seconds"],
    ["test: not an FTP URL", ["test", "http://127.0.0.1/"], "not a HOST[:PORT] or ftp:// URL"],
    // citty took any value but "false" as on: --anonymous=no served anonymous users.
    ["serve: a switch given a value", ["serve", "--port", "0", "--anonymous=no"], '--anonymous is a switch and takes no value (got "no"); to say the opposite, write --no-anonymous'],
    ["serve: a negated switch given a value", ["serve", "--port", "0", "--no-write=1"], '--no-write is a switch and takes no value (got "1"); to say the opposite, write --write'],
    // citty filed --no-X=true under a key of its own, leaving X as it was.
    ["serve: a negated switch given true", ["serve", "--port", "0", "--no-write=true"], '--no-write is a switch and takes no value (got "true")'],
  ];
  test.each(cases)("%s", async (_label, args, message) => {
    const r = await runFtpkit([...args, ...(args[0] === "user" || args[0] === "serve" ? ["--users", users] : [])], { cwd: dir, timeoutMs: 15_000 });
    expect(r.stderr).toContain(message);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.code).toBe(2);
  });
});

// An empty --users= is a missing file name, as --root= and --xferlog= are: it resolved to the working
// directory and failed later (exit 1, "users file …: is a directory").
test.each<[string[]]>([
  [["serve", "--port", "0", "--users="]],
  [["serve", "--port", "0", "--users", ""]],
  [["user", "list", "--users="]],
])("an empty --users is bad usage: %p", async (args) => {
  const r = await runFtpkit(args, { cwd: dir, timeoutMs: 15_000 });
  expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringContaining("--users needs a file name")]);
  expect(r.code).toBe(2);
});

describe("a real failure: exit 1", () => {
  test("user passwd of a user who is not there, user list of a missing users file", async () => {
    const passwd = await runFtpkit(["user", "passwd", "nobody", "--password-stdin", "--users", users], { cwd: dir, stdin: new TextEncoder().encode("pw\n") });
    expect(passwd.stderr).toContain(`no user "nobody" in ${users}`);
    expect(passwd.code).toBe(1);
    const list = await runFtpkit(["user", "list", "--users", join(dir, "missing.ini")], { cwd: dir });
    expect(list.stderr).toContain("not found");
    expect(list.code).toBe(1);
  });

  test("cert refuses to replace an existing pair without --force", async () => {
    mkdirSync(join(dir, "tls"), { recursive: true });
    writeFileSync(join(dir, "tls/cert.pem"), "x");
    const r = await runFtpkit(["cert", "--out", "tls"], { cwd: dir, timeoutMs: 15_000 });
    expect(r.stderr).toContain("already exists (use --force to replace them)");
    expect(r.code).toBe(1);
  });
});
