// A require_tls user on a server without a TLS certificate can never log in (USER is refused until
// AUTH TLS, which such a server does not offer): the server says so at load, naming the user. The
// other users still log in: with TLS, one such account refuses every clear USER (so that a scanner
// cannot tell which accounts require it), but without TLS that would lock everybody out.
import { expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir, waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { CERT, KEY } from "../tls/helpers.ts";

const t = cleanedAfterEach();

test("a require_tls user is said at load when the server has no certificate, and not when it has one; without one, the other users still log in", async () => {
  t.dir = tempDir("ftpkit-require-tls-");
  mkdirSync(join(t.dir, "home"));
  const users = await makeUsersFile(t.dir, [
    { name: "alice", password: "pw", requireTls: true },
    { name: "bob", password: "pw" },
  ]);
  const warning = `users file ${users}: alice has require_tls = true, but this server has no TLS certificate (--tls-cert and --tls-key), so alice cannot log in`;
  t.srv = await spawnServe(["--users", users], { cwd: t.dir });
  await waitFor(() => t.srv!.stdout().includes(warning), 10_000, "the warning");
  expect(t.srv.stdout()).not.toContain("bob has require_tls");
  // What alice meets: USER refused, and why; AUTH TLS is not there.
  const w = await Wire.connect(t.srv.port);
  expect((await w.read())?.code).toBe(220);
  const refused = await w.cmd("USER alice");
  expect(refused.code).toBe(530);
  expect(refused.lines.join("\n")).toContain("This account requires TLS, which this server does not offer");
  expect((await w.cmd("AUTH TLS")).code).toBeGreaterThanOrEqual(500);
  w.close();
  // Bob, who does not require TLS, logs in in the clear (before: 530 "TLS required", as everybody).
  const b = await Wire.connect(t.srv.port);
  expect((await b.read())?.code).toBe(220);
  expect((await b.cmd("USER bob")).code).toBe(331);
  expect((await b.cmd("PASS pw")).code).toBe(230);
  b.close();
  await t.srv.kill();
  t.srv = await spawnServe(["--users", users, "--tls-cert", CERT, "--tls-key", KEY], { cwd: t.dir, alsoWaitFor: /FTPS: AUTH TLS/ });
  expect(t.srv.stdout() + t.srv.stderr()).not.toContain("require_tls = true");
}, 40_000);
