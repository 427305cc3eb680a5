// An upload that fails midway: the transfer log line, the xferlog record and the upload hook say the
// bytes that were stored (the file's size), with status "i" in the xferlog, not the bytes that arrived (those still on
// their way to a write that failed were never stored); the log line adds them as "received".
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FTPKIT, waitFor } from "../helpers/peers.ts";
import { random, startUpload } from "../helpers/quota.ts";
import { startRedis, type RedisProcess } from "../helpers/redis.ts";
import { cleanedAfterEach, collect, serveEnv, spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const t = cleanedAfterEach();
let serve: ServeProcess | null = null;
let redis: RedisProcess | null = null;
let root = "";

afterEach(async () => {
  await serve?.kill("SIGTERM");
  serve = null;
  await redis?.stop();
  redis = null;
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

/** The JSON "transfer" log record of the upload, and the xferlog's fields (byte count and status). */
function records(stdout: string, xferlog: string) {
  const line = stdout.split("\n").find((l) => l.includes('"event":"transfer"'));
  const log = JSON.parse(line!) as { level: string; bytes: number; received?: number; result: string; error?: string };
  const f = readFileSync(xferlog, "utf8").trim().split(/\s+/);
  return { log, xferBytes: Number(f[7]), status: f[f.length - 1] };
}

const canNamespace = process.getuid?.() === 0 && Bun.spawnSync(["unshare", "-m", "true"]).exitCode === 0;

test.skipIf(!canNamespace)("a disk that fills midway: both logs say the bytes in the file, the xferlog 'i'", async () => {
  t.dir = mkdtempSync(join(tmpdir(), "ftpkit-xfer-full-"));
  const small = join(t.dir, "small");
  mkdirSync(small);
  const xferlog = join(t.dir, "xferlog");
  const script = `mount -t tmpfs -o size=1m tmpfs '${small}' && exec bun '${FTPKIT}' serve --root '${small}' --user u:pw --write --host 127.0.0.1 --port 0 --log-format json --xferlog '${xferlog}'`;
  const proc = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script], { cwd: t.dir, env: serveEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  t.pid = proc.pid;
  const out = { text: "" };
  void collect(proc.stdout, out);
  await waitFor(() => /"event":"listening"[^\n]*"port":\d+/.test(out.text), 15_000, "listening");
  const w = await Wire.connect(Number(/"event":"listening"[^\n]*"port":(\d+)/.exec(out.text)![1]));
  t.wires.push(w);
  expect((await w.login("u", "pw")).code).toBe(230);
  await w.cmd("TYPE I");
  const up = await startUpload(w, "STOR up.bin");
  await up.send(random(3_000_000)).catch(() => {});
  up.data.end();
  expect((await w.read())?.code).toBe(552);
  await waitFor(() => out.text.includes('"event":"transfer"'), 5000, "the transfer record");
  const size = Number(Bun.spawnSync(["nsenter", "-t", String(proc.pid), "-m", "stat", "-c", "%s", join(small, "up.bin")]).stdout.toString());
  await waitFor(() => readFileSync(xferlog, "utf8").includes("up.bin"), 5000, "the xferlog record");
  const r = records(out.text, xferlog)
  expect(size).toBeGreaterThan(0);
  // Before: the log and the xferlog said 732,672 for a file of 1,048,576 (the chunk the disk cut short not counted).
  expect([r.log.bytes, r.xferBytes, r.status, r.log.result]).toEqual([size, size, "i", "error"]);
  expect(r.log.received!).toBeGreaterThanOrEqual(size);
  // The server's own trouble is a warning, as a MKD's on the same disk is ("storage error"): it was an INFO line.
  expect([r.log.level, r.log.error]).toEqual(["warn", "ENOSPC"]);
}, 30_000);

test("the quota store lost midway (451): both logs and the upload hook say the bytes in the file, not those that waited for the store", async () => {
  redis = await startRedis();
  root = mkdtempSync(join(tmpdir(), "ftpkit-xfer-451-"));
  // A 4 MB quota: leases of 256 KB, so the upload soon asks the store for more.
  const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", quota: 4_000_000 }]);
  const xferlog = join(root, "xferlog");
  const hooked = join(root, "hook-bytes");
  const hook = `upload=sh -c 'printf %s "$FTPKIT_BYTES" > ${hooked}'`;
  serve = await spawnServe(["--users", users, "--state", redis.url, "--log-format", "json", "--xferlog", xferlog, "--hook", hook], { cwd: root, timeoutMs: 30_000 });
  const w = await Wire.connect(serve.port);
  t.wires.push(w);
  expect((await w.login("alice", "alice-pw")).code).toBe(230);
  await w.cmd("TYPE I");
  const up = await startUpload(w, "STOR up.bin");
  await up.send(random(100_000));
  const file = join(root, "home/alice/up.bin");
  await waitFor(() => statSync(file, { throwIfNoEntry: false })?.size === 100_000, 5000, "the first bytes stored");
  await redis.stop();
  redis = null;
  await up.send(random(2_900_000)).catch(() => {});
  up.data.end();
  expect((await w.read(20_000))?.code).toBe(451);
  await waitFor(() => serve!.stdout().includes('"event":"transfer"'), 5000, "the transfer record");
  await waitFor(() => readFileSync(xferlog, "utf8").includes("up.bin"), 5000, "the xferlog record");
  const size = statSync(file).size;
  const r = records(serve.stdout(), xferlog)
  // Before: 3,000,000 in both, for a file of a few hundred KB.
  expect([r.log.bytes, r.xferBytes, r.status, r.log.result]).toEqual([size, size, "i", "error"]);
  expect(r.log.received!).toBeGreaterThan(size);
  // The upload hook's FTPKIT_BYTES too.
  await waitFor(() => (statSync(hooked, { throwIfNoEntry: false })?.size ?? 0) > 0, 10_000, "the upload hook");
  expect(Number(readFileSync(hooked, "utf8"))).toBe(size);
}, 60_000);
