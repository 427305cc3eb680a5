// Issue 8, finding 6: a server killed with SIGKILL in the middle of an overwrite leaves nothing that
// the next server counts or shows: the old file is intact, the temp file is swept, the quota is right.
import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

let root = "";
let server: ServeProcess | null = null;

afterEach(async () => {
  await server?.kill();
  server = null;
  if (root) rmSync(root, { recursive: true, force: true });
});

async function avbl(port: number): Promise<number> {
  const w = await Wire.connect(port);
  try {
    expect((await w.login("alice", "alice-pw")).code).toBe(230);
    const r = await w.cmd("AVBL");
    return Number(r.lines[0]!.trim().split(/\s+/).pop());
  } finally {
    w.close();
  }
}

/** Whether this machine lets a server run under a host name of its own (spawnServe's `hostname`). */
const canSetHostname = Bun.spawnSync(["unshare", "--uts", "hostname", "ftp.example.org"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;

test("kill -9 of the server mid-overwrite, three times: the old file stays, no temp file is left, the quota is exact", () => crashRounds(3), 90_000);

// Temp files are named HOST.PID.UUID: the sweep took the host name up to its first dot, so on a host
// named ftp.example.org no dead server's temp file was ever removed (each crash leaked its upload).
test.skipIf(!canSetHostname)("on a host whose name holds dots, the next server sweeps a killed one's temp file too", () => crashRounds(1, "ftp.example.org"), 90_000);

async function crashRounds(rounds: number, hostname?: string): Promise<void> {
  root = mkdtempSync(join(tmpdir(), "ftpkit-crash-"));
  const quota = 10_000_000;
  const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota }]);
  const home = join(root, "home/alice");
  const old = crypto.getRandomValues(new Uint8Array(2_000_000));
  writeFileSync(join(home, "data.bin"), old);
  const args = ["--users", usersFile, "--max-rate", "400KB"];
  for (let round = 0; round < rounds; round++) {
    server = await spawnServe(args, { cwd: root, hostname });
    const w = await Wire.connect(server.port);
    expect((await w.login("alice", "alice-pw")).code).toBe(230);
    // Upload through a throttled session and kill the server once bytes have reached the temp file.
    const upload = w.transfer("STOR data.bin", crypto.getRandomValues(new Uint8Array(2_000_000))).catch(() => null);
    const tempDir = join(home, ".ftpkit-tmp");
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(existsSync(tempDir) && readdirSync(tempDir).length > 0)) await Bun.sleep(20);
    expect(readdirSync(tempDir).length).toBe(1);
    await server.kill("SIGKILL");
    server = null;
    w.close();
    await upload;
  }
  expect(readFileSync(join(home, "data.bin")).equals(Buffer.from(old))).toBe(true);
  server = await spawnServe(args, { cwd: root, hostname });
  // The first login measures usage (and sweeps what dead servers left): only the visible 2 MB count.
  expect(await avbl(server.port)).toBe(quota - old.length);
  expect(readdirSync(join(home, ".ftpkit-tmp"))).toEqual([]);
  const w = await Wire.connect(server.port);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  const names = (await w.transfer("NLST -a")).data.toString();
  w.close();
  expect(names).not.toContain(".ftpkit");
}
