// A transfer is aborted only after its data connection has moved nothing for the stall timeout
// (300 s by default, vsftpd's data_connection_timeout), not after the 30 s a data connection has to
// be made: `mysqldump | gzip | curl -T - ftp://…` is silent while the dump works.
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_OPTIONS } from "../../server/options.ts";
import { useServers } from "../helpers/server.ts";
import { run } from "../interop/run.ts";
import { Wire } from "../helpers/wire.ts";
import { parseEpsvReply } from "../../protocol/address.ts";

const servers = useServers();

/** curl -T - fed by a producer that is silent for `silentSec` before its one line. */
function pipedUpload(port: number, silentSec: number) {
  return run(["sh", "-c", `(sleep ${silentSec}; echo late) | curl -sS --max-time 20 -T - ftp://alice:alice-pw@127.0.0.1:${port}/piped.txt`], { timeoutMs: 25_000 });
}

test("the default is vsftpd's 300 s, apart from the 30 s a data connection has to be made", () => {
  expect(DEFAULT_OPTIONS.stallTimeoutMs).toBe(300_000);
  expect(DEFAULT_OPTIONS.dataTimeoutMs).toBe(30_000);
});

test("an upload whose producer is silent for longer than the data timeout completes (curl -T - from a pipe)", async () => {
  // Scaled down: 1 s to make a data connection, 6 s of stall allowed, 2.5 s of silence.
  const s = await servers.start({ options: { dataTimeoutMs: 1000, stallTimeoutMs: 6000 } });
  const r = await pipedUpload(s.port, 2.5);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  expect(readFileSync(join(s.home("alice"), "piped.txt"), "utf8")).toBe("late\n");
}, 30_000);

test("silent past the stall timeout, the upload is aborted (curl fails)", async () => {
  const s = await servers.start({ options: { dataTimeoutMs: 1000, stallTimeoutMs: 1000 } });
  const r = await pipedUpload(s.port, 3.5);
  expect(r.code).not.toBe(0);
}, 30_000);

test("a download read slowly but steadily is not a stall, though the kernel's buffers keep its writes waiting longer than the stall timeout", async () => {
  // 2 s of stall allowed; the client reads 160 KB/s for 6 s (the server's writes wait for MiBs of
  // buffers to half drain: 10 s and more), then the rest at once. Before: 426 stalled after ~2 s.
  const s = await servers.start({ options: { dataTimeoutMs: 1000, stallTimeoutMs: 2000 } });
  const data = Buffer.alloc(16 << 20, 1).fill(crypto.getRandomValues(new Uint8Array(65536)), 0, 65536);
  writeFileSync(join(s.home("alice"), "big.bin"), data);
  const script = `
import ftplib, time, sys
f = ftplib.FTP(); f.connect("127.0.0.1", ${s.port}, timeout=30); f.login("alice", "alice-pw")
start = time.time(); got = 0
def take(b):
    global got
    got += len(b)
    if time.time() - start < 6: time.sleep(0.05)
f.retrbinary("RETR big.bin", take, blocksize=8192)
print(got)
f.quit()
`;
  const r = await run(["python3", "-c", script], { timeoutMs: 60_000 });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  expect(Number(r.stdout.trim())).toBe(data.length);
}, 60_000);

test("a download whose client reads nothing is still aborted as stalled (426)", async () => {
  const s = await servers.start({ options: { dataTimeoutMs: 1000, stallTimeoutMs: 2000 } });
  writeFileSync(join(s.home("alice"), "big.bin"), Buffer.alloc(16 << 20, 1));
  const w = await Wire.connect(s.port);
  const port = parseEpsvReply((await w.login("alice", "alice-pw"), await w.cmd("EPSV")).lines[0]!);
  const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close() {}, error() {} } });
  try {
    data.pause(); // never reads: the kernel's queue for it never shrinks
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    const end = await w.read(15_000);
    expect(`${end?.code} ${end?.lines.join(" ")}`).toBe("426 Data connection stalled; transfer aborted");
  } finally {
    data.terminate();
    w.close();
  }
}, 30_000);
