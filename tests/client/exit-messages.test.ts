// A job that ends early (Ctrl-C, a standard output whose reader went away) exits with process.exit,
// which dropped the warnings process.stderr still held for a reader that was behind (a paused
// `| less`, a slow log shipper): they reach stderr first now. The reader here is a pipe of 4 KiB that
// nobody reads until a moment after the signal or the broken pipe.
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, FTPKIT, waitFor } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { sendsListing, startScriptedServer } from "./scripted-server.ts";

const t = useFakeServerWork();

/** Runs the command with stderr on a 4 KiB pipe read only after "go" on stdin; stdout to /dev/null, ("closed") to a pipe with no reader, or ("file:PATH") to a file. */
const BEHIND = `
import fcntl, os, subprocess, sys
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ
stdout_mode, pid_file, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if stdout_mode == "closed":
    out_r, out = os.pipe()
    os.close(out_r)
elif stdout_mode.startswith("file:"):
    out = os.open(stdout_mode[5:], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
else:
    out = os.open(os.devnull, os.O_WRONLY)
p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=w)
os.close(w)
os.close(out)
open(pid_file, "w").write(str(p.pid))
sys.stdin.readline()
data = b""
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write("exit %d\\n" % p.wait())
sys.stdout.flush()
sys.stdout.buffer.write(data)
`;

/** `ftpkit ARGS` behind that reader; `trigger` gets its PID and returns once the job is where the test wants it. */
async function behindReader(stdout: "null" | "closed" | `file:${string}`, args: string[], trigger: (pid: number) => Promise<void>): Promise<{ code: number; stderr: string }> {
  const pidFile = join(t.work, "pid");
  const proc = Bun.spawn(["python3", "-c", BEHIND, stdout, pidFile, "bun", FTPKIT, ...args], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  try {
    await waitFor(() => readFileSync(pidFile, { flag: "a+" }).length > 0, 10_000, "the job's PID");
    await trigger(Number(readFileSync(pidFile, "utf8")));
    // The reader is behind: it starts reading a moment after the job began to exit.
    await Bun.sleep(700);
    proc.stdin.write("go\n");
    await proc.stdin.end();
    const out = await new Response(proc.stdout).text();
    const [first, ...rest] = out.split("\n");
    return { code: Number(/^exit (-?\d+)$/.exec(first!)?.[1]), stderr: rest.join("\n") };
  } finally {
    clearTimeout(timer);
    proc.kill(9);
  }
}

test("Ctrl-C during put -r: the 100 warnings said before it all reach a standard error that is behind, then the resume hint; exit 130", async () => {
  const fake = t.start({ neverAnswer: ["STOR"] });
  const dir = join(t.work, "up");
  mkdirSync(dir);
  for (let i = 0; i < 100; i++) symlinkSync(`/nonexistent/${i}`, join(dir, `link${String(i).padStart(3, "0")}`));
  writeFileSync(join(dir, "a.txt"), "alpha\n");
  const r = await behindReader("null", ["put", "-r", dir, `ftp://u:p@127.0.0.1:${fake.port}/up/`], async (pid) => {
    await waitFor(() => fake.commands.some((c) => c.startsWith("STOR")), 15_000, "the upload under way");
    process.kill(pid, "SIGINT");
  });
  expect(r.code).toBe(130);
  const lines = r.stderr.trimEnd().split("\n");
  // Before: the warnings past what the pipe held (about 4 KiB) were lost.
  expect(lines.filter((l) => /^\[warn\] link\d{3}: skipped \(a symbolic link to nothing\)$/.test(l))).toHaveLength(100);
  expect(lines.at(-1)).toBe("interrupted: run `ftpkit resume` here to continue");
}, 40_000);

test("ls whose reader closed standard output: the 100 warnings said before reach a standard error that is behind; no line for the broken pipe, exit 0", async () => {
  const facts = "type=file;size=3;modify=20260101120000;";
  const names = Array.from({ length: 100 }, (_, i) => `${facts} d${i}/x.txt`);
  const server = startScriptedServer({ feat: ["MLST type*;size*;modify*;", "MLSD"], on: { MLSD: sendsListing([`${facts} a.txt`, ...names]) } });
  try {
    const r = await behindReader("closed", ["ls", `ftp://u:p@127.0.0.1:${server.port}/t/`], async () => {
      await waitFor(() => server.commands.some((c) => c.startsWith("MLSD")), 15_000, "the listing asked for");
    });
    // A reader that went away took what it wanted, as for `ls | head -1` (tests/client/stdio.test.ts).
    expect(r.code).toBe(0);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines.filter((l) => /^\[warn\] "d\d+\/x\.txt": a name holding "\/"/.test(l))).toHaveLength(100);
    expect(lines.filter((l) => !l.startsWith("[warn]"))).toEqual([]);
  } finally {
    server.stop();
  }
}, 40_000);

test("Ctrl-C during a plain ls: the warnings said before it reach a standard error that is behind; exit 130", async () => {
  // Each refusal of the listing is said with the server's long reason (~3 KB), and the ls tries
  // again: two of them fill the 4 KiB pipe. The third try's listing never comes.
  const reason = `try later ${"x".repeat(3000)} end`;
  let tries = 0;
  const server = startScriptedServer({
    feat: ["MLST type*;size*;modify*;", "MLSD"],
    on: {
      MLSD: async (c) => {
        if (++tries <= 2) return c.reply(451, reason);
        while (!c.closed) await Bun.sleep(50);
      },
    },
  });
  try {
    const r = await behindReader("null", ["ls", "--retries", "3", `ftp://u:p@127.0.0.1:${server.port}/t/`], async (pid) => {
      await waitFor(() => tries === 3, 20_000, "the third listing asked for");
      process.kill(pid, "SIGINT");
    });
    expect(r.code).toBe(130);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("[warn]") && l.includes(" end"))).toHaveLength(2);
  } finally {
    server.stop();
  }
}, 40_000);

test("ls --json stopped by Ctrl-C while its exit waits for a standard error that is behind: one JSON document on stdout, the error, though the listing ends meanwhile", async () => {
  const facts = "type=file;size=3;modify=20260101120000;";
  const names = Array.from({ length: 100 }, (_, i) => `${facts} d${i}/x.txt`);
  let release = () => {};
  const released = new Promise<void>((r) => (release = r));
  // QUIT is answered only once the signal was handled: the listing, its warnings said, then ends during the exit's wait.
  const server = startScriptedServer({
    feat: ["MLST type*;size*;modify*;", "MLSD"],
    on: {
      MLSD: sendsListing([`${facts} a.txt`, ...names]),
      QUIT: async (c) => {
        await released;
        c.reply(221, "bye");
      },
    },
  });
  const out = join(t.work, "stdout.json");
  try {
    const r = await behindReader(`file:${out}`, ["ls", "--json", `ftp://u:p@127.0.0.1:${server.port}/t/`], async (pid) => {
      await waitFor(() => server.commands.includes("QUIT"), 15_000, "the listing done");
      process.kill(pid, "SIGINT");
      await waitFor(() => readFileSync(out, "utf8").includes("interrupted by SIGINT"), 10_000, "the signal handled");
      release();
    });
    expect(r.code).toBe(130);
    // Before: the error, then the listing's array (two documents).
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ error: "interrupted by SIGINT" });
  } finally {
    server.stop();
  }
}, 40_000);
