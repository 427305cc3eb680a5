// Starting, probing, measuring and stopping the servers under test (ftpkit, vsftpd, pyftpdlib; ProFTPD
// is proftpd.ts).
// Every process is started in its own session (setsid) so its whole tree can be stopped by PID.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { FtpLite } from "./ftp-lite.ts";

export const BENCH_DIR = import.meta.dir;
export const REPO_DIR = join(BENCH_DIR, "..");
const SYSTEM_PYTHON = "/usr/bin/python3";

/** The one account every server gets: same name, password and home. */
export interface Account {
  user: string;
  pass: string;
  home: string;
}

export interface RunningServer {
  name: string;
  port: number;
  pid: number;
  proc: Subprocess;
  log: string;
}

/** A server that could not be started, and why (shown as "not available"). */
export interface Unavailable {
  name: string;
  reason: string;
}

const LIMIT = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null';

/** Runs a server in its own session with the fd limit raised (1,000 sessions need fds), output to `log`. */
export function spawnServer(cmd: string[], log: string): Subprocess {
  const script = `${LIMIT}; log=$1; shift; exec "$@" >"$log" 2>&1 </dev/null`;
  // env given explicitly: Bun.spawn's default is the environment the bench started with, without
  // what it set since (the S3 rows export the S3_* of the radosgw they started).
  return Bun.spawn(["setsid", "sh", "-c", script, "sh", log, ...cmd], { cwd: REPO_DIR, env: { ...process.env }, stdio: ["ignore", "ignore", "ignore"] });
}

/** Runs a load generator (fd limit raised) with piped stdin/stdout/stderr. */
export function spawnPiped(cmd: string[]): Subprocess<"pipe", "pipe", "pipe"> {
  const script = `${LIMIT}; exec "$@"`;
  return Bun.spawn(["setsid", "sh", "-c", script, "sh", ...cmd], { cwd: REPO_DIR, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
}

export function sh(cmd: string[], input?: string): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { stdin: input === undefined ? "ignore" : Buffer.from(input), stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

function have(cmd: string): boolean {
  return sh(["sh", "-c", `command -v ${cmd}`]).code === 0;
}

function pyftpdlibImportable(): boolean {
  return existsSync(SYSTEM_PYTHON) && sh([SYSTEM_PYTHON, "-c", "import pyftpdlib"]).code === 0;
}

/** pyOpenSSL is what pyftpdlib's TLS handler needs. */
export function pyOpenSslImportable(): boolean {
  return existsSync(SYSTEM_PYTHON) && sh([SYSTEM_PYTHON, "-c", "import OpenSSL"]).code === 0;
}

/** Installs the peers with apt when they are missing (CI runs as root). Returns messages. */
export function ensurePeers(): string[] {
  const notes: string[] = [];
  const missing: string[] = [];
  if (!existsSync("/usr/sbin/vsftpd") && !have("vsftpd")) missing.push("vsftpd");
  if (!pyftpdlibImportable()) missing.push("python3-pyftpdlib");
  if (missing.length > 0) {
    notes.push(`installing ${missing.join(" ")} with apt-get`);
    sh(["apt-get", "update"]);
    const r = sh(["apt-get", "install", "-y", ...missing], undefined);
    if (r.code !== 0) notes.push(`apt-get install failed: ${r.out.trim().split("\n").slice(-2).join(" ")}`);
  }
  if (!pyOpenSslImportable()) {
    const r = sh(["apt-get", "install", "-y", "python3-openssl"]);
    if (r.code !== 0) notes.push("python3-openssl not installable: pyftpdlib FTPS is n/a");
  }
  return notes;
}

/** Creates the dedicated system user vsftpd needs (PAM login), and sets its password. */
export function ensureSystemUser(acct: Account): void {
  if (sh(["id", "-u", acct.user]).code !== 0) {
    const r = sh(["useradd", "--no-create-home", "--home-dir", acct.home, "--shell", "/bin/sh", "--comment", "ftpkit bench", acct.user]);
    if (r.code !== 0) throw new Error(`useradd ${acct.user}: ${r.out.trim()}`);
  } else {
    // vsftpd changes into the passwd home before local_root: one left by a worktree that is gone
    // makes every login fail ("500 OOPS: cannot change directory"). Any existing home will do.
    const home = sh(["getent", "passwd", acct.user]).out.split(":")[5] ?? "";
    if (!existsSync(home)) sh(["usermod", "--home", acct.home, acct.user]);
  }
  const r = sh(["chpasswd"], `${acct.user}:${acct.pass}\n`);
  if (r.code !== 0) throw new Error(`chpasswd: ${r.out.trim()}`);
  // pam_shells (Debian's /etc/pam.d/vsftpd) wants the login shell listed in /etc/shells.
  const shells = existsSync("/etc/shells") ? readFileSync("/etc/shells", "utf8") : "";
  if (!shells.split("\n").includes("/bin/sh")) writeFileSync("/etc/shells", `${shells.trimEnd()}\n/bin/sh\n`);
}

export function chownTree(path: string, user: string): void {
  sh(["chown", "-R", `${user}:`, path]);
}

/** A self-signed certificate for the FTPS row. */
export function makeCert(dir: string): { cert: string; key: string } | undefined {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  if (existsSync(cert) && existsSync(key)) return { cert, key };
  const r = sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=127.0.0.1"]);
  return r.code === 0 ? { cert, key } : undefined;
}

/** Resolves once the server answers with a 220 greeting, or rejects when it dies or stalls. */
async function waitReady(proc: Subprocess, port: number, timeoutMs: number, log: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  while (performance.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`exited (${proc.exitCode ?? proc.signalCode}): ${tail(log)}`);
    }
    try {
      const c = await FtpLite.connect("127.0.0.1", port, 2_000);
      await c.quit();
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    await Bun.sleep(100);
  }
  throw new Error(`no 220 on port ${port} after ${timeoutMs} ms (${last}): ${tail(log)}`);
}

function tail(log: string): string {
  try {
    return readFileSync(log, "utf8").trim().split("\n").slice(-3).join(" | ").slice(0, 400);
  } catch {
    return "";
  }
}

/** Whether nothing listens on 127.0.0.1:`port` now. */
function portFree(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

export async function start(name: string, cmd: string[], port: number, log: string, timeoutMs = 15_000): Promise<RunningServer> {
  // Another server left on the port answered the readiness probe in the new one's place, and every
  // row of that server then measured the stranger (its logins refused) instead of failing here.
  if (!portFree(port)) throw new Error(`port ${port} is already in use by a process the bench did not start: stop it, or move the bench's ports with --port-base`);
  const proc = spawnServer(cmd, log);
  const s: RunningServer = { name, port, pid: proc.pid, proc, log };
  try {
    await waitReady(proc, port, timeoutMs, log);
  } catch (e) {
    await stopServer(s);
    throw e;
  }
  return s;
}

export interface StartOptions {
  acct: Account;
  port: number;
  pasv: [number, number];
  work: string;
  tls?: { cert: string; key: string };
  /** More `ftpkit serve` flags (the operations rows: --metrics, --hook; the workers rows: --workers 2 --state …). */
  extraArgs?: string[];
}

export async function startVsftpd(o: StartOptions): Promise<RunningServer> {
  const empty = join(o.work, "vsftpd-empty");
  mkdirSync(empty, { recursive: true });
  const log = join(o.work, `vsftpd-${o.port}.log`);
  const conf = readFileSync(join(BENCH_DIR, "vsftpd.conf.template"), "utf8")
    .replaceAll("@PORT@", String(o.port))
    .replaceAll("@HOME@", o.acct.home)
    .replaceAll("@EMPTY@", empty)
    .replaceAll("@PASV_LO@", String(o.pasv[0]))
    .replaceAll("@PASV_HI@", String(o.pasv[1]))
    .replaceAll("@LOG@", log)
    .replaceAll("@SSL@", o.tls ? "YES" : "NO")
    .replaceAll("@CERT@", o.tls?.cert ?? "/dev/null")
    .replaceAll("@KEY@", o.tls?.key ?? "/dev/null");
  const confPath = join(o.work, `vsftpd-${o.port}.conf`);
  // vsftpd refuses a config file that is not owned by root or is writable by others.
  writeFileSync(confPath, conf, { mode: 0o600 });
  return start("vsftpd", ["vsftpd", confPath], o.port, log);
}

export async function startPyftpdlib(o: StartOptions): Promise<RunningServer> {
  const log = join(o.work, `pyftpdlib-${o.port}.log`);
  const cmd = [SYSTEM_PYTHON, join(BENCH_DIR, "pyftpd.py"), "127.0.0.1", String(o.port), o.acct.user, o.acct.pass, o.acct.home, String(o.pasv[0]), String(o.pasv[1])];
  if (o.tls) cmd.push(o.tls.cert, o.tls.key);
  return start(o.tls ? "pyftpdlib-tls" : "pyftpdlib", cmd, o.port, log);
}

/** ftpkit through its own CLI: a users file made with `user add`, then `serve`. */
export async function startFtpkit(o: StartOptions): Promise<RunningServer> {
  const cli = join(REPO_DIR, "cli", "ftpkit.ts");
  const help = sh([process.execPath, cli, "serve", "--help"]);
  if (help.code !== 0 || !/--port/.test(help.out)) throw new Error(`\`ftpkit serve --help\` failed: ${help.out.trim().split("\n").slice(-1)[0] ?? ""}`);
  const users = join(o.work, `ftpkit-users-${o.port}.ini`);
  sh(["rm", "-f", users]);
  const add = sh([process.execPath, cli, "user", "add", o.acct.user, "--users", users, "--home", o.acct.home, "--password-stdin"], `${o.acct.pass}\n`);
  if (add.code !== 0) throw new Error(`\`ftpkit user add\` failed: ${add.out.trim().split("\n").slice(-1)[0] ?? ""}`);
  const log = join(o.work, `ftpkit-${o.port}.log`);
  const cmd = [process.execPath, cli, "serve", "--users", users, "--port", String(o.port), "--host", "127.0.0.1", "--pasv-ports", `${o.pasv[0]}-${o.pasv[1]}`, "--max-connections", "5000", "--max-per-ip", "5000", "--idle-timeout", "600"];
  // FTPS when the server offers certificate flags (the flag names are probed, not assumed).
  if (o.tls) {
    const certFlag = ["--tls-cert", "--cert"].find((f) => help.out.includes(f));
    const keyFlag = ["--tls-key", "--key"].find((f) => help.out.includes(f));
    if (certFlag && keyFlag) cmd.push(certFlag, o.tls.cert, keyFlag, o.tls.key);
  }
  cmd.push(...(o.extraArgs ?? []));
  const workers = o.extraArgs?.includes("--workers") ?? false;
  return start(workers ? "ftpkit-workers" : "ftpkit", cmd, o.port, log, workers ? 30_000 : undefined);
}

/** A redis-server without persistence for ftpkit --workers (stopped by PID like the FTP servers). */
export async function startRedis(port: number, work: string): Promise<RunningServer> {
  const log = join(work, `redis-${port}.log`);
  const proc = spawnServer(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], log);
  const s: RunningServer = { name: "redis", port, pid: proc.pid, proc, log };
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      const c = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      c.end();
      return s;
    } catch {
      if (performance.now() > deadline || proc.exitCode !== null) {
        await stopServer(s);
        throw new Error(`redis-server did not start: ${tail(log)}`);
      }
      await Bun.sleep(100);
    }
  }
}

export async function startRaw(file: string, port: number, work: string): Promise<{ pid: number; proc: Subprocess; stop(): Promise<void> }> {
  const log = join(work, "raw.log");
  const proc = spawnServer([process.execPath, join(BENCH_DIR, "raw.ts"), file, String(port)], log);
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      // Any successful connect proves it listens; the sender then writes into a socket we close.
      const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      s.close();
      break;
    } catch {
      if (performance.now() > deadline || proc.exitCode !== null) throw new Error(`raw sender did not start: ${tail(log)}`);
      await Bun.sleep(100);
    }
  }
  const s: RunningServer = { name: "raw", port, pid: proc.pid, proc, log };
  return { pid: proc.pid, proc, stop: () => stopServer(s) };
}

/** Every descendant of `pid`, itself included (from /proc/<n>/stat parent links). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      /* the process ended meanwhile */
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** PSS in KiB summed over the process tree (shared pages counted once across it). */
export function treePssKiB(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, "utf8"));
      if (m) total += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return total;
}

/**
 * CPU time (ms) the process itself used so far (utime + stime, without reaped children): unlike
 * throughput it hardly moves with the machine's load, so small overheads show through the noise.
 */
export function selfCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ = 100 on Linux
  } catch {
    return NaN;
  }
}

/**
 * CPU time (ms) of the process and of its children it already reaped (utime + stime + cutime + cstime):
 * a forking server's finished sessions included (vsftpd reaps each session process when it ends).
 */
export function cpuMsWithReaped(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / 100; // USER_HZ = 100
  } catch {
    return NaN;
  }
}

export function alive(s: RunningServer): boolean {
  return s.proc.exitCode === null && s.proc.signalCode === null;
}

function signalTree(pids: number[], pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* the group is gone */
  }
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

/** TERM the server's process group and every descendant by PID, then KILL what is left. */
export async function stopServer(s: RunningServer): Promise<void> {
  const pids = processTree(s.pid);
  signalTree(pids, s.pid, "SIGTERM");
  const deadline = performance.now() + 3_000;
  while (performance.now() < deadline && pids.some(pidAlive)) await Bun.sleep(50);
  const left = pids.filter(pidAlive);
  if (left.length > 0) signalTree(left, s.pid, "SIGKILL");
  await Promise.race([s.proc.exited, Bun.sleep(2_000)]);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0: look at its state.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
