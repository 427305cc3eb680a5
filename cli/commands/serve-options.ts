// ftpkit serve's flags: their definitions, and the server options (or inline accounts) they make.
import { NotRegularFile, readRegularFile } from "../../server/read-regular.ts";
import { isIPv4 } from "node:net";
import { resolve } from "node:path";
import { listenHostProblem } from "../listen-host.ts";
import { CliError, UsageError, repeatedFlag, usersArgs, usersFilePath } from "../args.ts";
import { parseRate } from "../../protocol/size.ts";
import { parseCidrList } from "../../protocol/cidr.ts";
import { checkStateUrl } from "../../server/state/url.ts";
import type { CreateServerOptions } from "../../server/index.ts";
import { DEFAULT_OPTIONS } from "../../server/options.ts";
import { opsArgs } from "../ops-args.ts";
import { checkRoot, inlineUsers, parseUserFlag } from "../inline-users.ts";
import { holdsFile } from "../../server/auth/served-files.ts";
import type { InlineUser } from "../../server/auth/memory-store.ts";
import { STATE_ENV } from "./serve-workers.ts";

function positiveInt(value: string | undefined, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `between ${min} and ${max}`;
    throw new UsageError(`--${flag} must be a whole number ${range}, got "${value}"`);
  }
  return Number(value);
}

/** A banner file's cap: a greeting of 64 KiB is already more than any client shows. */
const BANNER_MAX_BYTES = 64 * 1024;

/** A banner given as text, or @FILE to read it from a file (a regular one: see read-regular.ts). */
export function banner(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (!value.startsWith("@")) return value;
  try {
    return readRegularFile(value.slice(1), BANNER_MAX_BYTES).replace(/\s+$/, "");
  } catch (err) {
    const why = err instanceof NotRegularFile ? `: ${err.message}` : "";
    throw new CliError(`--${flag}: cannot read ${value.slice(1)}${why}`);
  }
}

function portRange(value: string | undefined): readonly [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(value);
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2]);
  if (!m || lo < 1024 || hi > 65535 || lo > hi) throw new UsageError(`--pasv-ports must look like 50000-50100 (1024-65535), got "${value}"`);
  return [lo, hi];
}

function rate(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseRate(value);
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
}

export function s3Endpoint(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {}
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw new UsageError(`--s3-endpoint must be an http(s):// URL, got "${value}"`);
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
  "log-format": { type: "string", description: "Log lines: text (default) or json", valueHint: "text|json" },
  "max-rate": { type: "string", description: "Bandwidth limit per session, e.g. 2MB", valueHint: "RATE" },
  "max-user-rate": { type: "string", description: "Bandwidth limit shared by all sessions of a user", valueHint: "RATE" },
  "proxy-protocol": {
    type: "boolean",
    description: "Expect a PROXY protocol v1/v2 header (HAProxy send-proxy-v2) on the control port, and on passive ports from the balancer; needs --proxy-from",
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
  "shutdown-grace": { type: "string", description: "Seconds running transfers may finish on SIGINT/SIGTERM (default 10); queued hooks then get as long again (5 s at least)", valueHint: "SECONDS" },
  "tls-cert": { type: "string", description: "PEM certificate: enables FTPS (AUTH TLS); reloaded when the file changes", valueHint: "FILE" },
  "tls-key": { type: "string", description: "PEM private key for --tls-cert", valueHint: "FILE" },
  "implicit-tls-port": { type: "string", description: "Also accept implicit TLS (ftps://) on this port", valueHint: "N" },
  "require-tls": { type: "boolean", description: "Refuse logins and data transfers that are not encrypted" },
  "s3-endpoint": { type: "string", description: "S3 endpoint for s3:// homes and mounts (default: S3_ENDPOINT, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, the first set)", valueHint: "URL" },
  "s3-stale-uploads": { type: "string", description: "Abort multipart uploads under S3 places begun, and last given a part, this many hours ago (default 24)", valueHint: "HOURS" },
  "tls-session-reuse": { type: "string", description: "PROT P data connections: required or preferred (default) TLS session reuse", valueHint: "required|preferred" },
  "tls-upload-eof": {
    type: "string",
    description: "PROT P uploads: strict (default) completes one only when the client ends it with TLS close_notify; lenient also on a bare TCP FIN, as ProFTPD does (for clients that never send close_notify)",
    valueHint: "strict|lenient",
  },
  ...opsArgs,
} as const;

/** Turn parsed flags into server options (shared with FTPS flags added by serve-tls). */
export function serverOptionsFrom(args: Record<string, unknown>): CreateServerOptions {
  const s = (k: string) => args[k] as string | undefined;
  const logFormat = s("log-format");
  if (logFormat !== undefined && logFormat !== "text" && logFormat !== "json") throw new UsageError(`--log-format must be text or json, got "${logFormat}"`);
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
    s3StaleUploadMs: hours(positiveInt(s("s3-stale-uploads"), "s3-stale-uploads", 1, 8760)),
    proxyFrom: proxyFrom(args),
    state: stateUrl(s("state") ?? stateFromEnv()),
    stateTtlMs: seconds(positiveInt(s("state-ttl"), "state-ttl", 1, 3600)),
  };
  for (const k of Object.keys(opts) as (keyof CreateServerOptions)[]) if (opts[k] === undefined) delete opts[k];
  // As --proxy-from without --proxy-protocol: a setting that would do nothing is a mistake to say, not to accept.
  if (opts.stateTtlMs !== undefined && opts.state === undefined) throw new UsageError("--state-ttl needs --state redis://… (or $FTPKIT_STATE): without a shared store there is no node to expire");
  const tls = tlsOptionsFrom(args);
  // One port cannot take both: said here, not as "port already in use" once the first listens.
  if (tls?.implicitPort && tls.implicitPort === (opts.port ?? DEFAULT_OPTIONS.port)) throw new UsageError(`--implicit-tls-port must differ from the control port (${tls.implicitPort}): implicit TLS needs a port of its own (990 by custom)`);
  if (tls) opts.tls = tls;
  return opts;
}

/** --host (or --metrics' host) checked before listening (listen-host.ts): a usage error, exit 2, when it cannot be an address to listen on. */
export async function checkListenHost(host: string | undefined, flag = "--host"): Promise<void> {
  const problem = host === undefined ? null : await listenHostProblem(host, flag);
  if (problem) throw new UsageError(problem);
}

const seconds = (n: number | undefined) => (n === undefined ? undefined : n * 1000);
const hours = (n: number | undefined) => (n === undefined ? undefined : n * 3_600_000);

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
    throw new UsageError((err as Error).message);
  }
}

/** --proxy-protocol and --proxy-from go together; the list is checked here for a clear error. */
function proxyFrom(args: Record<string, unknown>): string | undefined {
  const from = args["proxy-from"] as string | undefined;
  if (!args["proxy-protocol"]) {
    if (from !== undefined) throw new UsageError("--proxy-from needs --proxy-protocol");
    return undefined;
  }
  if (from === undefined) throw new UsageError("--proxy-protocol needs --proxy-from CIDR[,CIDR…] (the load balancer's addresses)");
  let blocks;
  try {
    blocks = parseCidrList(from);
  } catch (err) {
    throw new UsageError(`--proxy-from: ${(err as Error).message}`);
  }
  if (blocks.length === 0) throw new UsageError("--proxy-from needs at least one address or CIDR block");
  return from;
}

/** FTPS flags: --tls-cert and --tls-key go together; the others need them. */
function tlsOptionsFrom(args: Record<string, unknown>): CreateServerOptions["tls"] {
  const s = (k: string) => args[k] as string | undefined;
  const certFile = s("tls-cert");
  const keyFile = s("tls-key");
  const reuse = s("tls-session-reuse");
  if (reuse !== undefined && reuse !== "required" && reuse !== "preferred") throw new UsageError(`--tls-session-reuse must be required or preferred, got "${reuse}"`);
  const uploadEof = s("tls-upload-eof");
  if (uploadEof !== undefined && uploadEof !== "strict" && uploadEof !== "lenient") throw new UsageError(`--tls-upload-eof must be strict or lenient, got "${uploadEof}"`);
  if (!certFile !== !keyFile) throw new UsageError("--tls-cert and --tls-key go together");
  if (!certFile || !keyFile) {
    const needs = ["implicit-tls-port", "require-tls", "tls-session-reuse", "tls-upload-eof"].find((k) => args[k] !== undefined && args[k] !== false);
    if (needs) throw new UsageError(`--${needs} needs --tls-cert and --tls-key`);
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

/** --root with --user/--anonymous/--write: accounts in memory instead of a users file. */
export function inlineAccounts(args: Record<string, unknown>, rawArgs: string[]): { root: string; users: InlineUser[]; summary: string } | undefined {
  const userFlags = repeatedFlag(rawArgs, "user");
  const root = args.root as string | undefined;
  if (root === undefined) {
    const stray = userFlags.length ? "user" : args.anonymous ? "anonymous" : args.write ? "write" : undefined;
    if (stray) throw new UsageError(`--${stray} needs --root DIR (the directory to serve)`);
    return undefined;
  }
  if (args.users !== undefined) throw new UsageError("--root and --users cannot be combined: --root serves one directory to the --user accounts, --users reads accounts from a users file");
  if (args.demo) throw new UsageError("--root and --demo cannot be combined");
  if (root === "") throw new UsageError("--root needs a directory");
  if (!userFlags.length && !args.anonymous) throw new UsageError("--root needs at least one --user NAME:PASSWORD, or --anonymous");
  const dir = checkRoot(root);
  refuseServingOwnFiles(root, dir, args);
  const users = inlineUsers(dir, userFlags.map(parseUserFlag), { anonymous: args.anonymous === true, write: args.write === true });
  const names = users.map((u) => (u.name === "anonymous" ? "anonymous (read-only)" : u.name));
  return { root: dir, users, summary: `${names.join(", ")}${args.write ? "; uploads allowed" : "; read-only"}` };
}

/**
 * Every account of --root may download what the root holds: a --tls-key there gave them the
 * server's private key, an --xferlog everyone's transfers (and, with --write, its deletion).
 */
function refuseServingOwnFiles(root: string, dir: string, args: Record<string, unknown>): void {
  const own: Array<[string, string]> = [
    ["tls-key", "download the server's private key"],
    ["xferlog", "read the log of every account's transfers"],
  ];
  for (const [flag, risk] of own) {
    const file = args[flag];
    if (typeof file !== "string" || file === "" || !holdsFile(dir, resolve(file))) continue;
    throw new CliError(`--root ${root} holds the --${flag} file ${file}: every account could ${risk}; keep it outside the served directory`);
  }
}

/** --pasv-address: PASV replies carry an IPv4 address, so only one will do (checked now, not at the first PASV). */
function pasvAddress(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!isIPv4(text)) throw new UsageError(`--pasv-address must be an IPv4 address (PASV replies carry one), got "${text}"`);
  return text;
}

