// --workers and configuration errors: at start-up the primary stops at once (see ops/cli.test.ts);
// once serving, a worker replaced while the users file is broken is retried, and the others go on.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
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
