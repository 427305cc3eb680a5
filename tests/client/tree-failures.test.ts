// One directory a tree job cannot list, read or create fails alone, as in lftp's mirror and rsync:
// it is named (stderr and --json), everything else moves, the exit status is the refusal's kind,
// sync --delete keeps the destination's copy of it, and `ftpkit resume` later moves only what failed.
// Also: with --json, the entries a walk skips (links to directories or to nothing, FIFOs) are in the report.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FTPKIT, runFtpkit, startFtpkitServer, type RunResult } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { chownTo, proftpdBinary, startProftpd, startVsftpd, vsftpdAvailable } from "../helpers/system-ftpd.ts";
import { snapshot } from "../helpers/trees.ts";
import { startFakeServer } from "./fake-server.ts";
import type { FakeOptions } from "./fake-server-options.ts";

setDefaultTimeout(60_000);

const owned = useCleanups("ftpkit-tree-failures-");

function files(root: string, entries: Record<string, string>): void {
  for (const [rel, text] of Object.entries(entries)) {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
}

interface Report {
  files: { path: string; action: string; result: string }[];
  copied: number;
  skipped: number;
  failed: number;
}

const entry = (report: Report, path: string) => report.files.find((f) => f.path === path);
/** What a dry run and its run must agree on: each entry's path and action, and its result where it failed (a plan's others say "planned"). */
const entries = (report: Report) => report.files.map((f) => `${f.path} ${f.action} ${f.result.startsWith("failed") ? f.result : "-"}`).sort();

/** Run the client as nobody (it cannot read a chmod 000 directory, as root could), its state in `state`. */
async function runAsNobody(args: string[], cwd: string, state: string): Promise<RunResult> {
  const p = Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, FTPKIT, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: state, XDG_STATE_HOME: state, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill(9), 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, stdout, out: new TextEncoder().encode(stdout), stderr };
}

describe.skipIf(!vsftpdAvailable())("vsftpd: a remote directory the server will not list (550 Failed to change directory)", () => {
  test("get -r (and its --dry-run) copies every other file, names the directory in stderr and --json, exits 8; resume once it is readable moves only its files", async () => {
    const vs = await startVsftpd();
    owned.later(() => vs.stop());
    const work = owned.workDir();
    files(vs.home, { "t/a.txt": "a\n", "t/sub/b.txt": "b\n", "t/lockd/k.txt": "k\n", "t/lockd/deeper/d.txt": "d\n" });
    chownTo(vs.home, vs.user);
    chmodSync(join(vs.home, "t/lockd"), 0o000);
    // The dry run says what the run will: the plan without it, the directory failed, exit 8.
    const dry = await runFtpkit(["get", "-r", vs.url("/t"), "out", "--json", "--dry-run"], { cwd: work });
    expect(dry.code).toBe(8);
    expect(entry(JSON.parse(dry.stdout) as Report, "lockd")?.result).toMatch(/^failed: cannot enter .*\(550\)$/);
    expect(existsSync(join(work, "out"))).toBe(false);
    const r = await runFtpkit(["get", "-r", vs.url("/t"), "out", "--json"], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/lockd: cannot enter \S*lockd: .*\(550\); nothing in it is copied/);
    expect(snapshot(join(work, "out"))).toEqual({ "a.txt": expect.any(String), sub: "dir", "sub/b.txt": expect.any(String) });
    const report = JSON.parse(r.stdout) as Report;
    expect(report).toMatchObject({ copied: 2, failed: 1 });
    expect(entry(report, "lockd")?.result).toMatch(/^failed: cannot enter .*\(550\)$/);

    chmodSync(join(vs.home, "t/lockd"), 0o755);
    const resumed = await runFtpkit(["resume"], { cwd: work });
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/2 copied .*, 2 skipped, 0 deleted, 0 failed/);
    expect(readFileSync(join(work, "out/lockd/deeper/d.txt"), "utf8")).toBe("d\n");
    expect(readFileSync(join(work, "out/lockd/k.txt"), "utf8")).toBe("k\n");
  });

  test("sync --delete keeps the local copy of the directory it could not list (its contents are unknown, not absent) and deletes the rest", async () => {
    const vs = await startVsftpd();
    owned.later(() => vs.stop());
    const work = owned.workDir();
    files(vs.home, { "t/a.txt": "a\n", "t/lockd/k.txt": "k\n" });
    chownTo(vs.home, vs.user);
    chmodSync(join(vs.home, "t/lockd"), 0o000);
    files(join(work, "mirror"), { "gone.txt": "not on the server\n", "lockd/k.txt": "k\n", "lockd/mine.txt": "only here\n" });
    const r = await runFtpkit(["sync", vs.url("/t"), "mirror", "--delete"], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("lockd: cannot enter");
    expect(readFileSync(join(work, "mirror/a.txt"), "utf8")).toBe("a\n");
    expect(existsSync(join(work, "mirror/gone.txt"))).toBe(false);
    expect(readdirSync(join(work, "mirror/lockd")).sort()).toEqual(["k.txt", "mine.txt"]);
  });

  test("put -r and sync up into a tree with a directory the server will not list: nothing goes into it, the rest is copied, exit 8", async () => {
    const vs = await startVsftpd();
    owned.later(() => vs.stop());
    const work = owned.workDir();
    files(vs.home, { "dst/lockd/theirs.txt": "theirs\n", "dst/stale.txt": "stale\n" });
    chownTo(vs.home, vs.user);
    chmodSync(join(vs.home, "dst/lockd"), 0o000);
    files(join(work, "src"), { "a.txt": "a\n", "lockd/k.txt": "k\n", "lockd/new/n.txt": "n\n" });
    const up = await runFtpkit(["put", "-r", join(work, "src"), vs.url("/dst"), "--json"], { cwd: work });
    expect(up.code).toBe(8);
    expect(up.stderr).toMatch(/lockd: cannot enter \S*lockd: .*\(550\); nothing is copied into it/);
    expect(readFileSync(join(vs.home, "dst/a.txt"), "utf8")).toBe("a\n");
    const report = JSON.parse(up.stdout) as Report;
    expect(report).toMatchObject({ copied: 1, failed: 4 });
    expect(entry(report, "lockd")).toMatchObject({ action: "copy", result: expect.stringMatching(/^failed: cannot enter .*\(550\)$/) });
    for (const under of ["lockd/k.txt", "lockd/new", "lockd/new/n.txt"]) expect(entry(report, under)?.result).toBe("failed: not attempted: its directory lockd could not be listed");
    const sync = await runFtpkit(["sync", join(work, "src"), vs.url("/dst"), "--delete"], { cwd: work });
    expect(sync.code).toBe(8);
    expect(existsSync(join(vs.home, "dst/stale.txt"))).toBe(false);
    chmodSync(join(vs.home, "dst/lockd"), 0o755);
    expect(readdirSync(join(vs.home, "dst/lockd"))).toEqual(["theirs.txt"]);
  });

  test("get -r --json reports each link it skips (to a directory, to nothing) as a skip with its reason", async () => {
    const vs = await startVsftpd();
    owned.later(() => vs.stop());
    const work = owned.workDir();
    files(vs.home, { "t/realdir/in.txt": "in\n", "t/f.txt": "f\n" });
    symlinkSync("realdir", join(vs.home, "t/l2dir"));
    symlinkSync("nowhere", join(vs.home, "t/dangle"));
    chownTo(vs.home, vs.user);
    const r = await runFtpkit(["get", "-r", vs.url("/t"), "out", "--json"], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const report = JSON.parse(r.stdout) as Report;
    expect(report).toMatchObject({ copied: 2, skipped: 2, failed: 0 });
    for (const link of ["l2dir", "dangle"]) expect(entry(report, link)).toMatchObject({ action: "skip", result: expect.stringMatching(/^skipped: a symbolic link to a directory or to nothing/) });
  });
});

describe("a remote directory whose path is longer than a command line may be", () => {
  test("get -r names it (the server's 500 says too long), copies everything else, exits 8", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = owned.workDir();
    // Run first (last registered): paths past PATH_MAX are removed by a walk relative to each directory.
    owned.later(() => void Bun.spawnSync(["python3", "-c", "import shutil, sys\nfor d in sys.argv[1:]: shutil.rmtree(d, ignore_errors=True)", join(srv.home, "mix"), join(work, "out")]));
    files(srv.home, { "mix/ok/f1": "1\n", "mix/ok/f2": "2\n", "mix/z/after.txt": "z\n" });
    // 22 levels of 190-byte names: the deepest directories' paths pass the server's 4,096-byte lines.
    const name = "d".repeat(190);
    const script = `import os\nos.chdir("mix")\nos.mkdir("deep")\nos.chdir("deep")\nfor i in range(22):\n    os.mkdir("${name}")\n    os.chdir("${name}")\n    open("f", "w").write("x\\n")\n`;
    const made = Bun.spawnSync(["python3", "-c", script], { cwd: srv.home });
    expect(made.exitCode).toBe(0);
    const r = await runFtpkit(["get", "-r", srv.url("/mix"), "out"], { cwd: work });
    // Before: "cannot enter …: Command line too long (500)", nothing copied, exit 8.
    expect(r.stderr).toMatch(/: MLSD \/mix\/deep\/\S+: Command line too long \(500\); nothing in it is copied\n/);
    expect(r.stderr).toMatch(/24 copied .* 1 failed/);
    expect(r.code).toBe(8);
    expect(readFileSync(join(work, "out/ok/f1"), "utf8")).toBe("1\n");
    expect(readFileSync(join(work, "out/z/after.txt"), "utf8")).toBe("z\n");
    expect(readFileSync(join(work, "out/deep", name, "f"), "utf8")).toBe("x\n");
  });
});

describe("a local directory the client cannot read (run as nobody)", () => {
  test("put -r uploads the rest, names it in stderr and --json, exits 3, and resume once it is readable uploads only it; sync --delete keeps the server's copy of it", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = owned.workDir();
    chmodSync(work, 0o755);
    files(join(work, "src"), { "a.txt": "a\n", "sub/b.txt": "b\n", "lockeddir/x.txt": "x\n" });
    chmodSync(join(work, "src/lockeddir"), 0o000);
    const state = join(work, "nobody");
    mkdirSync(state, { mode: 0o700 });
    chownSync(state, 65534, 65534);
    const up = await runAsNobody(["put", "-r", join(work, "src"), srv.url("/up"), "--json"], state, state);
    expect(up.code).toBe(3);
    expect(up.stderr).toMatch(/lockeddir: cannot read \S*lockeddir: permission denied; nothing in it is copied/);
    expect(snapshot(join(srv.home, "up"))).toEqual({ "a.txt": expect.any(String), sub: "dir", "sub/b.txt": expect.any(String) });
    const report = JSON.parse(up.stdout) as Report;
    expect(report).toMatchObject({ copied: 2, failed: 1 });
    expect(entry(report, "lockeddir")?.result).toMatch(/^failed: cannot read .*lockeddir: permission denied$/);

    chmodSync(join(work, "src/lockeddir"), 0o755);
    const resumed = await runAsNobody(["resume"], state, state);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/1 copied .*, 2 skipped, 0 deleted, 0 failed/);
    expect(readFileSync(join(srv.home, "up/lockeddir/x.txt"), "utf8")).toBe("x\n");
    chmodSync(join(work, "src/lockeddir"), 0o000);

    files(join(srv.home, "mirror"), { "stale.txt": "gone locally\n", "lockeddir/keep.txt": "kept\n" });
    const sync = await runAsNobody(["sync", join(work, "src"), srv.url("/mirror"), "--delete"], state, state);
    expect(sync.code).toBe(3);
    expect(existsSync(join(srv.home, "mirror/stale.txt"))).toBe(false);
    expect(readFileSync(join(srv.home, "mirror/lockeddir/keep.txt"), "utf8")).toBe("kept\n");
    expect(readFileSync(join(srv.home, "mirror/a.txt"), "utf8")).toBe("a\n");
  });
});

describe("a local destination directory the client cannot read (run as nobody)", () => {
  test("get -r (and its --dry-run, with the same entries) copies the rest, copies nothing into it (its files not attempted), exits 3", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = owned.workDir();
    chmodSync(work, 0o755);
    files(join(srv.home, "t"), { "a.txt": "a\n", "lockd/k.txt": "k\n" });
    const state = join(work, "nobody");
    mkdirSync(join(state, "dest/lockd"), { recursive: true, mode: 0o700 });
    chownSync(state, 65534, 65534);
    chownSync(join(state, "dest"), 65534, 65534);
    chmodSync(join(state, "dest/lockd"), 0o000); // root's: nobody can neither list nor write it
    const dry = await runAsNobody(["get", "-r", srv.url("/t"), "dest", "--json", "--dry-run"], state, state);
    expect(dry.code).toBe(3);
    expect(entry(JSON.parse(dry.stdout) as Report, "lockd/k.txt")?.result).toBe("failed: not attempted: its directory lockd could not be listed");
    expect(existsSync(join(state, "dest/a.txt"))).toBe(false);
    const r = await runAsNobody(["get", "-r", srv.url("/t"), "dest", "--json"], state, state);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/lockd: cannot read \S*lockd: permission denied; nothing is copied into it/);
    expect(readFileSync(join(state, "dest/a.txt"), "utf8")).toBe("a\n");
    const report = JSON.parse(r.stdout) as Report;
    expect(entry(report, "lockd")?.result).toMatch(/^failed: cannot read .*lockd: permission denied$/);
    expect(entry(report, "lockd/k.txt")?.result).toBe("failed: not attempted: its directory lockd could not be listed");
    expect(entries(JSON.parse(dry.stdout) as Report)).toEqual(entries(report));
  });
});

describe("local entries put -r skips", () => {
  test("put -r --json (and its --dry-run) reports each (a link to nothing, a FIFO, a link to a directory, a link loop) as a skip with its reason", async () => {
    const srv = await startFtpkitServer();
    owned.later(() => srv.stop());
    const work = owned.workDir();
    files(join(work, "src"), { "ok.txt": "ok\n", "d/in.txt": "in\n" });
    symlinkSync(join(work, "no-such-target"), join(work, "src/dangling"));
    expect(Bun.spawnSync(["mkfifo", join(work, "src/fifo")]).exitCode).toBe(0);
    symlinkSync("d", join(work, "src/dirlink"));
    symlinkSync("loop", join(work, "src/loop"));
    const up = await runFtpkit(["put", "-r", join(work, "src"), srv.url("/odd"), "--json"], { cwd: work });
    expect(up.code).toBe(0);
    const report = JSON.parse(up.stdout) as Report;
    expect(report).toMatchObject({ copied: 2, skipped: 4, failed: 0 });
    expect(entry(report, "dangling")).toMatchObject({ action: "skip", result: "skipped: a symbolic link to nothing" });
    expect(entry(report, "loop")).toMatchObject({ action: "skip", result: "skipped: a symbolic link that leads to itself (a loop)" });
    expect(entry(report, "fifo")).toMatchObject({ action: "skip", result: "skipped: not a regular file: a FIFO, socket or device" });
    expect(entry(report, "dirlink")).toMatchObject({ action: "skip", result: "skipped: a symbolic link to a directory is not followed" });
    // The dry run's plan says the same.
    const dry = await runFtpkit(["put", "-r", join(work, "src"), srv.url("/odd-dry"), "--json", "--dry-run"], { cwd: work });
    expect((JSON.parse(dry.stdout) as Report).files.filter((f) => f.action === "skip").map((f) => f.path).sort()).toEqual(["dangling", "dirlink", "fifo", "loop"]);
  });
});

describe.skipIf(proftpdBinary() === null || process.getuid?.() !== 0)("ProFTPD: a directory it will not list, a directory name it refuses", () => {
  test("get -r of a tree with a directory MLSD refuses (Permission denied, 550) copies the rest and exits 8", async () => {
    const pro = await startProftpd();
    owned.later(() => pro.stop());
    const work = owned.workDir();
    files(pro.home, { "t/a.txt": "a\n", "t/lockd/k.txt": "k\n", "t/z/z.txt": "z\n" });
    chownTo(pro.home, "nobody");
    chmodSync(join(pro.home, "t/lockd"), 0o000);
    const r = await runFtpkit(["get", "-r", pro.url("/t"), "out", "--json"], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/lockd: .*Permission denied \(550\); nothing in it is copied/);
    expect(snapshot(join(work, "out"))).toEqual({ "a.txt": expect.any(String), z: "dir", "z/z.txt": expect.any(String) });
    expect(entry(JSON.parse(r.stdout) as Report, "lockd")?.result).toMatch(/^failed: .*Permission denied \(550\)$/);
  });

  test("put -r uploads every other file, reports the directory and the files under it as failed (not tried one by one), exits 8", async () => {
    const pro = await startProftpd();
    owned.later(() => pro.stop());
    const work = owned.workDir();
    files(join(work, "src"), { "a.txt": "a\n", "gd/ok.txt": "ok\n", "gd/*/f1.txt": "1\n", "gd/*/inner/f2.txt": "2\n", "z/last.txt": "z\n" });
    const up = await runFtpkit(["put", "-r", join(work, "src"), pro.url("/up"), "--json"], { cwd: work });
    expect(up.code).toBe(8);
    expect(up.stderr).toMatch(/gd\/\*: .*\(550\); nothing in it is copied/);
    expect(snapshot(join(pro.home, "up"))).toEqual({ "a.txt": expect.any(String), gd: "dir", "gd/ok.txt": expect.any(String), z: "dir", "z/last.txt": expect.any(String) });
    const report = JSON.parse(up.stdout) as Report;
    expect(report).toMatchObject({ copied: 3, failed: 4 });
    expect(entry(report, "gd/*")).toMatchObject({ action: "mkdir", result: expect.stringMatching(/^failed: .*\(550\)$/) });
    for (const under of ["gd/*/inner", "gd/*/f1.txt", "gd/*/inner/f2.txt"]) expect(entry(report, under)?.result).toBe("failed: not attempted: its directory gd/* could not be created");
    // No STOR was sent for them: ProFTPD logs nothing to check, but the server has no such file anywhere.
    expect(readdirSync(join(pro.home, "up/gd"))).toEqual(["ok.txt"]);
    // A job that moved nothing leaves no record: it says to run the command again, not `ftpkit resume`.
    files(join(work, "only-star"), { "*/f.txt": "f\n" });
    const none = await runFtpkit(["put", "-r", join(work, "only-star"), pro.url("/none")], { cwd: work });
    expect(none.code).toBe(8);
    expect(none.stderr).toContain("2 of 2 items failed, each refused (see above): once that is fixed, run the command again");
    const pending = (await runFtpkit(["resume", "--list"], { cwd: work })).stdout;
    expect(pending).toContain("/up (started"); // the first job, which moved files, waits for its resume
    expect(pending).not.toContain("only-star");
  });
});

describe("a resume while a directory cannot be listed", () => {
  test("keeps the part files of that directory: their files are not known to be gone", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(200_000)));
    // Sent, then silence (a reset could discard what was in flight): the client keeps 50,000 bytes.
    const opts: FakeOptions = { files: new Map([["/t/sub/big.bin", data]]), feat: ["SIZE"], stallRetrAfter: 50_000 };
    const fake = startFakeServer(opts);
    owned.later(() => fake.stop());
    const work = owned.workDir();
    const first = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${fake.port}/t`, "out", "--retries", "0", "--stall-timeout", "0.5"], { cwd: work });
    expect(first.code).toBe(4);
    const part = join(work, "out", "sub", "big.bin.ftpkit-part");
    expect(existsSync(part)).toBe(true);
    opts.listing550 = "/t/sub";
    const r = await runFtpkit(["resume"], { cwd: work, env: { FTPKIT_PASSWORD: "p" } });
    expect(r.stderr).not.toContain("removed its partial download");
    expect(r.stderr).toContain("sub: ");
    expect(r.code).toBe(8);
    expect(readFileSync(part).length).toBe(50_000);
  });
});

describe("a long --json report of a job that fails", () => {
  test("reaches a reader slower than the job whole (the dry run of 1,500 files with one unlistable directory exits 8)", async () => {
    const files = new Map<string, Buffer>([["/t/sub/x.txt", Buffer.from("x")]]);
    for (let i = 0; i < 1500; i++) files.set(`/t/file-with-a-longish-name-${String(i).padStart(4, "0")}.txt`, Buffer.from("data\n"));
    const fake = startFakeServer({ files, feat: ["SIZE"], listing550: "/t/sub" });
    owned.later(() => fake.stop());
    const work = owned.workDir();
    // The reader starts a second late: the job has more than a pipe's 64 KiB to write by then.
    const job = `"${process.execPath}" "${FTPKIT}" get -r ftp://u:p@127.0.0.1:${fake.port}/t out --dry-run --json`;
    const proc = Bun.spawn(["bash", "-c", `${job} | (sleep 1; cat > report.json); exit \${PIPESTATUS[0]}`], { cwd: work, env: { ...process.env, NO_COLOR: "1" }, stdout: "ignore", stderr: "pipe" });
    owned.later(() => void proc.kill(9));
    const code = await proc.exited;
    const stdout = readFileSync(join(work, "report.json"), "utf8");
    expect(stdout.length).toBeGreaterThan(65_536);
    const report = JSON.parse(stdout) as Report;
    expect(report.files.filter((f) => f.result === "planned (dry run)").length).toBe(1500);
    expect(code).toBe(8);
  });
});

describe("--dry-run into a destination directory that cannot be listed", () => {
  test("put -r plans what its run does: the directory failed, nothing under it planned, the same --json entries and exit 8; sync --delete deletes nothing under it", async () => {
    const text = (s: string) => Buffer.from(s);
    const opts: FakeOptions = { files: new Map([["/dst/lockd/theirs.txt", text("theirs\n")], ["/dst/stale.txt", text("stale\n")]]), feat: ["SIZE"], listing550: "/dst/lockd" };
    const fake = startFakeServer(opts);
    owned.later(() => fake.stop());
    const work = owned.workDir();
    files(join(work, "src"), { "a.txt": "a\n", "lockd/k.txt": "k\n", "lockd/new/n.txt": "n\n" });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/dst`;
    const dry = await runFtpkit(["put", "-r", "src", url, "--json", "--dry-run"], { cwd: work });
    const plan = JSON.parse(dry.stdout) as Report;
    expect(dry.stderr).toMatch(/lockd: .*\(550\); nothing is copied into it/);
    for (const under of ["lockd/k.txt", "lockd/new", "lockd/new/n.txt"]) expect(entry(plan, under)?.result).toBe("failed: not attempted: its directory lockd could not be listed");
    expect(entry(plan, "a.txt")?.result).toBe("planned (dry run)");
    expect(fake.files.has("/dst/a.txt")).toBe(false);
    // The text plan lists no copy or directory under it.
    const shown = await runFtpkit(["put", "-r", "src", url, "--dry-run"], { cwd: work });
    expect(shown.stdout).toContain("copy a.txt (new)");
    expect(shown.stdout).not.toContain("lockd/");
    expect(shown.code).toBe(8);

    const run = await runFtpkit(["put", "-r", "src", url, "--json"], { cwd: work });
    expect(run.code).toBe(8);
    expect(dry.code).toBe(run.code);
    expect(entries(plan)).toEqual(entries(JSON.parse(run.stdout) as Report));
    expect(fake.files.get("/dst/a.txt")?.toString()).toBe("a\n");

    const sync = await runFtpkit(["sync", "src", url, "--delete", "--dry-run"], { cwd: work });
    expect(sync.code).toBe(8);
    expect(sync.stdout).toMatch(/^delete stale\.txt \(not in source\)$/m);
    expect(sync.stdout).not.toContain("lockd/");
    // a.txt, uploaded above, may count as changed: the fake server keeps no times.
    expect(sync.stdout).toMatch(/^dry run: \d+ to copy, 0 directories to create, 1 to delete/m);
  });
});
