// ProFTPD as a bench peer (and the client tests' ProFTPD binary): Debian's proftpd-core unpacked
// into /opt/proftpd, since installing it would remove vsftpd, and started as an admin would run it.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sh, start, type RunningServer, type StartOptions } from "./servers.ts";

/** Debian's proftpd-core installed, or unpacked (it conflicts with vsftpd) under /opt/proftpd. */
export function proftpdBinary(): { bin: string; modules: string; libs?: string } | null {
  if (existsSync("/usr/sbin/proftpd")) return { bin: "/usr/sbin/proftpd", modules: "/usr/lib/proftpd" };
  if (existsSync("/opt/proftpd/usr/sbin/proftpd")) {
    return { bin: "/opt/proftpd/usr/sbin/proftpd", modules: "/opt/proftpd/usr/lib/proftpd", libs: "/opt/proftpd/usr/lib/x86_64-linux-gnu" };
  }
  return null;
}

/**
 * ProFTPD for the bench, as .ci/run gets it: Debian's proftpd-core (and proftpd-mod-crypto, its
 * mod_tls) unpacked into /opt/proftpd with the libraries it needs, since installing the package
 * would remove vsftpd (both are "ftp-server"). Returns a note, or null when nothing was needed.
 */
export function ensureProftpd(): string | null {
  let note: string | null = null;
  if (!proftpdBinary()) {
    const r = sh(["sh", "-c", 'd="$(mktemp -d)" && cd "$d" && apt-get download proftpd-core libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3 libhashkit2 && for f in ./*.deb; do dpkg -x "$f" /opt/proftpd; done; s=$?; rm -rf "$d"; exit $s']);
    note = r.code === 0 ? "unpacked proftpd-core into /opt/proftpd" : `proftpd not available: ${r.out.trim().split("\n").slice(-1)[0] ?? ""}`;
  }
  const found = proftpdBinary();
  if (found && !existsSync(join(found.modules, "mod_tls.so")) && found.libs) {
    const r = sh(["sh", "-c", 'd="$(mktemp -d)" && cd "$d" && apt-get download proftpd-mod-crypto && dpkg -x ./*.deb /opt/proftpd; s=$?; rm -rf "$d"; exit $s']);
    if (r.code !== 0) note = `${note ? `${note}; ` : ""}proftpd-mod-crypto not available: ProFTPD's FTPS row is n/a`;
  }
  return note;
}

/**
 * ProFTPD 1.3.8 in the shape an admin would run it for speed, as vsftpd here: the account a virtual
 * user (AuthUserFile) with the bench user's uid and home, chrooted (DefaultRoot ~, as vsftpd's
 * chroot_local_user), no reverse DNS or ident lookups, no mod_delay (it pads every login to hide
 * timing), sendfile on (its default); mod_digest's HASH, as a ProFTPD that verifies offers it, and
 * mod_tls with explicit FTPS optional and no session reuse required (vsftpd's require_ssl_reuse=NO).
 */
export async function startProftpd(o: StartOptions): Promise<RunningServer> {
  const found = proftpdBinary();
  if (!found) throw new Error("proftpd is not installed (Debian's proftpd-core, unpacked into /opt/proftpd)");
  const dir = join(o.work, `proftpd-${o.port}`);
  mkdirSync(dir, { recursive: true });
  const ids = sh(["id", "-u", o.acct.user]).out.trim();
  const gid = sh(["id", "-g", o.acct.user]).out.trim();
  if (!/^\d+$/.test(ids) || !/^\d+$/.test(gid)) throw new Error(`no system user ${o.acct.user}`);
  const hash = sh(["openssl", "passwd", "-6", "-stdin"], `${o.acct.pass}\n`).out.trim();
  writeFileSync(join(dir, "passwd"), `${o.acct.user}:${hash}:${ids}:${gid}::${o.acct.home}:/bin/sh\n`, { mode: 0o600 });
  writeFileSync(join(dir, "group"), `${o.acct.user}:x:${gid}:\n`, { mode: 0o600 });
  const log = join(o.work, `proftpd-${o.port}.log`);
  const tls = o.tls && existsSync(join(found.modules, "mod_tls.so")) ? o.tls : undefined;
  const conf = proftpdConf(o.port, dir, found.modules, [
    'ServerName "ftpkit bench"',
    `SystemLog ${dir}/system.log`,
    "UseReverseDNS off",
    "<IfModule mod_ident.c>",
    "  IdentLookups off",
    "</IfModule>",
    "<IfModule mod_delay.c>",
    "  DelayEngine off",
    "</IfModule>",
    "MaxInstances 6000",
    "MaxClients none",
    "MaxClientsPerHost none",
    "TimeoutIdle 600",
    "TimeoutNoTransfer 600",
    "TimeoutStalled 600",
    `PassivePorts ${o.pasv[0]} ${o.pasv[1]}`,
    ...(tls
      ? ["LoadModule mod_tls.c", "TLSEngine on", "TLSRequired off", "TLSProtocol TLSv1.2 TLSv1.3", `TLSRSACertificateFile ${tls.cert}`, `TLSRSACertificateKeyFile ${tls.key}`, "TLSOptions NoSessionReuseRequired"]
      : []),
    "DefaultRoot ~",
    "Umask 022",
  ]);
  const confPath = join(o.work, `proftpd-${o.port}.conf`);
  writeFileSync(confPath, conf + "\n", { mode: 0o600 });
  const cmd = [found.bin, "-n", "-q", "-c", confPath];
  return start(tls ? "proftpd-tls" : "proftpd", found.libs ? ["env", `LD_LIBRARY_PATH=${found.libs}`, ...cmd] : cmd, o.port, log);
}

/**
 * A standalone ProFTPD on 127.0.0.1:`port` with its files in `dir` (pid, scoreboard; `passwd` and
 * `group` of its virtual users, AuthUserFile), mod_digest's HASH on and overwrites allowed; `extra`
 * lines add what a caller wants (the bench's speed settings, the tests' TLS or language).
 */
export function proftpdConf(port: number, dir: string, modules: string, extra: string[]): string {
  return [
    "ServerType standalone",
    `Port ${port}`,
    "DefaultAddress 127.0.0.1",
    "SocketBindTight on",
    "UseIPv6 off",
    "User nobody",
    "Group nogroup",
    `PidFile ${dir}/proftpd.pid`,
    `ScoreboardFile ${dir}/scoreboard`,
    "WtmpLog off",
    "TransferLog none",
    `ModulePath ${modules}`,
    "LoadModule mod_digest.c",
    "DigestEngine on",
    "AuthOrder mod_auth_file.c",
    `AuthUserFile ${dir}/passwd`,
    `AuthGroupFile ${dir}/group`,
    "RequireValidShell off",
    ...extra,
    "<Directory />",
    "  AllowOverwrite on",
    "</Directory>",
  ].join("\n");
}

/** ProFTPD's version line ("1.3.8b"), or "?" */
export function proftpdVersion(): string {
  const found = proftpdBinary();
  if (!found) return "?";
  const p = Bun.spawnSync([found.bin, "-v"], { env: { ...process.env, ...(found.libs ? { LD_LIBRARY_PATH: found.libs } : {}) }, stdout: "pipe", stderr: "pipe" });
  return /Version\s+(\S+)/.exec(p.stdout.toString() + p.stderr.toString())?.[1] ?? "?";
}
