// `serve`'s standard output that takes no more (a full log disk, a log pipe whose reader went away)
// costs log lines, never the service.
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FTPKIT, waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, collect, serveEnv } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { tempDir } from "../tls/helpers.ts";

const t = cleanedAfterEach();

test("a log pipe whose reader is gone (EPIPE) loses log lines, not the server: logins and transfers go on, stderr says so", async () => {
  t.dir = tempDir();
  const users = await makeUsersFile(t.dir, [{ name: "alice", password: "alice-pw" }]);
  writeFileSync(join(t.dir, "home/alice/data.bin"), Buffer.alloc(10_000, 5));
  // `ftpkit serve | head -n 1`: head passes on the URL line and exits; the server's next log write meets EPIPE.
  // The inner shell names its PID (the server's, after exec) on stderr first.
  const inner = `echo "pid $$" >&2; exec bun '${FTPKIT}' serve --users '${users}' --host 127.0.0.1 --port 0`;
  const proc = Bun.spawn(["sh", "-c", `sh -c '${inner.replace(/'/g, `'\\''`)}' | head -n 1`], { cwd: t.dir, env: serveEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = { text: "" };
  const err = { text: "" };
  void collect(proc.stdout, out);
  void collect(proc.stderr, err);
  await waitFor(() => /^pid \d+/.test(err.text) && /ftp:\/\/127\.0\.0\.1:\d+\/\n/.test(out.text), 15_000, "pid and URL");
  t.pid = Number(/^pid (\d+)/.exec(err.text)![1]);
  const port = Number(/:(\d+)\/\n/.exec(out.text)![1]);
  // head has passed the URL on and exits: the server's standard output is now a pipe without a reader.
  for (let i = 0; i < 3; i++) {
    const w = await Wire.connect(port);
    t.wires.push(w);
    expect((await w.login("alice", "alice-pw")).code).toBe(230);
    await w.cmd("TYPE I");
    const r = await w.transfer("RETR data.bin");
    expect(r.final?.code).toBe(226);
    expect(r.data.length).toBe(10_000);
    expect((await w.cmd("QUIT")).code).toBe(221);
  }
  await waitFor(() => err.text.includes("log lines lost"), 5000, "the stderr report");
  expect(err.text).toContain("[warn] log lines lost: cannot write to standard output: the reader closed it (broken pipe); the server goes on");
  // Reported once (again at most once a minute), not once per lost line.
  expect(err.text.match(/log lines lost/g)).toHaveLength(1);
  expect(() => process.kill(t.pid, 0)).not.toThrow();
}, 30_000);

const canNamespace = process.getuid?.() === 0 && Bun.spawnSync(["unshare", "-m", "true"]).exitCode === 0;

/**
 * `serve > small/log` on a 16 KiB tmpfs (half taken by a filler) in a mount namespace of its own;
 * logins until the log disk is full. `after`: the shell prints the log on its stdout once the server
 * exited (the tmpfs goes with the namespace).
 */
async function serveOnFullDisk(after = false) {
  t.dir = tempDir();
  const users = await makeUsersFile(t.dir, [{ name: "alice", password: "alice-pw" }, { name: "bob", password: "bob-pw" }]);
  const small = `${t.dir}/small`;
  mkdirSync(small);
  // 16 KiB, half taken by a filler: `serve > small/log` fills the rest after ~60 lines.
  const serve = `bun '${FTPKIT}' serve --users '${users}' --host 127.0.0.1 --port 0 > '${small}/log'`;
  const prepare = `mount -t tmpfs -o size=16k tmpfs '${small}' && dd if=/dev/zero of='${small}/filler' bs=1k count=8 2>/dev/null`;
  const script = after ? `${prepare} && { ${serve} & echo "pid $!" >&2; wait $!; cat '${small}/log'; }` : `${prepare} && exec ${serve}`;
  const proc = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script], { cwd: t.dir, env: serveEnv(), stdin: "ignore", stdout: after ? "pipe" : "ignore", stderr: "pipe" });
  const err = { text: "" };
  void collect(proc.stderr, err);
  const out = { text: "" };
  const printed = after ? collect(proc.stdout as ReadableStream<Uint8Array>, out).then(() => out.text) : Promise.resolve("");
  if (after) await waitFor(() => /^pid \d+/.test(err.text), 15_000, "the server's pid");
  t.pid = after ? Number(/^pid (\d+)/.exec(err.text)![1]) : proc.pid; // without `after`, unshare and sh exec: this is the server
  const inServerNs = (cmd: string) => {
    const r = Bun.spawnSync(["nsenter", "-t", String(t.pid), "-m", "sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`nsenter: ${r.stderr.toString()}`);
    return r.stdout.toString();
  };
  let log = "";
  // Until the shell has mounted the tmpfs and made the file, there is none to read.
  await waitFor(() => /ftp:\/\/127\.0\.0\.1:\d+\/\n/.test((log = inServerNs(`cat '${small}/log' 2>/dev/null || true`))), 15_000, "the URL");
  const port = Number(/:(\d+)\/\n/.exec(log)![1]);
  const session = async (user: string) => {
    const w = await Wire.connect(port);
    try {
      expect((await w.login(user, `${user}-pw`)).code).toBe(230);
      expect((await w.cmd("QUIT")).code).toBe(221);
    } finally {
      w.close();
    }
  };
  for (let i = 0; i < 300 && !err.text.includes("log lines lost"); i++) await session("alice");
  await waitFor(() => err.text.includes("log lines lost"), 5000, "a failed log write");
  await session("alice"); // still full
  return { proc, printed, session, inServerNs, free: () => inServerNs(`rm '${small}/filler'`), log: () => inServerNs(`cat '${small}/log'`) };
}

test.skipIf(!canNamespace)("a log file on a disk that fills up: the line the disk cut is ended, the lines written once there is room are whole, none glued to it", async () => {
  const disk = await serveOnFullDisk();
  disk.free();
  for (let i = 0; i < 3; i++) await disk.session("bob");
  let log = "";
  await waitFor(() => ((log = disk.log()).match(/user=bob/g)?.length ?? 0) >= 6, 10_000, "bob's sessions in the log");
  const lines = log.split("\n");
  expect(lines.pop()).toBe("");
  // A time stamp only at the start of a line: never a line glued after the piece of a cut one.
  expect(lines.filter((l) => /.\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARN|ERROR)/.test(l))).toEqual([]);
  // Every line after the cut one is whole (ends like a log line's last field), and bob's are there.
  const after = lines.slice(lines.findIndex((l) => l.includes("user=bob")) - 1);
  for (const l of after.slice(1)) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN |ERROR) \S/);
}, 60_000);

test.skipIf(!canNamespace)("a log file on a disk that fills up: serve's text message written first once there is room ('SIGTERM: stopping') is a line of its own", async () => {
  const disk = await serveOnFullDisk(true);
  disk.free();
  // Nothing else is written between the freeing and the signal: the message is the first write after the cut.
  process.kill(t.pid, "SIGTERM");
  const log = await Promise.race([disk.printed, Bun.sleep(15_000).then(() => "the server still running")]);
  t.pid = 0;
  const lines = log.split("\n");
  expect(lines.pop()).toBe("");
  expect(lines.filter((l) => l.includes("SIGTERM"))).toEqual([
    expect.stringMatching(/^(\[info\]|ℹ) SIGTERM: stopping \(running transfers may finish within \d+ s\)$/),
    expect.stringMatching(/^(\[info\]|ℹ) SIGTERM: stopped$/), // the clean stop's last line (f292d08)
  ]);
}, 60_000);
