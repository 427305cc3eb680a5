// `serve --workers 2`: the workers' log lines reach stdout whole, also when stdout is a pipe that
// fills up (a slow log shipper, journald busy): no line is cut by another worker's line.
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { FTPKIT, freePort, waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, collect, serveEnv } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { tempDir } from "../tls/helpers.ts";

const t = cleanedAfterEach();

/** Connect, say USER and QUIT, wait for the close: two log lines (session start, session end). */
function session(port: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data: (s, d) => void (d.toString().startsWith("220") && s.write("USER someone-with-a-long-name-for-longer-lines\r\nQUIT\r\n")),
        close: done,
        error: done,
        connectError: done,
      },
    }).catch(done);
  });
}

/** The child PIDs of `p`; a thread that ends between the listing and the read has none (it threw ENOENT and failed the test at once). */
const children = (p: number) =>
  readdirSync(`/proc/${p}/task`).flatMap((task) => {
    try {
      return readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });

test("3,000 sessions on two workers into a stdout pipe that is not read for a while: every line is a whole JSON record", async () => {
  t.dir = tempDir();
  const users = await makeUsersFile(t.dir, [{ name: "alice", password: "alice-pw" }]);
  const port = freePort();
  // The reader sleeps first, so the pipe fills and the workers' lines queue up behind it.
  const inner = `echo "pid $$" >&2; exec bun '${FTPKIT}' serve --users '${users}' --host 127.0.0.1 --port ${port} --workers 2 --log-format json --max-per-ip 5000 --ban-after 0`;
  const proc = Bun.spawn(["sh", "-c", `sh -c '${inner.replace(/'/g, `'\\''`)}' | (sleep 5; cat)`], { cwd: t.dir, env: serveEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = { text: "" };
  const err = { text: "" };
  void collect(proc.stdout, out);
  void collect(proc.stderr, err);
  await waitFor(() => /^pid \d+/.test(err.text), 15_000, "the primary's pid");
  t.pid = Number(/^pid (\d+)/.exec(err.text)![1]);
  let workers: number[] = [];
  await waitFor(
    () => {
      if (!existsSync(`/proc/${t.pid}`)) throw new Error(`the server ended at start-up: ${err.text}`);
      // The primary's children that are serve workers (a process Bun itself starts is not one).
      workers = children(t.pid).filter((c) => {
        try {
          return readFileSync(`/proc/${c}/cmdline`, "utf8").includes("serve");
        } catch {
          return false;
        }
      });
      return workers.length === 2;
    },
    15_000,
    "two workers",
  );
  // One writer of the log stream: the workers' stdout is not the primary's (a pipe to it).
  const stdoutOf = (p: number) => readlinkSync(`/proc/${p}/fd/1`);
  for (const w of workers) expect(stdoutOf(w)).not.toBe(stdoutOf(t.pid));
  // The listening record waits behind the sleeping reader: wait for a worker's greeting (the
  // primary's start-up listener answers 421 until one listens).
  const greeting = () =>
    new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve(""), 2000);
      const give = (text: string) => (clearTimeout(timer), resolve(text));
      Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (s, d) => (s.end(), give(d.toString())), connectError: () => give(""), error: () => give("") } }).catch(() => give(""));
    });
  const deadline = Date.now() + 15_000;
  while (!(await greeting()).startsWith("220") && Date.now() < deadline) await Bun.sleep(50);
  const SESSIONS = 3000;
  const running = new Set<Promise<void>>();
  for (let i = 0; i < SESSIONS; i++) {
    const p = session(port).then(() => void running.delete(p));
    running.add(p);
    if (running.size >= 40) await Promise.race(running);
  }
  await Promise.all(running);
  await waitFor(() => (out.text.match(/"event":"session end"/g)?.length ?? 0) >= SESSIONS, 30_000, "every session end");
  const lines = out.text.split("\n").filter((l) => l !== "");
  const broken = lines.filter((l) => {
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });
  expect(broken).toEqual([]);
  // Every session's lines are there (beside those of the greetings waited for above).
  expect(lines.filter((l) => l.includes('"event":"session start"')).length).toBeGreaterThanOrEqual(SESSIONS);
}, 90_000);
