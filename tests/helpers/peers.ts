// Real peer servers for the client tests (pyftpdlib from Debian), and a runner for the ftpkit CLI.
// Everything listens on 127.0.0.1 and is killed by PID.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TransferOptions } from "../../client/operations.ts";
import { quietTransferOptions } from "../../client/options.ts";
import type { UserSpec } from "./users.ts";

export const REPO = resolve(import.meta.dir, "../..");
export const FTPKIT = join(REPO, "cli/ftpkit.ts");
/** Debian's python has pyftpdlib; the pyenv python3 on PATH does not. */
export const SYSTEM_PYTHON = "/usr/bin/python3";

export interface Peer {
  port: number;
  pid: number;
  root: string;
  user: string;
  password: string;
  /** ftp://user:password@127.0.0.1:port/path (anonymous when `anonymous`). */
  url(path: string, opts?: { anonymous?: boolean; password?: boolean }): string;
  /** Transfers the server logged so far: one entry per finished or aborted transfer. */
  transfers(): { verb: string; path: string; bytes: number; completed: boolean }[];
  stop(): Promise<void>;
}

export function tempDir(prefix = "ftpkit-client-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The test certificate (CN/SAN localhost and 127.0.0.1) and its key: fixtures/tls/README.md. */
export const TLS_CERT = join(REPO, "fixtures/tls/cert.pem");
export const TLS_KEY = join(REPO, "fixtures/tls/key.pem");
// Private keys as a server's should be, readable by their owner only: git checks them out 0644, and
// the server warns of a key every local user can read ("tls key readable by everyone").
for (const name of readdirSync(join(REPO, "fixtures/tls"))) if (name.endsWith("key.pem")) chmodSync(join(REPO, "fixtures/tls", name), 0o600);

/**
 * Start pyftpdlib on port 0 serving `root` (user "user"/"secret" with full rights, anonymous
 * read-only). `noRest`: REST answered 500 and left out of FEAT. `tls`: explicit FTPS (TLS_FTPHandler with TLS_CERT, needs python3-openssl), TLS
 * required on the control and the data connections; `breakDataTls`: that many data connections
 * fail their TLS handshake (and get pyftpdlib's 522) before they work again.
 */
export async function startPyftpd(
  opts: { root?: string; rate?: number; noMlsd?: boolean; noRest?: boolean; noSize?: boolean; user?: string; password?: string; tls?: boolean; breakDataTls?: number; cutDataTls?: number } = {},
): Promise<Peer> {
  const root = opts.root ?? tempDir("ftpkit-pyftpd-");
  const user = opts.user ?? "user";
  const password = opts.password ?? "secret";
  const cmd = [SYSTEM_PYTHON, join(import.meta.dir, "pyftpd.py"), root, "--user", user, "--password", password];
  if (opts.rate) cmd.push("--rate", String(opts.rate));
  if (opts.noMlsd) cmd.push("--no-mlsd");
  if (opts.noRest) cmd.push("--no-rest");
  if (opts.tls) cmd.push("--tls", TLS_CERT, "--tls-key", TLS_KEY);
  if (opts.breakDataTls) cmd.push("--break-data-tls", String(opts.breakDataTls));
  if (opts.noSize) cmd.push("--no-size");
  if (opts.cutDataTls !== undefined) cmd.push("--cut-data-tls", String(opts.cutDataTls));
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  let log = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) log += dec.decode(chunk, { stream: true });
  })();
  const reader = proc.stdout.getReader();
  let out = "";
  const deadline = Date.now() + 10_000;
  while (!out.includes("\n")) {
    if (Date.now() > deadline) {
      proc.kill(9);
      throw new Error(`pyftpdlib did not start: ${log}`);
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`pyftpdlib exited: ${log}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const port = Number(out.trim());
  return {
    port,
    pid: proc.pid,
    root,
    user,
    password,
    url(path, o = {}) {
      const cred = o.anonymous ? "" : o.password === false ? `${user}@` : `${user}:${encodeURIComponent(password)}@`;
      return `ftp://${cred}127.0.0.1:${port}${path.startsWith("/") ? path : `/${path}`}`;
    },
    transfers() {
      return log
        .split("\n")
        .filter((l) => l.startsWith("XFER "))
        .map((l) => {
          const parts = l.split(" ");
          return { verb: parts[1]!, path: parts.slice(2, -2).join(" "), bytes: Number(parts.at(-2)), completed: parts.at(-1) === "1" };
        });
    },
    async stop() {
      await killByPid(proc);
    },
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  /** stdout as bytes (a file streamed with "-"). */
  out: Uint8Array;
  stderr: string;
}

/** Run `bun cli/ftpkit.ts ARGS` to completion (killed after `timeoutMs`). */
export async function runFtpkit(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number; stdin?: Uint8Array } = { cwd: REPO },
): Promise<RunResult> {
  const proc = Bun.spawn(["bun", FTPKIT, ...args], {
    cwd: opts.cwd,
    env: { ...cleanEnv(), ...opts.env, NO_COLOR: "1" },
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(9), opts.timeoutMs ?? 30_000);
  const [out, stderr, code] = await Promise.all([new Response(proc.stdout).bytes(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout: new TextDecoder().decode(out), out, stderr };
}

/** Spawn the CLI without waiting (for kill -9 tests). */
export function spawnFtpkit(args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  return Bun.spawn(["bun", FTPKIT, ...args], {
    cwd: opts.cwd,
    env: { ...cleanEnv(), ...opts.env, NO_COLOR: "1" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** The environment without FTPKIT_PASSWORD (so a test's credentials come only from where it says). */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "FTPKIT_PASSWORD") env[k] = v;
  return env;
}

/** A file of `size` random bytes. */
export function randomFile(path: string, size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) crypto.getRandomValues(data.subarray(off, Math.min(size, off + 65536)));
  writeFileSync(path, data);
  return data;
}

/** CRC-32 (zlib's polynomial) by the textbook table, independent of the Bun.hash.crc32 under test. */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Uint8Array): string {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return ((c ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0");
}

export function digest(data: Uint8Array | string, algo: "md5" | "sha256" | "crc32" = "sha256"): string {
  if (algo === "crc32") return crc32(typeof data === "string" ? new TextEncoder().encode(data) : data);
  return new Bun.CryptoHasher(algo).update(data).digest("hex");
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Wait until `check()` is true (polling), or throw after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

export interface FtpkitPeer {
  port: number;
  pid: number;
  /** Home of user "user" (password "secret"). */
  home: string;
  dir: string;
  url(path: string, opts?: { password?: boolean }): string;
  /** What the server printed so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Start `ftpkit serve` as a separate process (so a client can be killed independently) on
 * 127.0.0.1, port 0, with user "user"/"secret" and an optional --max-rate.
 */
export async function startFtpkitServer(opts: { maxRate?: string; args?: string[]; quota?: number; dropBox?: boolean } = {}): Promise<FtpkitPeer> {
  const { makeUsersFile } = await import("./users.ts");
  const dir = tempDir("ftpkit-serve-");
  const home = join(dir, "home", "user");
  const users: UserSpec[] = [{ name: "user", password: "secret", home, ...(opts.quota ? { quota: opts.quota } : {}) }];
  // As in the demo: anonymous reads its home and may only upload into /incoming (user's incoming/).
  if (opts.dropBox) {
    mkdirSync(join(home, "incoming"), { recursive: true });
    users.push({ name: "anonymous", home: join(dir, "home", "anon"), perms: ["read"], mounts: [{ vpath: "/incoming", dir: join(home, "incoming"), perms: ["write"], quota: 0 }] });
  }
  const usersFile = await makeUsersFile(dir, users);
  const args = ["bun", FTPKIT, "serve", "--users", usersFile, "--host", "127.0.0.1", "--port", "0"];
  if (opts.maxRate) args.push("--max-rate", opts.maxRate);
  if (opts.args) args.push(...opts.args);
  const env = { ...cleanEnv(), NO_COLOR: "1", NODE_ENV: "production" };
  delete (env as Record<string, string | undefined>).TEST;
  const proc = Bun.spawn(args, { cwd: dir, env, stdout: "pipe", stderr: "pipe" });
  let out = "";
  const dec = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
  };
  void collect(proc.stdout);
  void collect(proc.stderr);
  const deadline = Date.now() + 15_000;
  let m: RegExpExecArray | null = null;
  while (!(m = /listening on ftp:\/\/127\.0\.0\.1:(\d+)/.exec(out))) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill(9);
      throw new Error(`ftpkit serve did not start: ${out}`);
    }
    await Bun.sleep(20);
  }
  const port = Number(m[1]);
  return {
    port,
    pid: proc.pid,
    home,
    dir,
    url(path, o = {}) {
      const cred = o.password === false ? "user@" : "user:secret@";
      return `ftp://${cred}127.0.0.1:${port}${path.startsWith("/") ? path : `/${path}`}`;
    },
    log: () => out,
    async stop() {
      await killByPid(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Options for the client's transfer functions in tests: verified, quiet, no retries, journal in `work`. */
export function transferOptions(work: string, over: Partial<TransferOptions> = {}): TransferOptions {
  return quietTransferOptions(join(work, ".journal"), { backoffMs: 10, ...over });
}

/**
 * A port nobody listens on right now (the server binds it a moment later). It is taken below the
 * kernel's ephemeral range: a port from port 0 is also what the kernel hands the next outgoing
 * connection of any process, which then holds it when the server binds ("already in use").
 */
export function freePort(): number {
  const range = /^(\d+)/.exec(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8"));
  const ephemeralLow = range ? Number(range[1]) : 32768;
  for (let attempt = 0; attempt < 50 && ephemeralLow > 12000; attempt++) {
    const port = 10000 + Math.floor(Math.random() * (ephemeralLow - 12000));
    try {
      Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
      return port;
    } catch {
      /* taken: try another */
    }
  }
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Kill a process we started by PID (SIGKILL; already gone is fine) and wait until it has exited. */
export async function killByPid(proc: { pid: number; exited: Promise<number> }): Promise<void> {
  try {
    process.kill(proc.pid, "SIGKILL");
  } catch {
    /* already gone */
  }
  await proc.exited;
}
