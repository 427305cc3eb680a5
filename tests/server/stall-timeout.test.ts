// A transfer is aborted only after its data connection has moved nothing for the stall timeout
// (300 s by default, vsftpd's data_connection_timeout), not after the 30 s a data connection has to
// be made: `mysqldump | gzip | curl -T - ftp://…` is silent while the dump works.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_OPTIONS } from "../../server/options.ts";
import { useServers } from "../helpers/server.ts";
import { run } from "../interop/run.ts";

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
