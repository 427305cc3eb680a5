// An upload refused by the quota midway: the server reads and drops the rest for a bounded while
// before it cuts the data connection, so clients that send their whole file before reading the
// control connection see the 552. Cut at once, curl said "(55) Failed sending data to the peer"
// (or "Connection reset by peer") and Python's ftplib ConnectionResetError: nothing about the quota.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomFile, removeDir, SYSTEM_PYTHON, tempDir } from "../helpers/peers.ts";
import { du, random, startUpload } from "../helpers/quota.ts";
import { useServers } from "../helpers/server.ts";
import { run } from "../interop/run.ts";

const servers = useServers();
const QUOTA = 100_000;
let local: string;

beforeEach(() => {
  local = tempDir("ftpkit-quota-drain-");
});
afterEach(() => removeDir(local));

async function serveBob(options = {}) {
  return servers.start({
    options,
    setup: (root) => mkdirSync(join(root, "bob"), { recursive: true }),
    users: [{ name: "bob", password: "pw", home: "bob", perms: ["read", "write", "modify"], quota: QUOTA }],
  });
}

test("curl uploading a file past the quota reports the server's 552 (exit 70, 'Exceeded storage allocation'), not a send failure", async () => {
  const s = await serveBob();
  randomFile(join(local, "big.bin"), 4_000_000);
  const r = await run(["curl", "-sS", "--max-time", "20", "-T", join(local, "big.bin"), `ftp://bob:pw@127.0.0.1:${s.port}/big.bin`]);
  expect([r.code, r.stderr.trim()]).toEqual([70, "curl: (70) Exceeded storage allocation"]);
  // What was stored stays within the limit (a partial upload is kept for its owner to resume, as before).
  expect(du(join(s.root, "bob"))).toBeLessThanOrEqual(QUOTA);
}, 30_000);

test("Python's ftplib storbinary past the quota raises error_perm with the 552, not ConnectionResetError", async () => {
  const s = await serveBob();
  randomFile(join(local, "big.bin"), 4_000_000);
  writeFileSync(
    join(local, "up.py"),
    [
      "import ftplib, sys",
      "f = ftplib.FTP()",
      `f.connect('127.0.0.1', ${s.port})`,
      "f.login('bob', 'pw')",
      "try:",
      "    f.storbinary('STOR big.bin', open(sys.argv[1], 'rb'))",
      "    print('stored')",
      "except Exception as e:",
      "    print(type(e).__name__, e)",
    ].join("\n"),
  );
  const r = await run([SYSTEM_PYTHON, join(local, "up.py"), join(local, "big.bin")]);
  expect(r.stdout.trim()).toBe("error_perm 552 Quota exceeded: upload aborted");
}, 30_000);

test("a client that keeps sending after the refusal is cut after a bounded number of bytes, and still gets its 552", async () => {
  await serveBob();
  const w = await servers.login("bob", "pw");
  const up = await startUpload(w, "STOR endless.bin");
  const chunk = random(1024 * 1024);
  let sent = 0;
  // Never a FIN: sends until the server cuts the data connection.
  try {
    for (; sent < 200 * chunk.length; sent += chunk.length) await up.send(chunk);
  } catch {}
  // The drain reads at most 16 MiB past the refusal; kernel buffers hold a few more.
  expect(sent).toBeLessThan(40 * chunk.length);
  const reply = await w.read(10_000);
  expect([reply?.code, reply?.lines[0]]).toEqual([552, "Quota exceeded: upload aborted"]);
}, 30_000);

test("a client that stops sending after the refusal without closing gets its 552 after a bounded wait", async () => {
  await serveBob();
  const w = await servers.login("bob", "pw");
  const up = await startUpload(w, "STOR stopped.bin");
  await up.send(random(QUOTA + 200_000));
  const started = performance.now();
  const reply = await w.read(20_000);
  expect([reply?.code, reply?.lines[0]]).toEqual([552, "Quota exceeded: upload aborted"]);
  // DRAIN_MAX_MS (10 s), far below the stall timeout (5 minutes by default).
  expect(performance.now() - started).toBeLessThan(15_000);
}, 30_000);

test("under --max-rate the drain reads at that rate: a client sending on after the refusal gets far fewer bytes in", async () => {
  await serveBob({ maxRate: 100_000 });
  const w = await servers.login("bob", "pw");
  const up = await startUpload(w, "STOR slow.bin");
  const chunk = random(1024 * 1024);
  let sent = 0;
  try {
    for (; sent < 200 * chunk.length; sent += chunk.length) await up.send(chunk);
  } catch {}
  // 100 kB/s for the drain's 10 s is 1 MB read, plus what kernel buffers held (6 MiB here); unthrottled
  // the drain took its whole 16 MiB at once (16,777,216 bytes sent).
  expect(sent).toBeLessThan(12 * chunk.length);
  const reply = await w.read(20_000);
  expect([reply?.code, reply?.lines[0]]).toEqual([552, "Quota exceeded: upload aborted"]);
}, 40_000);
