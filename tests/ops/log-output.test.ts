// `serve`'s standard output that takes no more (a full log disk, a log pipe whose reader went away)
// costs log lines, never the service.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
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
