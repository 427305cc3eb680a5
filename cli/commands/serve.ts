// ftpkit serve: run the FTP server (embedded default: ./users.ini and the homes beside it).
import { defineCommand } from "citty";
import { consola } from "consola";
import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { checkArgs, CliError, repeatedFlag, usersArgs, usersFilePath } from "../args.ts";
import { parseRate } from "../../protocol/size.ts";
import { parseCidrList } from "../../protocol/cidr.ts";
import { checkStateUrl } from "../../server/state/url.ts";
import type { CreateServerOptions } from "../../server/index.ts";
import { FDS_PER_SESSION } from "../../server/fd-budget.ts";
import { opsArgs, opsOptionsFrom } from "../ops-args.ts";
import { checkRoot, inlineUsers, parseUserFlag } from "../inline-users.ts";
import type { InlineUser } from "../../server/auth/memory-store.ts";
import { runWorkers, SECRET_ARGS_ENV, STATE_ENV, WORKER_ENV, WORKER_STATE_ENV, workerCount, workerSecretArgs } from "./serve-workers.ts";
import { reexecTuned, SERVER_TUNING } from "../tuning.ts";
import { listenPermissionHint } from "../../server/privileged-port.ts";

function positiveInt(value: string | undefined, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `between ${min} and ${max}`;
    throw new CliError(`--${flag} must be a whole number ${range}, got "${value}"`);
  }
  return Number(value);
}

/** A banner given as text, or @FILE to read it from a file. */
function banner(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!value.startsWith("@")) return value;
  try {
    return readFileSync(value.slice(1), "utf8").replace(/\s+$/, "");
  } catch {
    throw new CliError(`--${flag}: cannot read ${value.slice(1)}`);
  }
}

function portRange(value: string | undefined): readonly [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(value);
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2]);
  if (!m || lo < 1024 || hi > 65535 || lo > hi) throw new CliError(`--pasv-ports must look like 50000-50100 (1024-65535), got "${value}"`);
  return [lo, hi];
}

function rate(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseRate(value);
  } catch (err) {
    throw new CliError(`--${flag}: ${(err as Error).message}`);
  }
}

function s3Endpoint(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {}
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw new CliError(`--s3-endpoint must be an http(s):// URL, got "${value}"`);
  return value;
}

export const serveArgs = {
  ...usersArgs,
  root: { type: "string", description: "Serve this directory with the --user/--anonymous accounts below (no users file)", valueHint: "DIR" },
  user: { type: "string", description: "With --root: an account NAME:PASSWORD (repeatable; kept in memory only)", valueHint: "NAME:PASS" },
  anonymous: { type: "boolean", description: "With --root: also let anonymous log in (read-only)" },
  write: { type: "boolean", description: "With --root: --user accounts may upload, rename and delete (default read-only)" },
  host: { type: "string", description: "Address to listen on (default 0.0.0.0; :: for IPv6 too)", valueHint: "ADDR" },
  port: { type: "string", description: "Control port (default 2121)", valueHint: "N" },
  "pasv-ports": { type: "string", description: "Passive port range, e.g. 50000-50100", valueHint: "LO-HI" },
  "pasv-address": { type: "string", description: "Address announced in PASV replies (behind NAT)", valueHint: "ADDR" },
  "max-connections": { type: "string", description: "Maximum simultaneous sessions (default 500)", valueHint: "N" },
  "max-per-ip": { type: "string", description: "Maximum sessions per client address (default 50)", valueHint: "N" },
  "idle-timeout": { type: "string", description: "Seconds before an idle session is closed (default 120)", valueHint: "SECONDS" },
  "login-timeout": { type: "string", description: "Seconds a connection has to log in (default 30)", valueHint: "SECONDS" },
  "stall-timeout": { type: "string", description: "Seconds a transfer may move no byte before it is aborted (default 300, as vsftpd)", valueHint: "SECONDS" },
  "max-login-attempts": { type: "string", description: "Failed logins per connection before it is closed (default 3)", valueHint: "N" },
  welcome: { type: "string", description: "Welcome banner (TEXT or @FILE)", valueHint: "TEXT|@FILE" },
  goodbye: { type: "string", description: "Goodbye message (TEXT or @FILE)", valueHint: "TEXT|@FILE" },
  "log-format": { type: "string", description: "text or json", valueHint: "text|json" },
  "max-rate": { type: "string", description: "Bandwidth limit per session, e.g. 2MB", valueHint: "RATE" },
  "max-user-rate": { type: "string", description: "Bandwidth limit shared by all sessions of a user", valueHint: "RATE" },
  "proxy-protocol": {
    type: "boolean",
    description: "Expect a PROXY protocol v1/v2 header (HAProxy send-proxy-v2) on the control port; needs --proxy-from",
  },
  "proxy-from": {
    type: "string",
    description: "Balancer addresses allowed to send the PROXY header; connections from elsewhere are refused",
    valueHint: "CIDR[,CIDR…]",
  },
  state: {
    type: "string",
    // The hint stays short: help pads every flag to the longest one.
    description: "Share connection caps, quotas, login back-off and user rates with other ftpkit processes/hosts through Redis or Valkey: redis://[:PASSWORD@]HOST:PORT[/DB] ($FTPKIT_STATE instead keeps a password out of ps)",
    valueHint: "redis://…",
  },
  "state-ttl": {
    type: "string",
    description: "With --state: seconds after which a silent (crashed) node's connection slots and quota leases are dropped (default 15)",
    valueHint: "SECONDS",
  },
  workers: {
    type: "string",
    description: "Processes sharing the control port (auto = one per core; default 1); they share limits and quotas through --state, or else through the primary process",
    valueHint: "N|auto",
  },
  demo: { type: "boolean", description: "Serve a ready-made demo (./ftpkit-demo, login demo/demo) on 127.0.0.1" },
  "shutdown-grace": { type: "string", description: "Seconds running transfers may finish on SIGINT/SIGTERM (default 10)", valueHint: "SECONDS" },
  "tls-cert": { type: "string", description: "PEM certificate: enables FTPS (AUTH TLS); reloaded when the file changes", valueHint: "FILE" },
  "tls-key": { type: "string", description: "PEM private key for --tls-cert", valueHint: "FILE" },
  "implicit-tls-port": { type: "string", description: "Also accept implicit TLS (ftps://) on this port", valueHint: "N" },
  "require-tls": { type: "boolean", description: "Refuse logins and data transfers that are not encrypted" },
  "s3-endpoint": { type: "string", description: "S3 endpoint for s3:// homes and mounts (default: S3_ENDPOINT or AWS_ENDPOINT_URL)", valueHint: "URL" },
  "tls-session-reuse": { type: "string", description: "PROT P data connections: required or preferred (default) TLS session reuse", valueHint: "required|preferred" },
  "tls-upload-eof": {
    type: "string",
    description: "PROT P uploads: strict (default) completes one only when the client ends it with TLS close_notify; lenient also on a bare TCP FIN, as vsftpd by default (for clients that never send close_notify)",
    valueHint: "strict|lenient",
  },
  ...opsArgs,
} as const;

/** Turn parsed flags into server options (shared with FTPS flags added by serve-tls). */
export function serverOptionsFrom(args: Record<string, unknown>): CreateServerOptions {
  const s = (k: string) => args[k] as string | undefined;
  const logFormat = s("log-format");
  if (logFormat !== undefined && logFormat !== "text" && logFormat !== "json") throw new CliError(`--log-format must be text or json, got "${logFormat}"`);
  const opts: CreateServerOptions = {
    usersFile: usersFilePath(s("users")),
    host: s("host"),
    port: positiveInt(s("port"), "port", 0, 65535),
    pasvPorts: portRange(s("pasv-ports")),
    pasvAddress: pasvAddress(s("pasv-address")),
    maxConnections: positiveInt(s("max-connections"), "max-connections", 1),
    maxPerIp: positiveInt(s("max-per-ip"), "max-per-ip", 1),
    idleTimeoutSec: positiveInt(s("idle-timeout"), "idle-timeout", 1),
    loginTimeoutSec: positiveInt(s("login-timeout"), "login-timeout", 1),
    stallTimeoutMs: seconds(positiveInt(s("stall-timeout"), "stall-timeout", 1, 86400)),
    maxLoginAttempts: positiveInt(s("max-login-attempts"), "max-login-attempts", 1),
    welcome: banner(s("welcome"), "welcome"),
    goodbye: banner(s("goodbye"), "goodbye"),
    logFormat: logFormat as "text" | "json" | undefined,
    maxRate: rate(s("max-rate"), "max-rate"),
    maxUserRate: rate(s("max-user-rate"), "max-user-rate"),
    shutdownGraceSec: positiveInt(s("shutdown-grace"), "shutdown-grace", 0),
    s3Endpoint: s3Endpoint(s("s3-endpoint")),
    proxyFrom: proxyFrom(args),
    state: stateUrl(s("state") ?? stateFromEnv()),
    stateTtlMs: seconds(positiveInt(s("state-ttl"), "state-ttl", 1, 3600)),
  };
  for (const k of Object.keys(opts) as (keyof CreateServerOptions)[]) if (opts[k] === undefined) delete opts[k];
  const tls = tlsOptionsFrom(args);
  if (tls) opts.tls = tls;
  return opts;
}

const seconds = (n: number | undefined) => (n === undefined ? undefined : n * 1000);

/** $FTPKIT_STATE (taken out of the environment once the server runs: see run). */
function stateFromEnv(): string | undefined {
  const value = process.env[STATE_ENV];
  return value === "" ? undefined : value;
}

function stateUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return checkStateUrl(value);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** --proxy-protocol and --proxy-from go together; the list is checked here for a clear error. */
function proxyFrom(args: Record<string, unknown>): string | undefined {
  const from = args["proxy-from"] as string | undefined;
  if (!args["proxy-protocol"]) {
    if (from !== undefined) throw new CliError("--proxy-from needs --proxy-protocol");
    return undefined;
  }
  if (from === undefined) throw new CliError("--proxy-protocol needs --proxy-from CIDR[,CIDR…] (the load balancer's addresses)");
  let blocks;
  try {
    blocks = parseCidrList(from);
  } catch (err) {
    throw new CliError(`--proxy-from: ${(err as Error).message}`);
  }
  if (blocks.length === 0) throw new CliError("--proxy-from needs at least one address or CIDR block");
  return from;
}

/** FTPS flags: --tls-cert and --tls-key go together; the others need them. */
function tlsOptionsFrom(args: Record<string, unknown>): CreateServerOptions["tls"] {
  const s = (k: string) => args[k] as string | undefined;
  const certFile = s("tls-cert");
  const keyFile = s("tls-key");
  const reuse = s("tls-session-reuse");
  if (reuse !== undefined && reuse !== "required" && reuse !== "preferred") throw new CliError(`--tls-session-reuse must be required or preferred, got "${reuse}"`);
  const uploadEof = s("tls-upload-eof");
  if (uploadEof !== undefined && uploadEof !== "strict" && uploadEof !== "lenient") throw new CliError(`--tls-upload-eof must be strict or lenient, got "${uploadEof}"`);
  if (!certFile !== !keyFile) throw new CliError("--tls-cert and --tls-key go together");
  if (!certFile || !keyFile) {
    const needs = ["implicit-tls-port", "require-tls", "tls-session-reuse", "tls-upload-eof"].find((k) => args[k] !== undefined && args[k] !== false);
    if (needs) throw new CliError(`--${needs} needs --tls-cert and --tls-key`);
    return undefined;
  }
  return {
    certFile,
    keyFile,
    implicitPort: positiveInt(s("implicit-tls-port"), "implicit-tls-port", 0, 65535),
    requireTls: !!args["require-tls"],
    sessionReuse: reuse as "required" | "preferred" | undefined,
    uploadEof: uploadEof as "strict" | "lenient" | undefined,
  };
}

/** The address a local script can reach: a wildcard listener is reached on loopback. */
/**
 * Last resort, once the server listens: an exception or a rejection nothing caught is a bug, but it
 * must not end every session with it (Bun's default exits the process). Logged at error level with
 * its stack, and the server goes on, as pyftpdlib does with a handler's exception; vsftpd and
 * ProFTPD lose only the one session's process. Two such crashes were remote (a reset connection on
 * the implicit-FTPS port, memory filled through a data connection), both fixed at their cause.
 */
function keepServingAfterBugs(log: { error(event: string, fields?: Record<string, unknown>): void }): void {
  const report = (kind: string) => (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    log.error("internal error; the server goes on", { kind, error: e.message, stack: (e.stack ?? "").split("\n").slice(1, 6).map((l) => l.trim()).join(" | ") });
  };
  process.on("uncaughtException", report("exception"));
  process.on("unhandledRejection", report("rejection"));
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** --root with --user/--anonymous/--write: accounts in memory instead of a users file. */
function inlineAccounts(args: Record<string, unknown>, rawArgs: string[]): { root: string; users: InlineUser[]; summary: string } | undefined {
  const userFlags = repeatedFlag(rawArgs, "user");
  const root = args.root as string | undefined;
  if (root === undefined) {
    const stray = userFlags.length ? "user" : args.anonymous ? "anonymous" : args.write ? "write" : undefined;
    if (stray) throw new CliError(`--${stray} needs --root DIR (the directory to serve)`);
    return undefined;
  }
  if (args.users !== undefined) throw new CliError("--root and --users cannot be combined: --root serves one directory to the --user accounts, --users reads accounts from a users file");
  if (args.demo) throw new CliError("--root and --demo cannot be combined");
  if (root === "") throw new CliError("--root needs a directory");
  if (!userFlags.length && !args.anonymous) throw new CliError("--root needs at least one --user NAME:PASSWORD, or --anonymous");
  const dir = checkRoot(root);
  const users = inlineUsers(dir, userFlags.map(parseUserFlag), { anonymous: args.anonymous === true, write: args.write === true });
  const names = users.map((u) => (u.name === "anonymous" ? "anonymous (read-only)" : u.name));
  return { root: dir, users, summary: `${names.join(", ")}${args.write ? "; uploads allowed" : "; read-only"}` };
}

/** --pasv-address: PASV replies carry an IPv4 address, so only one will do (checked now, not at the first PASV). */
function pasvAddress(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!isIPv4(text)) throw new CliError(`--pasv-address must be an IPv4 address (PASV replies carry one), got "${text}"`);
  return text;
}

export default defineCommand({
  meta: { name: "serve", description: "Run the FTP server (default: ./users.ini, port 2121)" },
  args: serveArgs,
  async run({ args, rawArgs: given, cmd }) {
    // A --workers worker gets its --user and --hook flags in its environment (kept out of `ps`).
    const rawArgs = [...workerSecretArgs(), ...given];
    // citty ignores unknown flags: `--idle-timout 5` must not start a server with the default.
    checkArgs(rawArgs, cmd.args, args._);
    const options = serverOptionsFrom(args);
    options.ops = opsOptionsFrom(args, rawArgs);
    // Flags are valid: from here on the process runs as the server (see cli/tuning.ts).
    reexecTuned(SERVER_TUNING);
    // Hooks run with the server's environment: the store's password is not theirs to see.
    delete process.env[STATE_ENV];
    delete process.env[SECRET_ARGS_ENV];
    const inline = inlineAccounts(args, rawArgs);
    if (inline) {
      const { MemoryLogins } = await import("../../server/auth/memory-store.ts");
      try {
        options.auth = new MemoryLogins(inline.users, options.failedLoginDelayMs);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
    }
    if (args.demo) {
      // The demo's logins are those of ./ftpkit-demo/users.ini: with another file they would be false.
      if (args.users !== undefined) throw new CliError("--demo serves ./ftpkit-demo/users.ini and cannot be combined with --users");
      const { prepareDemo } = await import("../demo.ts");
      options.usersFile = await prepareDemo("ftpkit-demo");
      options.host ??= "127.0.0.1";
    }
    const workers = workerCount(args.workers as string | undefined);
    const worker = process.env[WORKER_ENV];
    if (workers > 1 && worker === undefined) return runWorkers(workers, rawArgs, options);
    if (worker !== undefined) {
      options.reusePort = true;
      options.worker = Number(worker);
    }
    if (worker !== undefined && process.env[WORKER_STATE_ENV] === "ipc") {
      const { ipcClient } = await import("../../server/state/ipc-client.ts");
      options.state = "ipc:primary";
      options.stateClient = ipcClient;
    }
    const { createServer } = await import("../../server/index.ts");
    // --port 0: the URL is the first stdout line, so log lines of the start-up (a users file not
    // found yet) wait for it instead of coming first.
    const urlFirst = options.port === 0 && options.logFormat !== "json" && worker === undefined;
    const log = urlFirst ? await import("../../server/log.ts") : null;
    const held = log ? log.holdOutput(process.stdout) : null;
    if (log && held) options.logger = log.createLogger("text", false, held);
    let server;
    let address;
    try {
      server = createServer(options);
      address = await server.listen();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "EADDRINUSE") throw new CliError(`port ${options.port ?? 2121} is already in use`);
      if (e.code === "EACCES") throw new CliError(`no permission to listen on port ${options.port ?? 2121}${listenPermissionHint(options.port ?? 2121)}`);
      if (e.code === "EADDRNOTAVAIL" || /^Failed to listen/.test(e.message)) throw new CliError(`cannot listen on ${options.host ?? "0.0.0.0"}: ${e.code === "EADDRNOTAVAIL" ? "not an address of this machine" : "not a valid address"}`);
      if (["UsersFileError", "TlsConfigError", "OpsConfigError", "StateStartError", "JailUnavailableError"].includes(e.name)) throw new CliError(e.message);
      throw err;
    } finally {
      if (!address) held?.release();
    }
    keepServingAfterBugs(server.context.log);
    const shown = address.host.includes(":") ? `[${address.host}]` : address.host;
    // Under --log-format json stdout is for machines: every line there must be a JSON record.
    const json = server.options.logFormat === "json";
    // Before the first line that says we listen: a supervisor may signal as soon as it reads it,
    // and a signal with no handler yet ends the process (exit 130 instead of a clean stop).
    // SIGHUP: banners, users file, certificate and xferlog again; sessions and bans stay.
    process.on("SIGHUP", () => {
      try {
        const welcome = banner(args.welcome, "welcome");
        const goodbye = banner(args.goodbye, "goodbye");
        if (welcome !== undefined) server.options.welcome = welcome;
        if (goodbye !== undefined) server.options.goodbye = goodbye;
      } catch (err) {
        server.context.log.warn("banner not reloaded", { reason: (err as Error).message });
      }
      void server.reload();
    });
    let stopping = false;
    let signals = 0;
    // Only a second *signal* means "stop now" (a second Ctrl-C). The primary's stop request and its
    // disconnect do not count: under systemd (SIGTERM to the whole cgroup) or Ctrl-C (SIGINT to the
    // whole process group) a worker gets the signal itself *and* its primary's request, in either
    // order, and used to take the second for an impatient operator: exit 1, running transfers cut.
    const onSignal = (signal: string) => {
      if (++signals > 1) process.exit(1);
      void stop(signal);
    };
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      if (json) server.context.log.info("stopping", { signal, graceSec: server.options.shutdownGraceSec });
      else consola.info(`${signal}: stopping (running transfers may finish within ${server.options.shutdownGraceSec} s)`);
      await server.close();
      process.exit(0);
    };
    process.on("SIGINT", () => onSignal("SIGINT"));
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    // --port 0: the first stdout line is the URL alone, so a script can read it.
    if (urlFirst) {
      process.stdout.write(`ftp://${urlHost(address.host)}:${address.port}/\n`);
      held!.release();
    }
    const serving = inline ? `root: ${inline.root}; ${inline.summary}` : `users: ${server.options.usersFile}`;
    if (worker !== undefined) server.context.log.info("worker listening", { worker: Number(worker), pid: process.pid, port: address.port });
    else if (json) server.context.log.info("listening", { host: address.host, port: address.port, ...(inline ? { root: inline.root } : { users: server.options.usersFile }) });
    else consola.success(`ftpkit listening on ftp://${shown}:${address.port} (${serving})`);
    // After the listening line, with the port really listened on (--port 0); never as text among JSON records.
    if (args.demo) {
      const { demoBanner } = await import("../demo.ts");
      if (json) server.context.log.info("demo", { user: "demo", password: "demo", anonymous: true });
      else consola.box(demoBanner(urlHost(address.host), address.port));
    }
    // S3 homes and mounts: which store, and one line per cause if it cannot be reached (in the background).
    if (worker === undefined || worker === "0") {
      const places = server.context.auth.places?.() ?? [];
      if (places.some((p) => p.startsWith("s3://"))) {
        const { reportObjectStores } = await import("../../server/vfs/s3-report.ts");
        void reportObjectStores(places, { s3Endpoint: server.options.s3Endpoint, log: server.context.log });
      }
    }
    const fds = server.descriptorLimit;
    if (fds && json) server.context.log.info("descriptor limit", { soft: fds.soft, hard: fds.hard });
    else if (fds) consola.info(`open-file limit: ${fds.soft} (hard limit ${fds.hard}); a session holds up to ${FDS_PER_SESSION} descriptors at once`);
    if (server.ftps) {
      const reuse = server.ftps.sessionReuse;
      const required = server.ftps.options.requireTls === true;
      const certificate = server.ftps.store?.current.fingerprint;
      if (json) {
        // One record; the implicit-TLS port is a field of it, not a second "listening" record a script could take for the control port.
        server.context.log.info("ftps", { port: address.port, implicitPort: server.implicitTlsPort, required, sessionReuse: reuse, certificate });
      } else {
        consola.info(`FTPS: AUTH TLS on port ${address.port}${required ? " (required)" : ""}; data session reuse ${reuse}; certificate ${certificate}`);
        if (server.implicitTlsPort !== undefined) consola.success(`ftpkit listening on ftps://${shown}:${server.implicitTlsPort} (implicit TLS)`);
      }
    }
    const metricsPort = server.ops.metricsPort;
    if (metricsPort !== undefined) {
      const host = server.ops.options.metrics!.host;
      const url = `http://${host.includes(":") ? `[${host}]` : host}:${metricsPort}/metrics`;
      if (json) server.context.log.info("metrics listening", { url });
      else consola.success(`metrics on ${url} (and /healthz, /readyz)`);
    }
    if (worker !== undefined) {
      // The primary prints the listening line; it learns we are up over IPC, and we stop when it is gone.
      process.send?.({ listening: address.port });
      process.on("disconnect", () => void stop("primary gone"));
      process.on("message", (m: { stop?: string }) => {
        if (typeof m?.stop === "string") void stop(m.stop);
      });
    }
  },
});
