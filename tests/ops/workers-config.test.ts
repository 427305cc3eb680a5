// --workers and configuration errors: at start-up the primary stops at once (see ops/cli.test.ts);
// once serving, a worker replaced while the users file is broken is retried, and the others go on.
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { tempDir } from "../tls/helpers.ts";
import { SourcedWire } from "./helpers.ts";

const t = cleanedAfterEach();

test("a worker killed while the users file is broken is retried; the server does not stop, its users still log in", async () => {
  t.dir = tempDir();
  const users = await makeUsersFile(t.dir, [{ name: "alice", password: "alice-pw" }]);
  const srv = await spawnServe(["--users", users, "--workers", "2"], { cwd: t.dir });
  t.pid = srv.proc.pid;
  const pids = /\(\d+ workers, pids ([\d ]+),/.exec(srv.stdout() + srv.stderr())![1]!.trim().split(/\s+/).map(Number);
  expect(pids).toHaveLength(2);
  writeFileSync(users, "[alice]\nnot a setting\n");
  process.kill(pids[0]!, "SIGKILL");
  // The replacement fails on the file (exit 78) and is retried, as a store that is down would be.
  await waitFor(() => /worker 0 exited \(78\); restarting it/.test(srv.stdout() + srv.stderr()), 15_000, "the replacement's failed start");
  expect(srv.proc.exitCode).toBeNull();
  const w = await SourcedWire.connect(srv.port, "127.0.0.1");
  t.wires.push(w);
  expect((await w.login("alice", "alice-pw")).pass?.code).toBe(230);
}, 40_000);

test("--workers 2: the users file's load-time warnings are said once, at start and at a reload", async () => {
  t.dir = tempDir();
  // Three warnings: a hash no password can match, a home that does not exist, a home that holds the users file.
  const users = join(t.dir, "users.ini");
  mkdirSync(join(t.dir, "home", "alice"), { recursive: true });
  writeFileSync(
    users,
    [`[alice]`, `password = "${await Bun.password.hash("alice-pw")}"`, `home = ${join(t.dir, "home", "alice")}`, `[old]`, `password = "$6$salt$hash"`, `home = ${join(t.dir, "home", "alice")}`, `[gone]`, `home = ${join(t.dir, "missing")}`, `[open]`, `home = ${t.dir}`, ``].join("\n"),
  );
  const srv = await spawnServe(["--users", users, "--workers", "2"], { cwd: t.dir });
  t.pid = srv.proc.pid;
  const log = () => srv.stdout() + srv.stderr();
  const count = (re: RegExp) => log().split("\n").filter((l) => re.test(l)).length;
  const lines = [/old's password hash \(\$6\$…\)/, /gone's home .* does not exist/, /open is served .* which holds the users file/];
  // Each worker says it listens after its users file was read and checked.
  await waitFor(() => count(/worker listening/) === 2, 15_000, "both workers listening");
  await waitFor(() => lines.every((re) => count(re) >= 1), 5000, "the warnings");
  for (const re of lines) expect(count(re)).toBe(1);
  process.kill(srv.proc.pid, "SIGHUP");
  await waitFor(() => count(/\breloaded\b/) === 2, 15_000, "both workers reloaded");
  await waitFor(() => lines.every((re) => count(re) >= 2), 5000, "the warnings again");
  for (const re of lines) expect(count(re)).toBe(2);
}, 40_000);
