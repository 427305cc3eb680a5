// ProFTPD (with mod_digest) and vsftpd as test peers for the client. Neither listens on port 0, so a
// free port is found first; both run in the foreground and are killed by PID. Users are NOT chrooted:
// the login directory is a real path (not "/"), as on most servers the client meets.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureSystemUser } from "../../bench/servers.ts";
import { proftpdBinary, proftpdConf } from "../../bench/proftpd.ts";
import { freePort, killByPid, tempDir } from "./peers.ts";

export { proftpdBinary };

export interface SystemFtpd {
  port: number;
  pid: number;
  /** The login directory of user/password (a real, non-root path). */
  home: string;
  user: string;
  password: string;
  url(path: string): string;
  stop(): Promise<void>;
}

async function waitGreeting(port: number, proc: { exitCode: number | null }, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          data(s, d) {
            resolve(d.toString().startsWith("220"));
            s.end();
          },
          connectError() {
            resolve(false);
          },
          error() {
            resolve(false);
          },
        },
      }).catch(() => resolve(false));
      setTimeout(() => resolve(false), 1000);
    });
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(`server did not greet: ${log()}`);
}

function peer(dir: string, port: number, proc: ReturnType<typeof Bun.spawn>, home: string, user: string, password: string): SystemFtpd {
  return {
    port,
    pid: proc.pid,
    home,
    user,
    password,
    url: (path) => `ftp://${user}:${password}@127.0.0.1:${port}${path.startsWith("/") ? path : `/${path}`}`,
    async stop() {
      await killByPid(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The server once it greets; one that never does is stopped (by PID) and its directory removed. */
async function greeted(server: SystemFtpd, proc: { exitCode: number | null }, log: () => string): Promise<SystemFtpd> {
  try {
    await waitGreeting(server.port, proc, log);
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/**
 * Can ProFTPD answer in French (its NLS catalogs, and the fr_FR.UTF-8 locale its gettext needs;
 * .ci/run generates it)? Tests of the client's ProFTPD fallbacks run against it in French too.
 */
export function proftpdSpeaksFrench(): boolean {
  const found = proftpdBinary();
  if (!found) return false;
  const catalog = join(found.bin, "../../share/locale/fr_FR/LC_MESSAGES/proftpd.mo");
  const locales = Bun.spawnSync(["locale", "-a"]).stdout.toString();
  return existsSync(catalog) && /^fr_FR\.utf-?8$/im.test(locales);
}

/** ProFTPD's mod_tls (Debian's proftpd-mod-crypto, unpacked beside proftpd-core by .ci/run) is there. */
export function proftpdHasTls(): boolean {
  const found = proftpdBinary();
  return found !== null && existsSync(join(found.modules, "mod_tls.so"));
}

/** ProFTPD with `LoadModule mod_digest.c` + `DigestEngine on` (multi-line HASH replies), a virtual user. */
export async function startProftpd(opts: { maxPerIp?: number; lang?: "fr_FR"; tls?: { cert: string; key: string } } = {}): Promise<SystemFtpd> {
  const found = proftpdBinary();
  if (!found) throw new Error("proftpd is not installed");
  const dir = tempDir("ftpkit-proftpd-");
  chmodSync(dir, 0o755);
  const home = join(dir, "home");
  mkdirSync(home);
  chownSync(home, 65534, 65534);
  const port = freePort();
  const hash = Bun.spawnSync(["openssl", "passwd", "-6", "secret"]).stdout.toString().trim();
  writeFileSync(join(dir, "passwd"), `user:${hash}:65534:65534::${home}:/bin/sh\n`, { mode: 0o600 });
  writeFileSync(join(dir, "group"), "nogroup:x:65534:\n", { mode: 0o600 });
  const conf = proftpdConf(port, dir, found.modules, [
    "DelayTable none",
    ...(opts.maxPerIp ? [`MaxClientsPerHost ${opts.maxPerIp}`] : []),
    // mod_tls with TLS required on control and data, and (its default) the data connections made
    // to resume the control connection's TLS session.
    ...(opts.tls
      ? ["LoadModule mod_tls.c", "TLSEngine on", "TLSRequired on", "TLSProtocol TLSv1.2 TLSv1.3", `TLSRSACertificateFile ${opts.tls.cert}`, `TLSRSACertificateKeyFile ${opts.tls.key}`, `TLSLog ${dir}/tls.log`]
      : []),
    // mod_lang (compiled in): replies from its catalogs, e.g. "451 f.bin : ajout/reprise non permis".
    ...(opts.lang ? ["LangEngine on", `LangDefault ${opts.lang}`, `LangPath ${join(found.bin, "../../share/locale")}`] : []),
  ]);
  writeFileSync(join(dir, "proftpd.conf"), conf + "\n");
  let log = "";
  const proc = Bun.spawn([found.bin, "-n", "-q", "-c", join(dir, "proftpd.conf")], {
    env: { ...process.env, ...(found.libs ? { LD_LIBRARY_PATH: found.libs } : {}) },
    stdout: "pipe",
    stderr: "pipe",
  });
  void (async () => {
    for await (const c of proc.stderr) log += new TextDecoder().decode(c);
  })();
  return greeted(peer(dir, port, proc, home, "user", "secret"), proc, () => log);
}

const VSFTPD_USER = "ftpkittest";
const VSFTPD_PASS = "ftpkit-test-pw";

/** vsftpd (bench's configuration, not chrooted) with a system user whose home is a temp directory. */
export async function startVsftpd(): Promise<SystemFtpd> {
  const dir = tempDir("ftpkit-vsftpd-");
  chmodSync(dir, 0o755);
  const home = join(dir, "home");
  mkdirSync(home);
  ensureSystemUser({ user: VSFTPD_USER, pass: VSFTPD_PASS, home });
  Bun.spawnSync(["usermod", "--home", home, VSFTPD_USER]);
  Bun.spawnSync(["chown", "-R", `${VSFTPD_USER}:`, home]);
  const port = freePort();
  const pasv = freePort();
  mkdirSync(join(dir, "empty"));
  const conf = readFileSync(join(import.meta.dir, "../../bench/vsftpd.conf.template"), "utf8")
    .replace("chroot_local_user=YES", "chroot_local_user=NO")
    .replaceAll("@PORT@", String(port))
    .replaceAll("@HOME@", home)
    .replaceAll("@EMPTY@", join(dir, "empty"))
    .replaceAll("@PASV_LO@", String(pasv))
    .replaceAll("@PASV_HI@", String(Math.min(65535, pasv + 50)))
    .replaceAll("@LOG@", join(dir, "vsftpd.log"))
    .replaceAll("@SSL@", "NO")
    .replaceAll("@CERT@", "/dev/null")
    .replaceAll("@KEY@", "/dev/null");
  writeFileSync(join(dir, "vsftpd.conf"), conf, { mode: 0o600 });
  const proc = Bun.spawn(["vsftpd", join(dir, "vsftpd.conf")], { stdout: "ignore", stderr: "pipe" });
  return greeted(peer(dir, port, proc, home, VSFTPD_USER, VSFTPD_PASS), proc, () => (existsSync(join(dir, "vsftpd.log")) ? readFileSync(join(dir, "vsftpd.log"), "utf8") : ""));
}

/** vsftpd needs its binary and root (it logs in a system user through PAM). */
export function vsftpdAvailable(): boolean {
  return existsSync("/usr/sbin/vsftpd") && process.getuid?.() === 0;
}

/** Make files created by the test owned by the server's user (vsftpd and ProFTPD drop root). */
export function chownTo(path: string, user: string): void {
  Bun.spawnSync(["chown", "-R", `${user}:`, path]);
}

/**
 * Debian's pure-ftpd installed, or unpacked under /opt/pure-ftpd (.ci/run: it conflicts with vsftpd,
 * both being "ftp-server"), with its pure-pw; null when absent.
 */
export function pureFtpdBinary(): { bin: string; pw: string; libs?: string } | null {
  if (existsSync("/usr/sbin/pure-ftpd") && existsSync("/usr/bin/pure-pw")) return { bin: "/usr/sbin/pure-ftpd", pw: "/usr/bin/pure-pw" };
  if (existsSync("/opt/pure-ftpd/usr/sbin/pure-ftpd")) {
    return { bin: "/opt/pure-ftpd/usr/sbin/pure-ftpd", pw: "/opt/pure-ftpd/usr/bin/pure-pw", libs: "/opt/pure-ftpd/usr/lib/x86_64-linux-gnu" };
  }
  return null;
}

/** Why Pure-FTPd tests cannot run here, or null when they can (it drops root to its virtual user). */
export function pureFtpdMissing(): string | null {
  if (!pureFtpdBinary()) return "pure-ftpd is not installed (Debian pure-ftpd, unpacked under /opt/pure-ftpd by .ci/run)";
  if (process.getuid?.() !== 0) return "pure-ftpd needs root to switch to its virtual user";
  return null;
}

/**
 * Pure-FTPd in the foreground with one virtual user (a puredb made by pure-pw, uid nobody): not
 * chrooted unless `chroot` (its home then shows as "/"). `maxPerIp`: -C, refused with 421 beyond it.
 * `tls`: a PEM file holding key and certificate, -Y 1 (TLS allowed), -Y 3 with `requireTls` (control
 * and data). `listLimit`: -L. `quotaBytes`: the user's quota (pure-pw -N), refused with 552. Each session is a child process:
 * stop() kills the children by PID too.
 */
export async function startPureFtpd(opts: { chroot?: boolean; maxPerIp?: number; tls?: string; requireTls?: boolean; listLimit?: number; quotaBytes?: number } = {}): Promise<SystemFtpd> {
  const found = pureFtpdBinary();
  if (!found) throw new Error("pure-ftpd is not installed");
  const dir = tempDir("ftpkit-pureftpd-");
  chmodSync(dir, 0o755);
  const home = join(dir, "home");
  mkdirSync(home);
  chownSync(home, 65534, 65534);
  const hash = Bun.spawnSync(["openssl", "passwd", "-6", "secret"]).stdout.toString().trim();
  // pure-pw's format: the "/./" in the home is its chroot mark.
  // Fields after the home: bandwidths, ratios, sessions, quota files, then (the 13th) quota size in bytes.
  const quota = opts.quotaBytes ? String(opts.quotaBytes) : "";
  writeFileSync(join(dir, "pureftpd.passwd"), `user:${hash}:65534:65534::${home}${opts.chroot ? "/./" : ""}:::::::${quota}:::::\n`, { mode: 0o600 });
  const mkdb = Bun.spawnSync([found.pw, "mkdb", join(dir, "pureftpd.pdb"), "-f", join(dir, "pureftpd.passwd")], { env: { ...process.env, ...(found.libs ? { LD_LIBRARY_PATH: found.libs } : {}) } });
  if (mkdb.exitCode !== 0) throw new Error(`pure-pw mkdb failed: ${mkdb.stderr.toString()}`);
  const port = freePort();
  const pasv = freePort();
  const args = [found.bin, "-S", `127.0.0.1,${port}`, "-p", `${pasv}:${Math.min(65535, pasv + 50)}`, "-l", `puredb:${join(dir, "pureftpd.pdb")}`, "-E", "-H", "-u", "1"];
  if (opts.maxPerIp) args.push("-C", String(opts.maxPerIp));
  // -L: the most entries one listing sends (10,000 by default, "." and ".." counted), then "226 Output truncated".
  if (opts.listLimit) args.push("-L", `${opts.listLimit}:5`);
  if (opts.tls) args.push("-Y", opts.requireTls ? "3" : "1", "-2", opts.tls);
  let log = "";
  const proc = Bun.spawn(args, { env: { ...process.env, ...(found.libs ? { LD_LIBRARY_PATH: found.libs } : {}) }, stdout: "pipe", stderr: "pipe" });
  void (async () => {
    for await (const c of proc.stderr) log += new TextDecoder().decode(c);
  })();
  const base = peer(dir, port, proc, home, "user", "secret");
  return greeted({
    ...base,
    async stop() {
      const children = Bun.spawnSync(["pgrep", "-P", String(proc.pid)]).stdout.toString().split("\n").filter(Boolean).map(Number);
      for (const pid of children) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone already */
        }
      }
      await base.stop();
    },
  }, proc, () => log);
}
