// Progress output: a bar redrawn in place on a terminal, one summary line on a pipe, nothing with --quiet.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Progress, TreeProgress } from "../../client/progress.ts";
import { FTPKIT, cleanEnv, digest, randomFile, removeDir, runFtpkit, startPyftpd, tempDir, type Peer } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let peer: Peer;
let work: string;
let sha: string;

beforeAll(async () => {
  peer = await startPyftpd();
  work = tempDir();
  sha = digest(randomFile(join(peer.root, "p.bin"), 3_000_000));
});

afterAll(async () => {
  await peer.stop();
  removeDir(peer.root);
  removeDir(work);
});

/** Run a shell command under a pseudo-terminal (util-linux `script`), returning what it printed. */
async function underPty(cmd: string, cwd: string): Promise<{ code: number; out: string }> {
  // A terminal that can redraw (whatever TERM the tests run under); a command may set its own.
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], { cwd, env: { ...cleanEnv(), NO_COLOR: "1", TERM: "xterm" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 30_000);
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, out };
}

describe("progress output", () => {
  test("on a terminal: a bar redrawn in place with a percent, a rate and an ETA", async () => {
    const cmd = `bun ${FTPKIT} get '${peer.url("/p.bin")}' tty.bin --limit-rate 3MB --hash sha256`;
    const { code, out } = await underPty(cmd, work);
    expect(code).toBe(0);
    const redraws = out.split("\r").filter((s) => /\d+%/.test(s));
    expect(redraws.length).toBeGreaterThan(3);
    expect(out).toMatch(/\[#+-*\] +\d+% .*\/s ETA \d\d:\d\d/);
    expect(out).toContain("100%");
    expect(out).toContain(sha);
  });

  test("on a pipe: no redraws, one summary line with bytes, time, rate and digest (asked for with --hash)", async () => {
    const r = await runFtpkit(["get", peer.url("/p.bin"), "pipe.bin", "--limit-rate", "6MB", "--hash", "sha256"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("\r");
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(new RegExp(`^pipe\\.bin: 3000000 bytes in \\d+\\.\\d s \\([\\d.]+ \\w+/s\\), sha256 ${sha} \\(size verified only\\)$`));
    expect(lines).toHaveLength(2); // plus "server offers no hash; verified size only"
  });

  test("on a terminal with TERM=dumb: no redraw and no escape sequence, the one summary line", async () => {
    const cmd = `TERM=dumb bun ${FTPKIT} get '${peer.url("/p.bin")}' dumb.bin --limit-rate 6MB --hash sha256`;
    const { code, out } = await underPty(cmd, work);
    expect(code).toBe(0);
    expect(out).not.toContain("\x1b[");
    expect(out.split("\r\n").filter((s) => s.includes("\r"))).toEqual([]); // a pty ends lines with CR LF: no bare CR
    expect(out).toMatch(new RegExp(`dumb\\.bin: 3000000 bytes in .*sha256 ${sha}`));
  });

  test("--quiet prints nothing on success", async () => {
    const r = await runFtpkit(["get", peer.url("/p.bin"), "quiet.bin", "--quiet"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("");
  });

  test("redraws are throttled to about ten per second", () => {
    let writes = 0;
    const p = new Progress("x", "tty", 1000, { write: () => writes++, isTTY: true }, 100);
    p.start(0);
    for (let i = 1; i <= 1000; i++) p.update(i);
    expect(writes).toBeLessThanOrEqual(2);
  });

  test("a tree job on a terminal: one display for the whole job (files done/total, bytes, rate, ETA)", async () => {
    mkdirSync(join(peer.root, "tree/sub"), { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(peer.root, `tree/${i % 2 ? "sub/" : ""}f${i}.bin`), Buffer.alloc(200_000, i));
    const { code, out } = await underPty(`bun ${FTPKIT} get -r '${peer.url("/tree")}' tty-tree --limit-rate 500K --parallel 2`, work);
    expect(code).toBe(0);
    const redraws = out.split("\r").filter((s) => /\d+\/6 files/.test(s));
    expect(redraws.length).toBeGreaterThan(2);
    expect(out).toMatch(/get -r tty-tree: \d\/6 files, [\d.]+ \w+\/[\d.]+ \w+ [\d.]+ \w+\/s ETA \d\d:\d\d/);
    expect(out).toMatch(/get -r tty-tree: 6 files, 1\.1 MiB moved in [\d.]+ s \([\d.]+ \w+\/s\); 6 copied \(0 verified by digest\), 0 skipped, 0 deleted, 0 failed/);
    // The server has no HASH: said once for the job, not once per file.
    expect(out.split("server offers no hash").length - 1).toBe(1);
  });

  test("a tree job on a pipe: no redraws, one summary line", async () => {
    const r = await runFtpkit(["get", "-r", peer.url("/tree"), "pipe-tree"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("\r");
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^get -r pipe-tree: 6 files, 1\.1 MiB moved in [\d.]+ s \([\d.]+ \w+\/s\); 6 copied/);
  });

  test("a file's line fits the terminal (a longer one wraps, and redraws then pile up): long name, 80 and 40 columns", () => {
    for (const columns of [80, 40]) {
      const lines: string[] = [];
      const p = new Progress("a-very-long-file-name-for-testing-the-progress-display-width.bin", "tty", 30_000_000, { write: (t: string) => lines.push(t), isTTY: true, columns }, 0);
      p.start(0);
      for (const n of [4_000_000, 15_000_000, 30_000_000]) p.update(n);
      const drawn = lines.filter((l) => l.startsWith("\r") && l.length > 4).map((l) => l.slice(1).replace("\x1b[K", ""));
      expect(drawn.length).toBeGreaterThan(2);
      for (const l of drawn) expect(l.length).toBeLessThan(columns);
      expect(drawn.at(-1)).toMatch(/100% 28\.6 MiB\/28\.6 MiB/);
      if (columns === 80) expect(drawn.at(-1)).toMatch(/^….*width\.bin \[#+\] 100%/);
    }
  });

  test("tree redraws are throttled too", () => {
    let writes = 0;
    const t = new TreeProgress("x", "tty", 100, 100_000, { write: () => writes++, isTTY: true }, 100);
    const f = t.file();
    f.start(0, 1000);
    for (let i = 1; i <= 1000; i++) f.update(i);
    t.fileFinished();
    expect(writes).toBeLessThanOrEqual(2);
    expect(t.bytesDone).toBe(1000);
  });
});
