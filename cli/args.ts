// The flags commands share (declared once, spread into each command's `args`) and their validation
// into typed options; a bad value is a UsageError (exit 2). The checks of the raw words citty's
// parser misreads or ignores (unknown flags, switches given values, negative numbers) are in args-check.ts.
import type { ArgsDef } from "citty";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pemCertificates } from "./api-ca.ts";
import { parseRate } from "../protocol/size.ts";
import { ParseError } from "../protocol/errors.ts";
import { withoutPassword } from "../protocol/url.ts";
import { printableName } from "../protocol/printable.ts";
import { mangledArgument } from "./raw-args.ts";
import { isDigestAlgorithm, type DigestAlgorithm } from "../client/remote-hash.ts";
import { stderrTrace } from "../client/trace.ts";

/** `--users FILE`, shared by `serve` and every `user` subcommand. */
export const usersArgs = {
  users: {
    type: "string",
    description: "Users file (default: $FTPKIT_USERS or ./users.ini)",
    valueHint: "FILE",
  },
} as const satisfies ArgsDef;

/** The users file a command works on: --users, else $FTPKIT_USERS, else ./users.ini. */
export function usersFilePath(flag: string | undefined): string {
  // resolve("") is the working directory: "users file …: is a directory" (exit 1) for a mistyped flag.
  if (flag === "") throw new UsageError("--users needs a file name");
  return resolve(flag ?? process.env.FTPKIT_USERS ?? "users.ini");
}

/** An expected failure: one clear line on stderr, exit code 1, no stack trace. */
export class CliError extends Error {
  override name = "CliError";
}

/**
 * Bad usage (an unknown flag, a missing or bad argument or value, flags that exclude each other):
 * exit 2 from every command, as the client's always was; a CliError is a real failure (exit 1 from
 * serve, user, cert and test).
 */
export class UsageError extends CliError {
  override name = "UsageError";
}

/**
 * A URL where a local path belongs (`get URL URL`, `put URL URL`) is refused before it becomes a
 * file name: an error quoting that name showed the URL's password. So is an empty path. `role` names the argument
 * (LOCAL, SRC, DST); `what` says what the command expects there.
 */
export function refuseUrlAsLocal(local: string | undefined, role: string, what: string): void {
  // An empty one (`put "$UNSET" URL`) resolved to the working directory, as if "." had been given.
  if (local === "") throw new UsageError(`${role} is empty: ${what}`);
  // Bytes that are not UTF-8 (a Latin-1 name) reach the program as U+FFFD: the path then names
  // another file. `get URL $'x\xe9.txt'` wrote "x\uFFFD.txt" and said it was done. A real U+FFFD
  // (a name an older tool wrote so) is a name like any other (raw-args.ts tells them apart).
  if (local !== undefined && mangledArgument(local)) throw new UsageError(`${role} holds bytes that are not valid UTF-8 (${printableName(local)}): arguments are read as UTF-8, so it would name another file; rename it, or name its directory`);
  if (local === undefined || !/^[a-z][a-z0-9+.-]*:\/\//i.test(local)) return;
  throw new UsageError(`${role} is a URL (${withoutPassword(local)}): ${what}; ftpkit copies between a server and this machine`);
}

/** -v: the FTP conversation on stderr, as curl -v and lftp's debug show it (client/trace.ts). */
export const verboseArgs = {
  verbose: {
    type: "boolean",
    alias: "v",
    description: "Show the FTP conversation on standard error: each command (the password masked) and reply, tagged with its connection ([1], [2]…), and each data connection",
  },
} as const satisfies ArgsDef;

/** --verbose as an option: the writer of the trace, or none. -q says print nothing but errors: both contradict. */
export function traceOption(args: { verbose?: boolean; quiet?: boolean }): { trace?: (line: string) => void } {
  if (args.verbose !== true) return {};
  if (args.quiet === true) throw new UsageError("--quiet and --verbose contradict: --quiet prints nothing but errors, --verbose adds the FTP conversation");
  return { trace: stderrTrace };
}

/** FTPS flags shared by every client command (`get`, `put`, `resume`, `ls`). */
export const tlsArgs = {
  tls: {
    type: "boolean",
    description: "Explicit FTPS: AUTH TLS before logging in, encrypted data (PROT P); fails rather than fall back to clear text. ftps:// URLs use implicit TLS (port 990) without it",
  },
  ca: {
    type: "string",
    description: "Also trust this PEM certificate or CA (besides the system CAs), e.g. a server's self-signed certificate",
    valueHint: "FILE",
  },
  insecure: { type: "boolean", description: "Accept any TLS certificate, unverified (self-signed, wrong name): encryption without authentication" },
} as const satisfies ArgsDef;

/** TLS flags (as citty parsed them) → options; --ca is read here so a bad file is a one-line error. */
export function tlsOptions(args: { tls?: boolean; ca?: string; insecure?: boolean }): { tls: boolean; ca?: string[]; insecure: boolean } {
  const out: { tls: boolean; ca?: string[]; insecure: boolean } = { tls: args.tls === true, insecure: args.insecure === true };
  if (args.ca !== undefined) {
    if (args.ca === "") throw new UsageError("--ca needs a file name");
    let text: string;
    try {
      text = readFileSync(resolve(args.ca), "utf8");
    } catch (err) {
      const code = (err as { code?: string }).code;
      // A bad value, as any flag's: exit 2 from every command (`test` said 1).
      throw new UsageError(`--ca ${args.ca}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "a directory, not a PEM file" : (err as Error).message}`);
    }
    const found = pemCertificates(text);
    if ("why" in found) throw new UsageError(`--ca ${args.ca}: ${found.why}`);
    out.ca = found.pems;
  }
  return out;
}

/** --retries and --stall-timeout: how every client command that talks to a server (`ls` too) rides out a drop or a stall. */
export const retryArgs = {
  retries: { type: "string", default: "3", description: "Reconnect and continue this many times after a dropped connection", valueHint: "N" },
  "stall-timeout": { type: "string", default: "60", description: "Give up on a server silent this many seconds: a data connection that moves no byte (then reconnect and continue), and the wait for any reply (the greeting, login, RETR/STOR/MLSD/LIST, HASH…; a refused password's late reply excepted); a reply or a listing still coming after ten times this is given up too; a server hashing a huge file on demand may need more; 0: never", valueHint: "SECONDS" },
} as const satisfies ArgsDef;

/** Flags shared by the client commands `get`, `put` and `resume`. */
export const clientArgs = {
  verify: {
    type: "boolean",
    default: true,
    description: "Verify the transfer with the server's digest (--no-verify: compare sizes only)",
    negativeDescription: "Skip the digest request",
  },
  "block-mode": {
    type: "boolean",
    default: true,
    description: "Tree jobs (-r, sync, their resume): one data connection per connection for all its files (MODE B) where the server offers it",
    negativeDescription: "One data connection per file (MODE S) even where the server offers MODE B",
  },
  hash: {
    type: "string",
    // No citty default: a --hash given means "compute the digest", even where the server has none.
    description:
      "Digest algorithm: sha256 (default), md5, or crc32 (catches corruption at ~10x the speed, not tampering). Against a server with no digest command the file is checked by size and no digest is computed, unless --hash is given",
    valueHint: "sha256|md5|crc32",
  },
  "limit-rate": { type: "string", description: "Limit the job's transfer rate, all its connections together (500K = 500 KiB/s, 2MB = 2,000,000 B/s)", valueHint: "RATE" },
  quiet: { type: "boolean", alias: "q", description: "Print nothing but errors" },
  active: { type: "boolean", description: "Active mode: the server connects to us (EPRT/PORT); under TLS we stay the TLS client" },
  fsync: { type: "boolean", description: "Flush each downloaded file and each resume record (an upload's: the record) to disk before it counts as done, so it also survives a power loss (curl and lftp never do; costs the disk's write time)" },
  ...retryArgs,
  ...tlsArgs,
  ...verboseArgs,
} as const satisfies ArgsDef;

/** Flags of tree jobs (`get -r`, `put -r`, globs, `sync`). */
export const treeArgs = {
  parallel: { type: "string", default: "4", description: "Connections for a tree job (fewer when the server answers 421)", valueHint: "N" },
  exclude: { type: "string", description: "Skip what matches GLOB: a name at any depth, or a path from the root when it has a / (** for any directories: **/*.log; a trailing / matches directories only); repeatable", valueHint: "GLOB" },
  json: { type: "boolean", description: "Print a JSON report (each file: action, bytes, digest, result) on stdout" },
  "dry-run": { type: "boolean", alias: "n", description: "Tree jobs: print what would be copied (and deleted); change nothing" },
} as const satisfies ArgsDef;

export const DRY_RUN_TREES_ONLY = "--dry-run plans tree jobs (-r, a glob, sync); a single file has nothing to plan";

/** Every value of a repeatable string flag (citty keeps only the last). */
export function repeatedFlag(rawArgs: readonly string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const tok = rawArgs[i]!;
    if (tok === "--") break;
    if (tok === `--${flag}`) {
      const v = rawArgs[i + 1];
      if (v === undefined) throw new UsageError(`--${flag} needs a value`);
      out.push(v);
      i++;
    } else if (tok.startsWith(`--${flag}=`)) out.push(tok.slice(flag.length + 3));
  }
  return out;
}

/**
 * --parallel and every --exclude, validated. The excludes come from the raw arguments: citty kept
 * only the last, and `sync --delete --exclude '*.log' --exclude cache` deleted the *.log files.
 */
export function treeSpec(args: { parallel?: string }, rawArgs: readonly string[]): { parallel: number; exclude: string[] } {
  const parallel = wholeNumber(args.parallel ?? "4", "parallel", 1, 64);
  const exclude = repeatedFlag(rawArgs, "exclude");
  // An empty pattern (an unset shell variable) excludes nothing: with --delete that is no small slip.
  if (exclude.includes("")) throw new UsageError("--exclude needs a GLOB; it was given an empty one");
  // Nor does one with a ".", ".." or empty segment: the paths it is matched against have none
  // (`--exclude ./cache` matched nothing, and sync --delete removed the cache it was meant to keep).
  for (const p of exclude) {
    const segs = p.replace(/^\/+|\/+$/g, "").split("/");
    if (!segs.some((seg) => seg === "" || seg === "." || seg === "..")) continue;
    const hint = p.startsWith("./") && p.length > 2 ? `: write ${p.slice(1)}` : "";
    throw new UsageError(`--exclude ${JSON.stringify(p)} would exclude nothing: paths are matched from the tree's root, and have no ".", ".." or empty segment${hint}`);
  }
  return { parallel, exclude };
}

/**
 * citty gives a string flag without its value ("--retries" last, "--retries=") as "": that is a
 * missing value, never 0 or the default.
 */
function given(value: string, flag: string, what: string): string {
  if (value === "") throw new UsageError(`--${flag} needs a value: ${what}`);
  return value;
}

/** A whole-number flag: plain decimal digits only (Number() also took "0x10", " 2" and "1e1"). */
export function wholeNumber(value: string, flag: string, min: number, max: number): number {
  const range = `a whole number from ${min} to ${max}`;
  const n = /^\d+$/.test(given(value, flag, range)) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${flag} must be ${range}`);
  return n;
}

/** --stall-timeout: seconds in plain decimal (a fraction allowed); 0 turns the watch off. */
/** The longest stall timeout: a day (timers past ~24.8 days overflow and fire at once; 0 is "never"). */
const MAX_STALL_SECONDS = 86_400;

function stallSeconds(value: string): number {
  const what = `a number of seconds up to ${MAX_STALL_SECONDS} (0: never)`;
  if (!/^\d+(\.\d+)?$/.test(given(value, "stall-timeout", what)) || Number(value) > MAX_STALL_SECONDS) throw new UsageError(`--stall-timeout must be ${what}`);
  return Number(value);
}

/** --retries and --stall-timeout (as citty parsed them), validated. */
export function retryOptions(args: { retries?: string; "stall-timeout"?: string }): { retries: number; stallMs: number } {
  const retries = wholeNumber(args.retries ?? "3", "retries", 0, 100);
  return { retries, stallMs: Math.round(stallSeconds(args["stall-timeout"] ?? "60") * 1000) };
}

/** Client flags (as citty parsed them) → validated transfer options. */
export function clientOptions(args: {
  verify?: boolean;
  "block-mode"?: boolean;
  hash?: string;
  "limit-rate"?: string;
  retries?: string;
  quiet?: boolean;
  active?: boolean;
  restart?: boolean;
  "stall-timeout"?: string;
  fsync?: boolean;
  tls?: boolean;
  ca?: string;
  insecure?: boolean;
  verbose?: boolean;
}): {
  verify: boolean;
  hash: DigestAlgorithm;
  alwaysDigest: boolean;
  rate: number;
  rateGiven: boolean;
  retries: number;
  quiet: boolean;
  active: boolean;
  blockMode: boolean;
  restart: boolean;
  stallMs: number;
  fsync: boolean;
  tls: boolean;
  ca?: string[];
  insecure: boolean;
  trace?: (line: string) => void;
} {
  const hash = (args.hash ?? "sha256").toLowerCase().replace("-", "");
  if (!isDigestAlgorithm(hash)) throw new UsageError(`--hash must be sha256, md5 or crc32, not "${args.hash}"`);
  // --no-verify asks for no digest: a --hash with it would be dropped without a word.
  if (args.verify === false && args.hash !== undefined) throw new UsageError("--no-verify and --hash contradict: --hash chooses the digest that verifies the transfer, --no-verify skips it (compares sizes only)");
  const { retries, stallMs } = retryOptions(args);
  const limitRate = args["limit-rate"];
  let rate = 0;
  try {
    if (limitRate !== undefined) rate = parseRate(given(limitRate, "limit-rate", "a rate such as 500K or 2MB (0: no limit)"));
  } catch (err) {
    // The line names the flag, as serve's --max-rate does: a job takes several values.
    if (err instanceof ParseError) throw new UsageError(`--limit-rate: ${err.message}`);
    throw err;
  }
  return {
    verify: args.verify !== false,
    hash,
    alwaysDigest: args.hash !== undefined,
    rate,
    rateGiven: args["limit-rate"] !== undefined,
    retries,
    quiet: args.quiet === true,
    active: args.active === true,
    blockMode: args["block-mode"] !== false,
    restart: args.restart === true,
    stallMs,
    fsync: args.fsync === true,
    ...tlsOptions(args),
    ...traceOption(args),
  };
}
